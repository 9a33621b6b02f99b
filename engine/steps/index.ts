import type { StepDefinition, StepKind } from './types.ts';
import { setStep } from './set.ts';
import { httpStep } from './http.ts';
import { branchStep } from './branch.ts';
import { sendStep } from './send.ts';
import { respondStep } from './respond.ts';
import { stopStep } from './stop.ts';

/** Every step kind of format version 1, by the key that names it in a flow file. */
export const STEP_KINDS: Record<StepKind, StepDefinition<never>> = {
  set: setStep as StepDefinition<never>,
  http: httpStep as StepDefinition<never>,
  branch: branchStep as StepDefinition<never>,
  send: sendStep as StepDefinition<never>,
  respond: respondStep as StepDefinition<never>,
  stop: stopStep as StepDefinition<never>,
};

export type { CompiledStep, StepOutcome, StepRun, StepServices } from './types.ts';
