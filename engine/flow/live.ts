import { secretsEqual } from '../trust/compare.ts';
import type { CompiledFlow } from './compiled.ts';
import { TOKEN_SEGMENT } from './route.ts';

/**
 * The flow a path belongs to. `tokenOk` false: the flow has a URL token and the path does not carry it (missing or
 * wrong); `logPath` is the path as it may be logged, the token segment shown as [token].
 */
export type RouteMatch = { flow: CompiledFlow; tokenOk: boolean; logPath: string } | undefined;

/** The version a flow file serves, and since when. */
export interface Served {
  flow: CompiledFlow;
  loadedAt: string;
}

/** What became of one flow file in the last reload. `stale`: the file fails, its last good version is still served. */
export interface FlowFileStatus {
  file: string;
  id: string | null;
  /** where the served version answers, as shown: <basePath><route>, a URL token as [token] */
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

/** One consistent set of live flows: built whole, then swapped in by one assignment. */
interface Snapshot {
  generation: number;
  /** what each flow file serves, by path */
  served: ReadonlyMap<string, Served>;
  routes: Map<string, CompiledFlow>;
  ids: Map<string, CompiledFlow>;
  files: FlowFileStatus[];
}

/**
 * Revisions kept per flow id, newest last. A queued async execution runs on the revision it was accepted under; the
 * store cannot tell us which revisions still have queued work, so we keep the last few of every flow (removed flows
 * included). An execution outliving that many newer revisions runs on the current version instead.
 */
export const REVISIONS_PER_FLOW = 8;

/**
 * The live flows, the engine's only copy of them. Fastify cannot remove routes once started, so one catch-all route
 * asks this table, and a reload swaps the whole table in one assignment: a request sees either the old set of flows
 * or the new one.
 */
export class FlowTable {
  private live: Snapshot = { generation: 0, served: new Map(), routes: new Map(), ids: new Map(), files: [] };
  /** every revision still wanted, by id@revision; per id in load order for eviction */
  private readonly revisions = new Map<string, CompiledFlow>();
  private readonly history = new Map<string, string[]>();

  /** Swaps in a new set of flows, by file (ids and routes already unique), with the status of every flow file. */
  replace(served: ReadonlyMap<string, Served>, files: FlowFileStatus[]): void {
    const routes = new Map<string, CompiledFlow>();
    const ids = new Map<string, CompiledFlow>();
    for (const { flow } of served.values()) {
      routes.set(flow.route, flow);
      ids.set(flow.id, flow);
      this.remember(flow);
    }
    this.live = { generation: this.live.generation + 1, served, routes, ids, files };
  }

  /** what each flow file serves, by path: the next reload starts from it */
  served(): ReadonlyMap<string, Served> {
    return this.live.served;
  }

  private remember(flow: CompiledFlow): void {
    const key = `${flow.id}@${flow.revision}`;
    if (this.revisions.get(key) === flow) return;
    this.revisions.set(key, flow);
    const keys = this.history.get(flow.id) ?? [];
    const at = keys.indexOf(key);
    if (at !== -1) keys.splice(at, 1);
    keys.push(key);
    while (keys.length > REVISIONS_PER_FLOW) this.revisions.delete(keys.shift()!);
    this.history.set(flow.id, keys);
  }

  /** how many table swaps so far: one per applied reload */
  get generation(): number {
    return this.live.generation;
  }

  list(): CompiledFlow[] {
    return [...this.live.routes.values()];
  }

  /** every flow file and what became of it in the last reload, including files that failed */
  files(): FlowFileStatus[] {
    return this.live.files;
  }

  /** compiled revisions held in memory */
  get revisionsKept(): number {
    return this.revisions.size;
  }

  byId(id: string): CompiledFlow | undefined {
    return this.live.ids.get(id);
  }

  /** the revision an execution was accepted under, else the flow's current version */
  byRevision(id: string, revision: string): CompiledFlow | undefined {
    return this.revisions.get(`${id}@${revision}`) ?? this.byId(id);
  }

  /** Finds the flow of a path. A flow with a URL token is served at <route>/<token>; the token never reaches the log. */
  match(path: string): RouteMatch {
    const { routes } = this.live;
    const normalised = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const exact = routes.get(normalised);
    if (exact) return { flow: exact, tokenOk: !exact.auth.token, logPath: normalised };
    const cut = normalised.lastIndexOf('/');
    const parent = routes.get(normalised.slice(0, cut) || '/');
    if (parent?.auth.token) {
      return { flow: parent, tokenOk: secretsEqual(normalised.slice(cut + 1), parent.auth.token), logPath: `${parent.route}/${TOKEN_SEGMENT}` };
    }
    return undefined;
  }
}
