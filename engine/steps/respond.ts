import type { Response } from '../types/flow.ts';
import type { CompileContext, StepDefinition, Answer, Scope } from './types.ts';
import type { DocPath } from '../schema/problem.ts';

export type CompiledResponse = (scope: Scope, bindings: Record<string, unknown>) => Promise<Answer>;

/** Compiles a response block (a flow's async `response:` or a `respond` step): status, templated headers and body. */
export function compileResponse(spec: Response, path: DocPath, ctx: CompileContext, defaults: Answer): CompiledResponse {
  const headers = ctx.template([...path, 'headers'], spec.headers ?? {});
  const body = 'body' in spec ? ctx.template([...path, 'body'], spec.body) : async () => defaults.body;
  const status = spec.status ?? defaults.status;
  return async (scope, bindings) => {
    const rendered = (await headers(scope, bindings)) as Record<string, unknown>;
    const out: Record<string, string> = { ...defaults.headers };
    for (const [name, value] of Object.entries(rendered)) out[name.toLowerCase()] = String(value ?? '');
    return { status, headers: out, body: await body(scope, bindings) };
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
