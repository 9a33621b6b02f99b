import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from './compiled.ts';
import { formatProblem, type Problem } from '../schema/problem.ts';
import { MAX_FILE_BYTES } from '../schema/document.ts';
import { displayPath, listFlowFiles, UniqueFlows } from './directory.ts';
import { loadFlowFile, type FlowPositions } from './load.ts';

/** What became of one flow file in the last reload. `stale`: the file fails, its last good version is still served. */
export interface FlowFileStatus {
  file: string;
  id: string | null;
  route: string | null;
  /** the revision served from this file, if any */
  revision: string | null;
  /** when the served revision went live */
  loadedAt: string | null;
  status: 'ok' | 'stale' | 'failed';
  /** the file's current problems, one per line; null when it loads */
  lastError: string | null;
  /** the version served from this file (not part of the API answer) */
  flow?: CompiledFlow;
}

export interface FlowError {
  file: string;
  message: string;
  /** the last good version still served, if any */
  kept: CompiledFlow | undefined;
}

export interface ReloadResult {
  flows: CompiledFlow[];
  files: FlowFileStatus[];
  added: CompiledFlow[];
  changed: CompiledFlow[];
  removed: CompiledFlow[];
  /** errors that are new or different since the previous reload (unchanged ones are not repeated) */
  errors: FlowError[];
  /** files that failed in the previous reload and load now */
  fixed: string[];
  /** how many files were parsed and compiled (the rest were unchanged and reused) */
  compiled: number;
  ms: number;
}

interface Served {
  flow: CompiledFlow;
  loadedAt: string;
}

interface Loaded {
  path: string;
  /** the path as shown in messages */
  file: string;
  /** the text of a file that fails: its flow id is read from it */
  text?: string;
  flow?: CompiledFlow;
  positions?: FlowPositions;
  problems: Problem[];
}

const LOAD_CONCURRENCY = 16;
/**
 * A file's stat stamp is trusted to mean "unchanged" only once its mtime is this far behind the scan: timestamps are
 * coarse (a jiffy on Linux, seconds elsewhere), so two same-size writes close together can share a stamp. Until
 * then the file is read and its hash compared, like git's "racily clean" entries.
 */
const SETTLE_MS = 2_000n;

