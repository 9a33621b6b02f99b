import type { EngineConfig } from '../config/load.ts';
import type { Metrics } from '../common/metrics.ts';
import { FlowReloader, type ReloadResult } from './reload.ts';
import { ReloadQueue, watchFiles, type ReloadRequest } from './watch.ts';
import { FlowTable, type FlowFileStatus } from './live.ts';
import { shownRoute } from './route.ts';

/** reload at the latest this long after the first change, even if changes keep coming */
const MAX_WAIT_MS = 1_000;

/** Where hot reload reports: the engine's log. */
export interface ReloadLog {
  debug(message: string): void;
  info(message: string): void;
  error(message: string): void;
  error(details: object, message: string): void;
}

export interface HotReloadOptions {
  /** where flows' ${env:} references are read; default process.env */
  env?: NodeJS.ProcessEnv;
  /** watch the flows directory and the config file; default the config's flows.watch */
  watch?: boolean;
  /** quiet time after a change before reloading (default 50 ms) */
  debounceMs?: number;
  /** called after every applied reload of the flows (benchmarks, tests) */
  onReload?(result: ReloadResult): void;
}

/** What the running engine gives hot reload once it has a log. */
export interface HotReloadPorts {
  log: ReloadLog;
  /** applies a changed config file; says whether every flow must be compiled again */
  reloadConfig(): Promise<boolean>;
}

/**
 * The engine's flows, kept live: the table the routes ask, the reloader that fills it, the queue that turns change
 * notices into single reloads, and the watcher of the flows directory and the config file. `start` watches first,
 * then loads: a change made while the flows load is not missed.
 */
export class HotReload {
  readonly table = new FlowTable();
  /** reloads since start, for the metrics */
  readonly stats = { applied: 0, failed: 0, lastSeconds: 0, lastAt: 0 };
  /** every value the flows served so far took from ${env:}: kept (never dropped) so that no log line prints one */
  readonly secrets = new Set<string>();
  /** whether file changes are picked up on their own */
  readonly watching: boolean;
  private readonly reloader: FlowReloader;
  private readonly queue: ReloadQueue;
  private readonly basePath: string;
  private ports: HotReloadPorts | undefined;
  private watcher: { close(): Promise<void> } | undefined;

  constructor(
    private readonly config: EngineConfig,
    private readonly options: HotReloadOptions = {},
  ) {
    this.watching = options.watch ?? config.flows.watch;
    this.basePath = config.server.basePath;
    this.reloader = new FlowReloader(config.flows.dir, this.table, config, options.env);
    this.queue = new ReloadQueue((request) => this.run(request), { debounceMs: options.debounceMs ?? 50, maxWaitMs: MAX_WAIT_MS });
  }

  /** Starts watching (when asked) and loads the flows; throws, with the watcher closed, when the flows cannot be read. */
  async start(ports: HotReloadPorts): Promise<void> {
    this.ports = ports;
    const { config } = this;
    const { log } = ports;
    if (this.watching) {
      this.watcher = await watchFiles({ flowsDir: config.flows.dir, configFile: config.file }, (request) => void this.queue.request(request), (err) => log.error({ err }, 'file watcher failed'));
    }
    try {
      this.apply(await this.reloader.reload(), true);
    } catch (err) {
      await this.close();
      throw err;
    }
    log.info(this.watching ? `watching ${config.flows.dir}${config.file ? ` and ${config.file}` : ''} for changes` : 'not watching for changes (flows.watch: false or --no-watch); SIGHUP reloads');
  }

  /** What SIGHUP does: reads the config again and recompiles every flow; resolves once applied. */
  reload(): Promise<void> {
    return this.queue.request({ flows: true, config: true, full: true }, true);
  }

  /** Stops watching and waits for a running reload to end. */
  async close(): Promise<void> {
    await this.watcher?.close();
    await this.queue.close();
  }

  private async run(request: ReloadRequest): Promise<void> {
    const { log, reloadConfig } = this.ports!;
    const recompile = request.config ? await reloadConfig() : false;
    if (!request.flows && !recompile) return;
    try {
      this.apply(await this.reloader.reload({ full: request.full || recompile }), false);
    } catch (err) {
      this.stats.failed++;
      log.error(`flows not reloaded: ${this.config.flows.dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the live flows stay`);
    }
  }

