import type { CompiledFlow } from '../flow/compiled.ts';
import type { CompiledStep, StepServices } from '../steps/types.ts';
import type { Answer, Scope } from '../common/scope.ts';
import type { JournalEntry } from '../store/types.ts';
import { isoTime } from '../common/time.ts';

export interface RunOptions {
  executionId: string;
  scope: Scope;
  bindings: Record<string, unknown>;
  services: StepServices;
  /** steps already finished in an earlier attempt: replayed from their journal entries, never run again */
  journal: JournalEntry[];
  /**
   * called when a step finishes, before the next starts: the caller makes it durable. A pure step's entry may be
   * held back (see `settle`).
   */
  onStep(entry: JournalEntry, pure: boolean): Promise<void>;
  /** before a step that is not pure starts: the entries held back must be durable now (its effect may depend on them) */
  settle?(): Promise<void>;
  respond(answer: Answer): void;
  now?: () => Date;
}

export interface RunResult {
  status: 'completed' | 'failed' | 'stopped';
  error: string | null;
  /** ids of the steps that ran (or were replayed), in order */
  taken: string[];
}

/**
 * Runs a flow's steps in order, descending into the branch case taken. A finished step's result lands at
 * steps.<id> and its variables in vars; both are journaled, so a resumed execution replays finished steps from the
 * journal and continues at the first unfinished one.
 */
export async function runSteps(flow: CompiledFlow, options: RunOptions): Promise<RunResult> {
  const now = options.now ?? (() => new Date());
  const done = new Map(options.journal.map((entry) => [entry.stepId, entry]));
  let seq = options.journal.reduce((max, entry) => Math.max(max, entry.seq), 0);
  const taken: string[] = [];
  const { scope } = options;

  async function walk(steps: CompiledStep[]): Promise<'continue' | 'stop'> {
    for (const step of steps) {
      taken.push(step.id);
      const replay = done.get(step.id);
      let result: unknown;
      let vars: Record<string, unknown> | null | undefined;
      let stop: boolean;
      let then: CompiledStep[] | undefined;
      if (replay) {
        ({ result, vars, stop } = replay);
        if (step.kind === 'branch') then = step.children?.[(result as { case: number | null }).case ?? -1] ?? [];
      } else {
        if (!step.pure) await options.settle?.();
        const started = now();
        const outcome = await step.run({ scope, bindings: options.bindings, services: options.services, respond: options.respond });
        const finished = now();
        ({ result, vars, then } = outcome);
        stop = outcome.stop ?? false;
        await options.onStep({
          executionId: options.executionId,
          seq: ++seq,
          stepId: step.id,
          kind: step.kind,
          result,
          vars: vars ?? null,
          stop,
          startedAt: isoTime(started),
          finishedAt: isoTime(finished),
          durationMs: finished.getTime() - started.getTime(),
        }, step.pure === true);
      }
      scope.steps[step.id] = result;
      if (vars) Object.assign(scope.vars, vars);
      if (stop) return 'stop';
      if (then && (await walk(then)) === 'stop') return 'stop';
    }
    return 'continue';
  }

  try {
    const ended = await walk(flow.steps);
    return { status: ended === 'stop' ? 'stopped' : 'completed', error: null, taken };
  } catch (err) {
    const step = taken[taken.length - 1];
    return { status: 'failed', error: `step "${step}": ${(err as Error).message}`, taken };
  }
}
