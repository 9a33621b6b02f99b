import type { StepDefinition } from './types.ts';

/** `stop`: end the execution here. */
export const stopStep: StepDefinition<boolean | { reason?: string }> = {
  kind: 'stop',
  pure: true,
  compile(id, spec, path, ctx) {
    if (spec === false) ctx.problem(path, '`stop: false` does nothing: remove the step, or write `stop: true`');
    const reason = typeof spec === 'object' && spec.reason !== undefined ? ctx.template([...path, 'reason'], spec.reason) : undefined;
    return {
      id,
      kind: 'stop',
      async run({ scope, bindings }) {
        return { result: { stopped: true, reason: reason ? await reason(scope, bindings) : null }, stop: true };
      },
    };
  },
};
