import type { FastifyInstance } from 'fastify';
import { loadConfig, type EngineConfig } from '../config/load.ts';
import type { Store } from '../store/types.ts';
import type { EngineContext } from '../request/context.ts';
import { openStore } from '../store/open.ts';
import { FlowReloader, type ReloadResult } from '../flow/reload.ts';
import { ReloadQueue, watchFiles, type ReloadRequest } from '../flow/watch.ts';
import { formatProblem } from '../schema/problem.ts';
import { createDriver, describeChannels, type ChannelDriver } from '../../channels/index.ts';
import { Metrics } from '../common/metrics.ts';
import { RateLimiter } from '../trust/rate-limit.ts';
import { Worker } from '../execution/worker.ts';
import { liveServices } from '../execution/services.ts';
import { statusCallbackUrl } from '../messages/status-callback.ts';
import { newId } from '../common/ids.ts';
import { FlowTable } from './flow-table.ts';
import { buildApp } from './app.ts';
import { contactFinder } from '../contacts/identify.ts';
import { EventHub } from '../events/service.ts';

export interface EngineOptions {
  port?: number;
  host?: string;
  /** Fastify/pino logger options, or false for silence (tests) */
  logger?: boolean | object;
  /** where flows' ${env:} references are read; default process.env */
  env?: NodeJS.ProcessEnv;
  /** watch the flows directory and the config file; default the config's flows.watch */
  watch?: boolean;
  /** quiet time after a change before reloading (default 50 ms) */
  debounceMs?: number;
  /** called after every applied reload of the flows (benchmarks, tests) */
  onReload?(result: ReloadResult): void;
}

export interface Engine {
  app: FastifyInstance;
  url: string;
  store: Store;
  flows: FlowTable;
  /** whether file changes are picked up on their own */
  watching: boolean;
  /** what SIGHUP does: reads the config again and recompiles every flow; resolves once applied */
  reload(): Promise<void>;
  /** stops accepting requests, lets in-flight requests and running steps finish, closes storage */
  close(): Promise<void>;
}

