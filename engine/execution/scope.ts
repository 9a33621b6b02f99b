import type { CompiledFlow } from '../flow/compiled.ts';
import type { ContactView, Scope } from '../common/scope.ts';
import type { ExecutionInput } from '../store/types.ts';
import { SLOW } from '../expr/expression.ts';

/** The variables every request starts with: top-level query fields, then body fields (the body wins on a name). */
export function requestVars(query: Record<string, unknown>, body: unknown): Record<string, unknown> {
  const fromBody = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  return { ...query, ...fromBody };
}

export function scopeOf(input: ExecutionInput, contact: ContactView | null): Scope {
  const { request } = input;
  return {
    request,
    headers: request.headers,
    query: request.query,
    body: request.body,
    // a copy the params and steps add to. Not a spread: V8 promotes the objects of a spread copy that gains new
    // properties out of the young generation (seen under load: 135 KB per scavenge, a major GC every 40 s)
    vars: Object.assign({}, input.vars),
    contact,
    steps: {},
  };
}

/** Adds the flow's params to the variables; they are evaluated against the request, after the plain fields. */
export async function evaluateParams(flow: CompiledFlow, scope: Scope, bindings: Record<string, unknown>): Promise<void> {
  for (const [name, expression] of flow.params) {
    let value = expression.readNow(scope);
    if (value === SLOW) value = await expression.evaluate(scope, bindings);
    if (value !== undefined) scope.vars[name] = value;
  }
}

export function executionBindings(executionId: string, flow: CompiledFlow): Record<string, unknown> {
  return { execution: { id: executionId, flow: flow.id, revision: flow.revision } };
}
