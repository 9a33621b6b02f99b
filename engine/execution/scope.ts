import type { CompiledFlow } from '../flow/compiled.ts';
import type { ContactView, Scope } from '../common/scope.ts';
import { isMarkedWide } from '../common/scope.ts';
import type { ExecutionInput } from '../store/types.ts';
import { SLOW } from '../expr/expression.ts';

/** The variables every request starts with: top-level query fields, then body fields (the body wins on a name). */
export function requestVars(query: Record<string, unknown>, body: unknown): Record<string, unknown> {
  const fromBody = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  // a big body (70,000 fields: 50 ms of blocked event loop to copy) is read through, not copied; a proxy costs more
  // per read than copying an ordinary body, so ordinary bodies are copied
  if (isMarkedWide(fromBody)) return readThrough(query, fromBody);
  // not a spread: V8 promotes the objects of a spread copy that gains new properties (the params, then the steps'
  // variables) out of the young generation (seen under load: 135 KB per scavenge, a major GC every 40 s)
  return Object.assign({}, query, fromBody);
}

const field = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: true, configurable: true });

/**
 * Variables that behave as the copy Object.assign({}, query, body) would (own keys in the same order, JSONata's own-
 * property lookups, JSON), without copying: what the flow sets is held by the proxy's target, in front of the body's
 * fields, then the query's. Listing the keys (`$keys(vars)`, `{{ vars }}`) is the only thing that walks the body.
 */
function readThrough(query: Record<string, unknown>, body: Record<string, unknown>): Record<string, unknown> {
  const layers = [body, query];
  const holder = (target: object, key: string | symbol) => (Object.hasOwn(target, key) ? target : layers.find((layer) => Object.hasOwn(layer, key)));
  return new Proxy({} as Record<string, unknown>, {
    get: (target, key) => {
      const from = holder(target, key);
      return from ? (from as Record<string | symbol, unknown>)[key] : Reflect.get(target, key);
    },
    has: (target, key) => holder(target, key) !== undefined || Reflect.has(target, key),
    getOwnPropertyDescriptor: (target, key) => {
      if (Object.hasOwn(target, key)) return Reflect.getOwnPropertyDescriptor(target, key);
      const from = layers.find((layer) => Object.hasOwn(layer, key));
      return from ? field(from[key as string]) : undefined;
    },
    ownKeys: (target) => [...new Set([...Object.keys(query), ...Object.keys(body), ...Reflect.ownKeys(target)])],
  });
}

export function scopeOf(input: ExecutionInput, contact: ContactView | null): Scope {
  const { request } = input;
  return {
    request,
    headers: request.headers,
    query: request.query,
    body: request.body,
    // the request's own variables and what the intake added: a new object the steps add to
    vars: Object.assign(requestVars(request.query, request.body), input.vars),
    contact,
    steps: {},
  };
}

/**
 * Adds the flow's params to the variables, and to `added` (what an execution keeps: the request's own variables are
 * rebuilt from the request). They are evaluated against the request, after the plain fields.
 */
export async function evaluateParams(flow: CompiledFlow, scope: Scope, bindings: Record<string, unknown>, added: Record<string, unknown>): Promise<void> {
  for (const [name, expression] of flow.params) {
    let value = expression.readNow(scope);
    if (value === SLOW) value = await expression.evaluate(scope, bindings);
    if (value !== undefined) scope.vars[name] = added[name] = value;
  }
}

export function executionBindings(executionId: string, flow: CompiledFlow): Record<string, unknown> {
  return { execution: { id: executionId, flow: flow.id, revision: flow.revision } };
}
