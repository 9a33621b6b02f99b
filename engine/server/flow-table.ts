import { secretsEqual } from '../trust/compare.ts';
import type { CompiledFlow } from '../flow/compiled.ts';

export type RouteMatch = { flow: CompiledFlow; tokenOk: boolean; logPath: string } | undefined;

/**
 * The live routes. Fastify cannot remove routes once started, so one catch-all route asks this table, and a reload
 * swaps the whole table in one assignment: a request sees either the old set of flows or the new one.
 */
export class FlowTable {
  private routes = new Map<string, CompiledFlow>();
  /** every revision still wanted: async executions run on the revision they were accepted under */
  private readonly revisions = new Map<string, CompiledFlow>();

  replace(flows: CompiledFlow[]): void {
    const next = new Map<string, CompiledFlow>();
    for (const flow of flows) {
      next.set(flow.route, flow);
      this.revisions.set(`${flow.id}@${flow.revision}`, flow);
    }
    this.routes = next;
  }

  list(): CompiledFlow[] {
    return [...this.routes.values()];
  }

  byId(id: string): CompiledFlow | undefined {
    return this.list().find((flow) => flow.id === id);
  }

  /** the revision an execution was accepted under, else the flow's current version */
  byRevision(id: string, revision: string): CompiledFlow | undefined {
    return this.revisions.get(`${id}@${revision}`) ?? this.byId(id);
  }

  /** Finds the flow of a path. A flow with a URL token is served at <route>/<token>; the token never reaches the log. */
  match(path: string): RouteMatch {
    const normalised = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const exact = this.routes.get(normalised);
    if (exact) return { flow: exact, tokenOk: !exact.auth.token, logPath: normalised };
    const cut = normalised.lastIndexOf('/');
    const parent = this.routes.get(normalised.slice(0, cut) || '/');
    if (parent?.auth.token) {
      return { flow: parent, tokenOk: secretsEqual(normalised.slice(cut + 1), parent.auth.token), logPath: `${parent.route}/[token]` };
    }
    return undefined;
  }
}
