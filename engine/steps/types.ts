import type { CompiledExpression } from '../expr/expression.ts';
import type { CompiledTemplate } from '../expr/template.ts';
import type { DocPath } from '../schema/problem.ts';
import type { EngineConfig } from '../config/load.ts';
import type { OutgoingRequest, OutgoingResult } from '../http/request.ts';
import type { Step } from '../types/flow.ts';
import type { Mode } from '../types/names.ts';
import type { Answer, Scope } from '../common/scope.ts';

/** the keys that name a step's kind in a flow file (the flow schema's step: an id and exactly one of these) */
export type StepKind = Exclude<keyof Step, 'id'>;

export interface SendRequest {
  channel: string;
  message: Record<string, string | undefined>;
  /** the execution's contact, recorded with the message */
  contactId?: string | null;
  /** the flow's identify.defaultCountry: a national number in `to` is read with it */
  defaultCountry?: string;
}

export interface SendOutcome {
  messageId: string;
  providerId: string | null;
  status: string;
}

/** What steps may use at run time; the runtime, and `hooks test` with its mocks, provide it. */
export interface StepServices {
  http(stepId: string, request: OutgoingRequest): Promise<OutgoingResult>;
  send(stepId: string, request: SendRequest): Promise<SendOutcome>;
}

export interface StepRun {
  scope: Scope;
  bindings: Record<string, unknown>;
  services: StepServices;
  respond(answer: Answer): void;
}

/**
 * A finished step. `result` lands at steps.<id>; `vars` are merged into vars; `then` are steps to run next (a branch);
 * `stop` ends the execution. All of it is journaled, so a resumed execution replays it without running the step again.
 */
export interface StepOutcome {
  result: unknown;
  vars?: Record<string, unknown>;
  then?: CompiledStep[];
  stop?: boolean;
}

export interface CompiledStep {
  id: string;
  kind: StepKind;
  run(run: StepRun): Promise<StepOutcome>;
  /** nested step lists (branch cases), so tools can walk the whole flow */
  children?: CompiledStep[][];
  /** set from the kind's definition (StepDefinition.pure) */
  pure?: boolean;
}

/** What a step kind may use while compiling; problems are collected with their document path. */
export interface CompileContext {
  config: EngineConfig;
  mode: Mode;
  /** the flow's identify.defaultCountry, which also reads the national numbers a send goes to */
  defaultCountry?: string;
  expression(path: DocPath, source: string): CompiledExpression;
  template(path: DocPath, value: unknown): CompiledTemplate;
  problem(path: DocPath, message: string, at?: { key?: boolean }): void;
  steps(path: DocPath, steps: Step[]): CompiledStep[];
}

export interface StepDefinition<Spec> {
  kind: StepKind;
  /**
   * The step only computes (nothing leaves the engine): run again after a crash it changes nothing outside, so its
   * journal entry may wait and be committed with a later one, rather than each step waiting for a commit.
   */
  pure: boolean;
  compile(id: string, spec: Spec, path: DocPath, ctx: CompileContext): CompiledStep;
}