const SWEEP_EVERY_MS = 60 * 60_000;
const MAX_WAIT_MS = 1_000;
/** a replaced channel driver may still be sending: close it once any send has surely ended */
const RETIRE_AFTER_MS = 120_000;
/** config sections a running engine applies live; a change anywhere else is logged and waits for a restart */
const LIVE_SECTIONS = new Set(['channels', 'subscriptions', 'secrets', 'file', 'dir']);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Starts an engine: storage, channels, flows (and their watcher), the async worker and the HTTP server, in that order. */
export async function startEngine(config: EngineConfig, options: EngineOptions = {}): Promise<Engine> {
  let ready = false;
  // the logger comes with the HTTP app, after the store (whose background work starts with its first write)
  let reportStoreError = (message: string) => console.error(`storage: ${message}`);
  const store = await openStore(config.storage.url, { background: { onError: (message) => reportStoreError(message) } });
  const flows = new FlowTable();
  const metrics = new Metrics();
  const channels = new Map<string, ChannelDriver>();
  const retired = new Set<ChannelDriver>();
  let worker: Worker | undefined;
  const events = new EventHub({ config, store, newId });

  const ctx: EngineContext = {
    config,
    store,
    metrics,
    limiter: new RateLimiter(),
    services: (flow, executionId) => services(flow, executionId),
    worker: {
      reserve: () => worker?.reserve() ?? false,
      runReserved: (execution) => worker?.runReserved(execution),
      notify: () => worker?.notify(),
      follow: (executionId, run) => worker?.follow(executionId, run),
    },
    events,
    now: () => new Date(),
    newId,
  };
  const app = buildApp({ config, ctx, flows, ready: () => ready, logger: options.logger ?? { level: 'info' } });
  const log = app.log;
  reportStoreError = (message) => log.error(`storage: ${message}`);
  const base = config.server.basePath;

  const makeDriver = (name: string, channel: EngineConfig['channels'][string]) =>
    createDriver(name, channel, { statusCallback: statusCallbackUrl(config), onOutbox: (ch, message) => log.info({ channel: ch, to: message.to }, `outbox: message on ${ch} to ${message.to} not sent (outbox mode)`) });
  for (const [name, channel] of Object.entries(config.channels)) channels.set(name, makeDriver(name, channel));
  for (const line of describeChannels(channels.values())) log.info(`channel ${line}`);
  const services = liveServices(channels, newId, { store, config, now: ctx.now });

  /** Swaps in changed channel drivers, all or none; true when flows must be compiled again (send steps check channels). */
  const swapChannels = (next: EngineConfig['channels']): boolean => {
    const built = new Map<string, ChannelDriver>();
    try {
      for (const [name, channel] of Object.entries(next)) if (!same(config.channels[name], channel)) built.set(name, makeDriver(name, channel));
    } catch (err) {
      for (const driver of built.values()) void driver.close?.();
      log.error(`config not reloaded: ${(err as Error).message}; the running channels stay`);
      return false;
    }
    for (const [name, driver] of [...channels]) {
      if (name in next && !built.has(name)) continue;
      channels.delete(name);
      retired.add(driver);
      setTimeout(() => retired.delete(driver) && void driver.close?.(), RETIRE_AFTER_MS).unref();
      if (!(name in next)) log.info(`channel ${name} removed`);
    }
    for (const [name, driver] of built) channels.set(name, driver);
    for (const line of describeChannels(built.values())) log.info(`channel ${line}`);
    config.channels = next;
    return true;
  };

  /** Applies what can change live (channels, subscriptions); returns whether flows must be compiled again. */
  const reloadConfig = async (): Promise<boolean> => {
    if (!config.file) return false;
    const loaded = await loadConfig(config.file, options.env ?? process.env);
    if (!loaded.ok) {
      for (const p of loaded.problems) log.error(`config not reloaded: ${formatProblem(p)}; the running configuration stays`);
      return false;
    }
    const next = loaded.config;
    const restart = (Object.keys(next) as (keyof EngineConfig)[]).filter((key) => !LIVE_SECTIONS.has(key) && !same(config[key], next[key]));
    if (restart.length > 0) log.warn(`config: ${restart.join(', ')} changed; restart the engine to apply (it keeps running on the old values)`);
    config.secrets = [...new Set([...config.secrets, ...next.secrets])];
    if (!same(config.subscriptions, next.subscriptions)) {
      config.subscriptions = next.subscriptions;
      log.info(`config: subscriptions reloaded (${next.subscriptions.map((s) => s.id).join(', ') || 'none'})`);
    }
    return !same(config.channels, next.channels) && swapChannels(next.channels);
  };

  const reloader = new FlowReloader(config.flows.dir, config, options.env);
  const stats = { applied: 0, failed: 0, lastSeconds: 0, lastAt: 0 };
  const applyFlows = (result: ReloadResult, initial: boolean) => {
    flows.replace(result.flows, result.files);
    Object.assign(stats, { applied: stats.applied + 1, lastSeconds: result.ms / 1000, lastAt: Date.now() / 1000 });
    for (const error of result.errors) {
      const kept = error.kept ? `; revision ${error.kept.revision} of flow "${error.kept.id}" stays live` : '';
      for (const line of error.message.split('\n')) log.error(`flow not loaded: ${line}${kept}`);
    }
    for (const file of result.fixed) log.info(`flow file ${file} loads again`);
    for (const flow of result.added) log.info(`flow ${flow.id} (${flow.mode}) at ${base}${flow.route}`);
    for (const flow of result.changed) log.info(`flow ${flow.id} reloaded: revision ${flow.revision} at ${base}${flow.route}`);
    for (const flow of result.removed) log.info(`flow ${flow.id} removed: ${base}${flow.route} answers 404`);
    const quiet = [result.errors, result.fixed, result.added, result.changed, result.removed].every((list) => list.length === 0);
    if (!initial) {
      const failing = result.files.filter((f) => f.status !== 'ok').length;
      // a reload that changed nothing (a sample, a temp file, a touched file) is not news
      log[quiet ? 'debug' : 'info'](`flows reloaded in ${result.ms.toFixed(1)} ms (${result.compiled} compiled): ${result.flows.length} live, +${result.added.length} ~${result.changed.length} -${result.removed.length}, ${failing} failing`);
    }
    options.onReload?.(result);
  };
  const runReload = async (request: ReloadRequest): Promise<void> => {
    const recompile = request.config ? await reloadConfig() : false;
    if (!request.flows && !recompile) return;
    try {
      applyFlows(await reloader.reload({ full: request.full || recompile }), false);
    } catch (err) {
      stats.failed++;
      log.error(`flows not reloaded: ${config.flows.dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the live flows stay`);
    }
  };
  const queue = new ReloadQueue(runReload, { debounceMs: options.debounceMs ?? 50, maxWaitMs: MAX_WAIT_MS });

  // watch first, then load: a change made while the flows load is not missed
  const watching = options.watch ?? config.flows.watch;
  const watcher = watching
    ? await watchFiles({ flowsDir: config.flows.dir, configFile: config.file }, (request) => void queue.request(request), (err) => log.error({ err }, 'file watcher failed'))
    : undefined;
  try {
    applyFlows(await reloader.reload(), true);
  } catch (err) {
    await watcher?.close();
    await queue.close();
    await store.close();
    throw err;
  }
  log.info(watching ? `watching ${config.flows.dir}${config.file ? ` and ${config.file}` : ''} for changes` : 'not watching for changes (flows.watch: false or --no-watch); SIGHUP reloads');

  metrics.gauge('hooks_queue_depth', 'Async executions waiting or running.', () => store.queueDepth());
  metrics.gauge('hooks_flows_loaded', 'Flows being served.', async () => flows.list().length);
  metrics.gauge('hooks_flow_files', 'Flow files by status: ok, stale (fails; its last good version is served), failed (fails; nothing served).', async () => {
    const counts: Record<string, number> = { 'status="ok"': 0, 'status="stale"': 0, 'status="failed"': 0 };
    for (const file of flows.files()) counts[`status="${file.status}"`]++;
    return counts;
  });
  metrics.gauge('hooks_flow_file_errors', 'Flow files that fail to load (1 each), by file.', async () =>
    Object.fromEntries(flows.files().filter((f) => f.status !== 'ok').map((f) => [`file="${label(f.file)}",status="${f.status}"`, 1])),
  );
  metrics.gauge('hooks_flow_reloads', 'Reloads of the flows directory since start, applied or failed (directory unreadable).', async () => ({ 'result="applied"': stats.applied, 'result="failed"': stats.failed }));
  metrics.gauge('hooks_flow_last_reload_seconds', 'How long the last applied reload took.', async () => stats.lastSeconds);
  metrics.gauge('hooks_flow_last_reload_timestamp_seconds', 'When the last reload was applied (Unix time).', async () => stats.lastAt);
  metrics.gauge('hooks_flow_revisions_kept', 'Compiled flow revisions kept for queued executions.', async () => flows.revisionsKept);

  worker = new Worker(ctx, {
    concurrency: config.queue.concurrency,
    leaseMs: config.queue.leaseMs,
    pollMs: 1_000,
    flowFor: (execution) => flows.byRevision(execution.flowId, execution.revision),
    contactFor: contactFinder(store),
    onError: (err, execution) => log.error({ err, execution }, 'execution could not be recorded'),
  });
  worker.start();
  events.start({ log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (details, m) => log.error(details, m) }, metrics });
  const sweeper = setInterval(() => {
    store.sweep(new Date(Date.now() - config.storage.retentionMs).toISOString()).then(
      (removed: number) => removed > 0 && log.info(`retention: removed ${removed} webhook log entries`),
      (err: unknown) => log.error({ err }, "retention sweep failed"),
    );
  }, SWEEP_EVERY_MS);
  sweeper.unref();

  await app.listen({ port: options.port ?? config.server.port, host: options.host ?? config.server.host });
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = options.host ?? config.server.host;

  return {
    app,
    url: `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
    store,
    flows,
    watching,
    reload: () => queue.request({ flows: true, config: true, full: true }, true),
    async close() {
      ready = false;
      await watcher?.close();
      await queue.close();
      clearInterval(sweeper);
      await app.close();
      await worker!.stop();
      await events.stop();
      await Promise.all([...channels.values(), ...retired].map((c) => c.close?.()));
      await store.close();
    },
  };
}
