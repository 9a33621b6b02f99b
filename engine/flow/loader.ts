import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from './compiled.ts';
import type { Problem } from '../schema/problem.ts';
import { MAX_FILE_BYTES } from '../schema/document.ts';
import { displayPath } from './directory.ts';
import { loadFlowFile, revisionOf, type FlowPositions } from './load.ts';

/** Files parsed at once: enough to overlap reads with parsing, few enough that a large folder does not thrash the GC. */
const LOAD_CONCURRENCY = 16;
/**
 * A file's stat stamp is trusted to mean "unchanged" only once its mtime is this far behind the scan: timestamps are
 * coarse (a jiffy on Linux, seconds elsewhere), so two same-size writes close together can share a stamp. Until
 * then the file is read and its hash compared, like git's "racily clean" entries.
 */
const SETTLE_MS = 2_000n;

export interface FileOutcome {
  /** the path as given to the loader */
  file: string;
  flow?: CompiledFlow;
  positions?: FlowPositions;
  problems: Problem[];
  /** what loads but likely does not do what was meant (hooks validate prints them); none when the file fails */
  warnings?: Problem[];
  /** the text of a file that fails, when it was read: its flow id can still be read from it */
  text?: string;
}

/** What the loader remembers of a file that loaded, to tell next time whether it changed. */
interface Known {
  revision: string;
  stamp: string;
  settled: boolean;
  outcome: FileOutcome;
}

function stampOf(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

function settled(info: BigIntStats, scannedAt: number): boolean {
  const newest = info.mtimeNs > info.ctimeNs ? info.mtimeNs : info.ctimeNs;
  return newest / 1_000_000n < BigInt(scannedAt) - SETTLE_MS;
}

/** Runs `fn` over `items`, at most `limit` at a time; results in the items' order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The rule that spans files: flow ids and routes are unique. `take` claims both for a flow, or returns the problem
 * to report at the clashing file's id or route when another flow already holds one of them.
 */
export class UniqueFlows {
  private readonly ids = new Map<string, CompiledFlow>();
  private readonly routes = new Map<string, CompiledFlow>();

  take(flow: CompiledFlow, positions: FlowPositions): Problem | undefined {
    const byId = this.ids.get(flow.id);
    const byRoute = this.routes.get(flow.route);
    if (byId) return { ...positions.id, message: `flow id "${flow.id}" is already used by ${byId.file}; flow ids are unique across the flows directory` };
    if (byRoute) return { ...positions.route, message: `route "${flow.route}" is already served by ${byRoute.file} (flow "${byRoute.id}"); give this flow another trigger.path` };
    this.ids.set(flow.id, flow);
    this.routes.set(flow.route, flow);
    return undefined;
  }
}

/**
 * Loads flow files, LOAD_CONCURRENCY at a time: the one loader behind `hooks validate`, `test` and `replay` and the
 * engine's reloads. `loadAll` compiles every file; `loadChanged` compiles only the files whose text changed since
 * its last call and reuses the others' compiled flows.
 */
export class FlowLoader {
  private readonly known = new Map<string, Known>();

  constructor(
    private readonly config: EngineConfig,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  loadAll(paths: string[]): Promise<FileOutcome[]> {
    return mapLimited(paths, LOAD_CONCURRENCY, (path) => this.compile(path));
  }

  /**
   * Loads files listed at `scannedAt`, reusing unchanged ones. A file that vanished since the listing is undefined;
   * `compiled` counts the files parsed and compiled.
   */
  async loadChanged(paths: string[], scannedAt: number): Promise<{ outcomes: (FileOutcome | undefined)[]; compiled: number }> {
    let compiled = 0;
    // stats all at once: one thread-pool hop per file, where reading every file would take four
    const stats = await Promise.all(paths.map((path) => stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : undefined))));
    const outcomes = await mapLimited(paths, LOAD_CONCURRENCY, async (path, i): Promise<FileOutcome | undefined> => {
      const info = stats[i];
      if (info === null) return undefined;
      const stamp = info && info.isFile() && info.size <= MAX_FILE_BYTES ? stampOf(info) : undefined;
      const known = stamp ? this.known.get(path) : undefined;
      if (known && known.stamp === stamp && known.settled) return known.outcome;
      let text: string | undefined;
      if (stamp) text = await readFile(path, 'utf8').catch(() => undefined);
      if (known && text !== undefined && known.revision === revisionOf(text)) {
        Object.assign(known, { stamp, settled: settled(info!, scannedAt) });
        return known.outcome;
      }
      compiled++;
      const outcome = await this.compile(path, text);
      // the stamp was taken before the loader read the file: if the file changed since, the stamp differs next
      // time and the text is compared with this revision again
      if (stamp && outcome.flow) this.known.set(path, { revision: outcome.flow.revision, stamp, settled: settled(info!, scannedAt), outcome });
      else this.known.delete(path);
      return outcome;
    });
    return { outcomes, compiled };
  }

  /** Forgets the files that are gone. */
  keepOnly(paths: Set<string>): void {
    for (const path of this.known.keys()) if (!paths.has(path)) this.known.delete(path);
  }

  /** Forgets every file: the next `loadChanged` compiles them all (the config or the environment changed). */
  forget(): void {
    this.known.clear();
  }

  private async compile(path: string, text?: string): Promise<FileOutcome> {
    const result = await loadFlowFile(path, displayPath(path), this.config, this.env);
    return result.ok ? { file: path, flow: result.flow, positions: result.positions, problems: [], warnings: result.warnings } : { file: path, text, problems: result.problems };
  }
}

/** Loads many files; when two claim one id or route, the first in path order keeps it and the other fails. */
export async function loadFlowFiles(files: string[], config: EngineConfig, env: NodeJS.ProcessEnv = process.env): Promise<FileOutcome[]> {
  const outcomes = await new FlowLoader(config, env).loadAll(files);
  const unique = new UniqueFlows();
  for (const outcome of outcomes) {
    if (!outcome.flow) continue;
    const clash = unique.take(outcome.flow, outcome.positions!);
    if (clash) {
      outcome.problems.push(clash);
      outcome.flow = undefined;
    }
  }
  return outcomes;
}
