import type { BranchCase } from '../types/flow.ts';
import type { CompiledStep, StepDefinition } from './types.ts';
import { SLOW, type CompiledExpression } from '../expr/expression.ts';

/** `branch`: run the steps of the first case whose `when` is true, else the `else` steps. */
export const branchStep: StepDefinition<BranchCase[]> = {
  kind: 'branch',
  pure: true,
  compile(id, spec, path, ctx) {
    const cases: { when: CompiledExpression | undefined; steps: CompiledStep[] }[] = [];
    // a loop, not a closure: V8 keeps what any closure here captures for as long as `run` lives (the compile context)
    for (const [i, item] of spec.entries()) {
      const at = [...path, i];
      if (item.else !== undefined) {
        if (item.when !== undefined) ctx.problem([...at, 'else'], 'a case has either `when` with `steps`, or `else`, not both', { key: true });
        if (i !== spec.length - 1) ctx.problem([...at, 'else'], '`else` must be the last case: cases after it could never run', { key: true });
        cases.push({ when: undefined, steps: ctx.steps([...at, 'else'], item.else) });
      } else if (item.when !== undefined) {
        cases.push({ when: ctx.expression([...at, 'when'], item.when), steps: ctx.steps([...at, 'steps'], item.steps ?? []) });
      } else {
        ctx.problem(at, 'a case needs `when` and `steps`, or `else`');
      }
    }
    return {
      id,
      kind: 'branch',
      children: cases.map((c) => c.steps),
      async run({ scope, bindings }) {
        for (const [index, c] of cases.entries()) {
          const when = c.when?.readNow(scope);
          if (c.when === undefined || truthy(when === SLOW ? await c.when.evaluate(scope, bindings) : when)) {
            return { result: { case: index, matched: c.when ? 'when' : 'else' }, then: c.steps };
          }
        }
        return { result: { case: null, matched: null }, then: [] };
      },
    };
  },
};

/** JSONata truthiness ($boolean): empty strings, zero, empty arrays and objects and missing values are false. */
export function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.some(truthy);
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}
