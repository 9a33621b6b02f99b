import type { StepDefinition } from './types.ts';

/** `set`: assign variables from templated values. */
export const setStep: StepDefinition<Record<string, unknown>> = {
  kind: 'set',
  pure: true,
  compile(id, spec, path, ctx) {
    const assignments = Object.entries(spec).map(([name, value]) => [name, ctx.template([...path, name], value)] as const);
    return {
      id,
      kind: 'set',
      async run({ scope, bindings }) {
        const vars: Record<string, unknown> = {};
        for (const [name, template] of assignments) vars[name] = await template(scope, bindings);
        return { result: vars, vars };
      },
    };
  },
};