  /** Counts and logs an applied reload (the reloader has already swapped it into the table). */
  private apply(result: ReloadResult, initial: boolean): void {
    const { log } = this.ports!;
    const base = this.basePath;
    Object.assign(this.stats, { applied: this.stats.applied + 1, lastSeconds: result.ms / 1000, lastAt: Date.now() / 1000 });
    for (const flow of result.flows) for (const secret of flow.secrets) this.secrets.add(secret);
    for (const error of result.errors) {
      const kept = error.kept ? `; revision ${error.kept.revision} of flow "${error.kept.id}" stays live` : '';
      for (const line of error.message.split('\n')) log.error(`flow not loaded: ${line}${kept}`);
    }
    for (const file of result.fixed) log.info(`flow file ${file} loads again`);
    for (const flow of result.added) log.info(`flow ${flow.id} (${flow.mode}) at ${shownRoute(base, flow)}`);
    for (const flow of result.changed) log.info(`flow ${flow.id} reloaded: revision ${flow.revision} at ${shownRoute(base, flow)}`);
    for (const flow of result.removed) log.info(`flow ${flow.id} removed: ${shownRoute(base, flow)} answers 404`);
    if (!initial) this.logSummary(result);
    this.options.onReload?.(result);
  }

  /**
   * The line that closes a reload. Files that still fail with the error already reported are named again with their
   * first error, so that each reload's log says what is failing without scrolling back to the reload that broke it.
   */
  private logSummary(result: ReloadResult): void {
    const { log } = this.ports!;
    const failing = result.files.filter((f) => f.status !== 'ok');
    const reported = new Set(result.errors.map((e) => e.file));
    const quiet = failing.length === 0 && [result.fixed, result.added, result.changed, result.removed].every((list) => list.length === 0);
    // a reload that changed nothing and leaves nothing failing (a sample, a temp file, a touched file) is not news
    if (quiet) return log.debug(summaryLine(result, failing));
    for (const file of failing) if (!reported.has(file.file)) log.error(`flow still not loaded: ${firstError(file)}`);
    log.info(summaryLine(result, failing));
  }
}

/** How many failing files the summary line names; every one of them also has a line of its own. */
const NAMED_IN_SUMMARY = 5;

function summaryLine(result: ReloadResult, failing: FlowFileStatus[]): string {
  const names = failing.slice(0, NAMED_IN_SUMMARY).map((f) => f.file);
  if (failing.length > NAMED_IN_SUMMARY) names.push(`${failing.length - NAMED_IN_SUMMARY} more`);
  const which = names.length > 0 ? ` (${names.join(', ')})` : '';
  return `flows reloaded in ${result.ms.toFixed(1)} ms (${result.compiled} compiled): ${result.flows.length} live, +${result.added.length} ~${result.changed.length} -${result.removed.length}, ${failing.length} failing${which}`;
}

/** A failing file's first problem (file:line:col ...), how many more it has, and what it still serves. */
function firstError(file: FlowFileStatus): string {
  const [first, ...more] = (file.lastError ?? `${file.file}: fails`).split('\n');
  const others = more.length > 0 ? ` (and ${more.length} more ${more.length === 1 ? 'problem' : 'problems'})` : '';
  const kept = file.status === 'stale' ? `; revision ${file.revision} of flow "${file.id}" stays live` : '; nothing served from it';
  return `${first}${others}${kept}`;
}

const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The gauges of the live flows and their reloads. */
export function flowGauges(metrics: Metrics, flows: HotReload): void {
  const { table, stats } = flows;
  metrics.gauge('hooks_flows_loaded', 'Flows being served.', async () => table.list().length);
  metrics.gauge('hooks_flow_files', 'Flow files by status: ok, stale (fails; its last good version is served), failed (fails; nothing served).', async () => {
    const counts: Record<string, number> = { 'status="ok"': 0, 'status="stale"': 0, 'status="failed"': 0 };
    for (const file of table.files()) counts[`status="${file.status}"`]++;
    return counts;
  });
  metrics.gauge('hooks_flow_file_errors', 'Flow files that fail to load (1 each), by file.', async () =>
    Object.fromEntries(table.files().filter((f) => f.status !== 'ok').map((f) => [`file="${label(f.file)}",status="${f.status}"`, 1])),
  );
  metrics.gauge('hooks_flow_reloads', 'Reloads of the flows directory since start, applied or failed (directory unreadable).', async () => ({ 'result="applied"': stats.applied, 'result="failed"': stats.failed }));
  metrics.gauge('hooks_flow_last_reload_seconds', 'How long the last applied reload took.', async () => stats.lastSeconds);
  metrics.gauge('hooks_flow_last_reload_timestamp_seconds', 'When the last reload was applied (Unix time).', async () => stats.lastAt);
  metrics.gauge('hooks_flow_revisions_kept', 'Compiled flow revisions kept for queued executions.', async () => table.revisionsKept);
}
