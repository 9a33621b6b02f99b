import type { Step } from '../types/flow.ts';
import type { DocPath } from '../schema/problem.ts';
import type { CompiledStep } from '../steps/types.ts';
import { nextSlice, sliceOver } from './slices.ts';

type CompileStep = (step: Step, path: DocPath) => CompiledStep;

/** A step's place before it is compiled: nothing reads it, compileAll replaces it before the flow is served. */
const NOT_YET = {} as CompiledStep;

interface StepList {
  path: DocPath;
  steps: Step[];
  /** the array the caller of `defer` holds (a branch keeps it as its case's steps): filled in place */
  into: CompiledStep[];
  compile: CompileStep;
}

/**
 * A flow's steps, compiled one at a time with pauses between them (compiling a step's expressions is most of a load:
 * a flow of 10,000 steps takes a second or more). `defer` answers a compile context's `steps()` at once with an array
 * of the list's length and keeps the list; `compileAll` fills each array in place, in document order, as compiling
 * them at once would (a step, then its nested steps, then the next step), so step ids are checked and problems found
 * in the same order.
 */
export class StepSlices {
  private readonly waiting: StepList[] = [];

  defer(path: DocPath, steps: Step[], compile: CompileStep): CompiledStep[] {
    // as long as the list from the start, as map() makes it: an array grown by push keeps spare room, in every flow
    const into = steps.map(() => NOT_YET);
    this.waiting.push({ path, steps, into, compile });
    return into;
  }

  async compileAll(): Promise<void> {
    for (const list of this.waiting.splice(0)) await this.fill(list);
  }

  private async fill(list: StepList): Promise<void> {
    for (const [i, step] of list.steps.entries()) {
      if (sliceOver()) await nextSlice();
      const before = this.waiting.length;
      list.into[i] = list.compile(step, [...list.path, i]);
      // the lists this step deferred (a branch's cases) come before the next step
      for (const nested of this.waiting.splice(before)) await this.fill(nested);
    }
  }
}
