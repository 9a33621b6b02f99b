import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from './compiled.ts';
import { formatProblem, type Problem } from '../schema/problem.ts';
import { displayPath, listFlowFiles } from './directory.ts';
import type { FlowPositions } from './load.ts';
import { FlowLoader, UniqueFlows, type FileOutcome } from './loader.ts';
import type { FlowFileStatus, FlowTable, Served } from './live.ts';
import { shownRoute } from './route.ts';

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

/** A flow id read straight from the text: lets a broken file that was renamed keep its flow's last good version. */
function guessId(text: string | undefined): string | undefined {
  return text ? /^id:\s*["']?([^\s"'#]+)/m.exec(text)?.[1] : undefined;
}

/** The path as shown in messages. */
function shownPath(outcome: FileOutcome): string {
  return outcome.flow?.file ?? displayPath(outcome.file);
}

/**
 * Loads a flows directory again and again into the live table. Each reload lists every file and compiles only those
 * whose text changed; a file that fails keeps its last good version live (by path, or by flow id when the file was
 * renamed), and the live owner of a flow id or route keeps it when another file claims it. Reloads run one at a time.
 */
export class FlowReloader {
  private readonly loader: FlowLoader;
  private readonly basePath: string;
  private errors = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly table: FlowTable,
    config: EngineConfig,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.loader = new FlowLoader(config, env);
    this.basePath = config.server.basePath;
  }

  /**
   * Lists and loads the directory and swaps the result into the table; `full` recompiles every file (the config or
   * the environment changed). Throws when the directory cannot be listed.
   */
  reload(options: { full?: boolean } = {}): Promise<ReloadResult> {
    const next = this.queue.then(() => this.run(options.full ?? false));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run(full: boolean): Promise<ReloadResult> {
    const started = performance.now();
    if (full) this.loader.forget();
    const { present, compiled } = await this.loadPresent();
    const presentPaths = new Set(present.map((o) => o.file));
    this.loader.keepOnly(presentPaths);
    const { served, clashes } = this.decide(present, presentPaths);
    const result = this.report(present, served, clashes);
    this.table.replace(served, result.files);
    return { ...result, compiled, ms: performance.now() - started };
  }

  /** Lists and loads the files there are. */
  private async loadPresent(): Promise<{ present: FileOutcome[]; compiled: number }> {
    let compiled = 0;
    let present: FileOutcome[] = [];
    // a file that vanished between the listing and its read was most likely renamed: list again once, so that a
    // rename is never seen as a removal
    for (let attempt = 0; attempt < 2; attempt++) {
      const scannedAt = Date.now();
      const loads = await this.loader.loadChanged(await listFlowFiles(this.dir), scannedAt);
      compiled += loads.compiled;
      present = loads.outcomes.filter((o): o is FileOutcome => o !== undefined);
      if (present.length === loads.outcomes.length) break;
    }
    return { present, compiled };
  }

  /** Which version each file serves: new good versions, else the last good one, with ids and routes unique. */
  private decide(present: FileOutcome[], presentPaths: Set<string>): { served: Map<string, Served>; clashes: Map<string, Problem> } {
    const now = new Date().toISOString();
    const previous = this.table.served();
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
      let fallback = previous.get(loaded.file);
      if (!fallback) {
        // renamed and broken in one change: take over the version of the vanished file that had this id
        const owner = ownerOfId.get(guessId(loaded.text) ?? '');
        if (owner && !presentPaths.has(owner) && !inherited.has(owner)) {
          fallback = previous.get(owner);
          inherited.add(owner);
        }
      }
      if (fallback) take(loaded.file, fallback);
    }
    // 2. good files, the current owner of an id or route first, then in path order
    const rank = (l: FileOutcome) => (ownerOfId.get(l.flow!.id) === l.file || ownerOfRoute.get(l.flow!.route) === l.file ? 0 : 1);
    const fresh = present.filter((l) => l.flow).sort((a, b) => rank(a) - rank(b) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    for (const loaded of fresh) {
      const flow = loaded.flow!;
      const before = previous.get(loaded.file);
      const clash = take(loaded.file, { flow, loadedAt: before && before.flow.revision === flow.revision ? before.loadedAt : now }, loaded.positions!);
      if (clash) clashes.set(loaded.file, clash);
    }
    // 3. a file that lost a clash keeps its last good version when that is still free
    for (const path of clashes.keys()) {
      const before = previous.get(path);
      if (before) take(path, before);
    }
    return { served, clashes };
  }

  private report(present: FileOutcome[], served: Map<string, Served>, clashes: Map<string, Problem>): Omit<ReloadResult, 'compiled' | 'ms'> {
    const files: FlowFileStatus[] = [];
    const errors: FlowError[] = [];
    const fixed: string[] = [];
    const nextErrors = new Map<string, string>();
    for (const loaded of present) {
      const path = loaded.file;
      const clash = clashes.get(path);
      const problems = clash ? [clash] : loaded.problems;
      const serving = served.get(path);
      const file = shownPath(loaded);
      const message = problems.length > 0 ? problems.map(formatProblem).join('\n') : null;
      if (message) {
        nextErrors.set(path, message);
        if (this.errors.get(path) !== message) errors.push({ file, message, kept: serving?.flow });
      } else if (this.errors.has(path)) fixed.push(file);
      files.push({
        file,
        id: serving?.flow.id ?? loaded.flow?.id ?? guessId(loaded.text) ?? null,
        route: serving ? shownRoute(this.basePath, serving.flow) : null,
        revision: serving?.flow.revision ?? null,
        loadedAt: serving?.loadedAt ?? null,
        status: !message ? 'ok' : serving ? 'stale' : 'failed',
        lastError: message,
        flow: serving?.flow,
      });
    }
    this.errors = nextErrors;

    const before = new Map([...this.table.served().values()].map(({ flow }) => [flow.id, flow]));
    const after = new Map([...served.values()].map(({ flow }) => [flow.id, flow]));
    const added = [...after.values()].filter((flow) => !before.has(flow.id));
    const changed = [...after.values()].filter((flow) => before.has(flow.id) && before.get(flow.id)!.revision !== flow.revision);
    const removed = [...before.values()].filter((flow) => !after.has(flow.id));
    return { flows: [...after.values()], files, added, changed, removed, errors, fixed };
  }
}
