import type { Response } from '../types/flow.ts';
import type { CompileContext, StepDefinition } from './types.ts';
import type { Answer, Scope } from '../common/scope.ts';
import type { DocPath } from '../schema/problem.ts';
import { SLOW } from '../expr/expression.ts';

export type CompiledResponse = (scope: Scope, bindings: Record<string, unknown>) => Promise<Answer>;

/** Compiles a response block (a flow's async `response:` or a `respond` step): status, templated headers and body. */
export function compileResponse(spec: Response, path: DocPath, ctx: CompileContext, defaults: Answer): CompiledResponse {
  const headers = ctx.template([...path, 'headers'], spec.headers ?? {});
  const body = ctx.template([...path, 'body'], 'body' in spec ? spec.body : defaults.body);
  const status = spec.status ?? defaults.status;
  const answer = (rendered: unknown, content: unknown): Answer => {
    const out: Record<string, string> = { ...defaults.headers };
    for (const [name, value] of Object.entries(rendered as Record<string, unknown>)) out[name.toLowerCase()] = String(value ?? '');
    return { status, headers: out, body: content };
  };
  return (scope, bindings) => {
    const rendered = headers.now(scope);
    const content = rendered === SLOW ? SLOW : body.now(scope);
    if (content !== SLOW) return Promise.resolve(answer(rendered, content));
    return Promise.all([headers(scope, bindings), body(scope, bindings)]).then(([h, b]) => answer(h, b));
  };
}

/** `respond`: answer a sync caller now; later steps still run. */
export const respondStep: StepDefinition<Response> = {
  kind: 'respond',
  pure: true,
  compile(id, spec, path, ctx) {
    if (ctx.mode !== 'sync') ctx.problem(path, '`respond` only works in sync flows (mode: sync); async flows answer with `response:`', { key: true });
    const render = compileResponse(spec, path, ctx, { status: 200, headers: {}, body: '' });
    return {
      id,
      kind: 'respond',
      async run({ scope, bindings, respond }) {
        const answer = await render(scope, bindings);
        respond(answer);
        return { result: { status: answer.status } };
      },
    };
  },
};