function stampOf(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

function settled(info: BigIntStats, scannedAt: number): boolean {
  const newest = info.mtimeNs > info.ctimeNs ? info.mtimeNs : info.ctimeNs;
  return newest / 1_000_000n < BigInt(scannedAt) - SETTLE_MS;
}

function revisionOf(text: string): string {
  // the same hash load.ts gives a flow's revision: equal hashes mean the compiled flow can be reused
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** A flow id read straight from the text: lets a broken file that was renamed keep its flow's last good version. */
function guessId(text: string | undefined): string | undefined {
  return text ? /^id:\s*["']?([^\s"'#]+)/m.exec(text)?.[1] : undefined;
}

/**
 * Loads a flows directory again and again. Each reload lists every file and compiles only those whose text changed;
 * a file that fails keeps its last good version live (by path, or by flow id when the file was renamed), and the
 * live owner of a flow id or route keeps it when another file claims it. Reloads run one at a time.
 */
export class FlowReloader {
  private readonly cache = new Map<string, { revision: string; stamp: string; settled: boolean; loaded: Loaded }>();
  private live = new Map<string, Served>();
  private errors = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly config: EngineConfig,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Lists and loads the directory; `full` recompiles every file (the config or the environment changed). Throws when the directory cannot be listed. */
  reload(options: { full?: boolean } = {}): Promise<ReloadResult> {
    const next = this.queue.then(() => this.run(options.full ?? false));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run(full: boolean): Promise<ReloadResult> {
    const started = performance.now();
    if (full) this.cache.clear();
    let compiled = 0;
    let present: Loaded[] = [];
    // a file that vanished between the listing and its read was most likely renamed: list again once, so that a
    // rename is never seen as a removal
    for (let attempt = 0; attempt < 2; attempt++) {
      const scannedAt = Date.now();
      const paths = await listFlowFiles(this.dir);
      // stats all at once: one thread-pool hop per file, where reading every file would take four
      const stats = await Promise.all(paths.map((path) => stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : undefined))));
      const loads = await mapLimited(paths, LOAD_CONCURRENCY, async (path, i): Promise<Loaded | undefined> => {
        const info = stats[i];
        if (info === null) return undefined;
        const stamp = info && info.isFile() && info.size <= MAX_FILE_BYTES ? stampOf(info) : undefined;
        const cached = stamp ? this.cache.get(path) : undefined;
        if (cached && cached.stamp === stamp && cached.settled) return cached.loaded;
        let text: string | undefined;
        if (stamp) text = await readFile(path, 'utf8').catch(() => undefined);
        if (cached && text !== undefined && cached.revision === revisionOf(text)) {
          Object.assign(cached, { stamp, settled: settled(info!, scannedAt) });
          return cached.loaded;
        }
        compiled++;
        const result = await loadFlowFile(path, displayPath(path), this.config, this.env);
        if (!result.ok) {
          this.cache.delete(path);
          return { path, file: displayPath(path), text, problems: result.problems };
        }
        const loaded: Loaded = { path, file: result.flow.file, flow: result.flow, positions: result.positions, problems: [] };
        // the stamp was taken before the loader read the file: if the file changed since, the stamp differs next
        // time and the text is compared with this revision again
        if (stamp) this.cache.set(path, { revision: result.flow.revision, stamp, settled: settled(info!, scannedAt), loaded });
        else this.cache.delete(path);
        return loaded;
      });
      present = loads.filter((l): l is Loaded => l !== undefined);
      if (present.length === loads.length) break;
    }
    const presentPaths = new Set(present.map((l) => l.path));
    for (const path of this.cache.keys()) if (!presentPaths.has(path)) this.cache.delete(path);

    const { served, clashes } = this.decide(present, presentPaths);
    const result = this.report(present, served, clashes);
    this.live = served;
    return { ...result, compiled, ms: performance.now() - started };
  }

  /** Which version each file serves: new good versions, else the last good one, with ids and routes unique. */
  private decide(present: Loaded[], presentPaths: Set<string>): { served: Map<string, Served>; clashes: Map<string, Problem> } {
    const now = new Date().toISOString();
    const previous = this.live;
    const ownerOfId = new Map<string, string>();
    const ownerOfRoute = new Map<string, string>();
    for (const [path, { flow }] of previous) {
      ownerOfId.set(flow.id, path);
      ownerOfRoute.set(flow.route, path);
    }
    const served = new Map<string, Served>();
    const clashes = new Map<string, Problem>();
    const unique = new UniqueFlows();
    // the clash problem points at the file's id or route; a last good version being kept needs no message
    const nowhere = { file: '', line: 1, col: 1, path: '', message: '' };
    const take = (path: string, entry: Served, positions: FlowPositions = { id: nowhere, route: nowhere }): Problem | undefined => {
      const clash = unique.take(entry.flow, positions);
      if (!clash) served.set(path, entry);
      return clash;
    };

    // 1. files that fail keep serving their last good version: they are live owners, so they go first
    const inherited = new Set<string>();
    for (const loaded of present) {
      if (loaded.flow) continue;
      let fallback = previous.get(loaded.path);
      if (!fallback) {
        // renamed and broken in one change: take over the version of the vanished file that had this id
        const owner = ownerOfId.get(guessId(loaded.text) ?? '');
        if (owner && !presentPaths.has(owner) && !inherited.has(owner)) {
          fallback = previous.get(owner);
          inherited.add(owner);
        }
      }
      if (fallback) take(loaded.path, fallback);
    }
    // 2. good files, the current owner of an id or route first, then in path order
    const rank = (l: Loaded) => (ownerOfId.get(l.flow!.id) === l.path || ownerOfRoute.get(l.flow!.route) === l.path ? 0 : 1);
    const fresh = present.filter((l) => l.flow).sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const loaded of fresh) {
      const flow = loaded.flow!;
      const before = previous.get(loaded.path);
      const clash = take(loaded.path, { flow, loadedAt: before && before.flow.revision === flow.revision ? before.loadedAt : now }, loaded.positions!);
      if (clash) clashes.set(loaded.path, clash);
    }
    // 3. a file that lost a clash keeps its last good version when that is still free
    for (const path of clashes.keys()) {
      const before = previous.get(path);
      if (before) take(path, before);
    }
    return { served, clashes };
  }

  private report(present: Loaded[], served: Map<string, Served>, clashes: Map<string, Problem>): Omit<ReloadResult, 'compiled' | 'ms'> {
    const files: FlowFileStatus[] = [];
    const errors: FlowError[] = [];
    const fixed: string[] = [];
    const nextErrors = new Map<string, string>();
    for (const loaded of present) {
      const clash = clashes.get(loaded.path);
      const problems = clash ? [clash] : loaded.problems;
      const serving = served.get(loaded.path);
      const { file } = loaded;
      const message = problems.length > 0 ? problems.map(formatProblem).join('\n') : null;
      if (message) {
        nextErrors.set(loaded.path, message);
        if (this.errors.get(loaded.path) !== message) errors.push({ file, message, kept: serving?.flow });
      } else if (this.errors.has(loaded.path)) fixed.push(file);
      files.push({
        file,
        id: serving?.flow.id ?? loaded.flow?.id ?? guessId(loaded.text) ?? null,
        route: serving?.flow.route ?? null,
        revision: serving?.flow.revision ?? null,
        loadedAt: serving?.loadedAt ?? null,
        status: !message ? 'ok' : serving ? 'stale' : 'failed',
        lastError: message,
        flow: serving?.flow,
      });
    }
    this.errors = nextErrors;

    const before = new Map([...this.live.values()].map(({ flow }) => [flow.id, flow]));
    const after = new Map([...served.values()].map(({ flow }) => [flow.id, flow]));
    const added = [...after.values()].filter((flow) => !before.has(flow.id));
    const changed = [...after.values()].filter((flow) => before.has(flow.id) && before.get(flow.id)!.revision !== flow.revision);
    const removed = [...before.values()].filter((flow) => !after.has(flow.id));
    return { flows: [...after.values()], files, added, changed, removed, errors, fixed };
  }
}

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
