import type { StepDefinition } from './types.ts';
import type { CompiledTemplate } from '../expr/template.ts';

/** `set`: assign variables from templated values. */
export const setStep: StepDefinition<Record<string, unknown>> = {
  kind: 'set',
  pure: true,
  compile(id, spec, path, ctx) {
    // a loop, not a closure: V8 keeps what any closure here captures for as long as `run` lives (the compile context)
    const assignments: [string, CompiledTemplate][] = [];
    for (const [name, value] of Object.entries(spec)) assignments.push([name, ctx.template([...path, name], value)]);
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
