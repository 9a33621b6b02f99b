import type { CompiledFlow } from '../flow/compiled.ts';
import type { Answer, ContactView, Scope } from '../common/scope.ts';
import type { ExecutionRecord, JournalEntry, LogEntry } from '../store/types.ts';
import type { ExecutionContext } from './context.ts';
import { redactSecrets } from '../common/redact.ts';
import { isoTime } from '../common/time.ts';
import { executionOutbox } from '../events/producers.ts';
import { sendStepEvents } from '../messages/events.ts';
import { executionBindings, scopeOf } from './scope.ts';
import { runSteps, type RunResult } from './interpreter.ts';
import { Journal } from './journal.ts';

/**
 * One execution's run, the same for a sync request, the async worker and `hooks test`: its steps with their journal
 * and the events of its sends, then its end (status, metrics, the `execution` event) and its finish in the store.
 * Every event commits with the write of its cause (an outbox): a send's with its step's journal entry, `execution`
 * with the finish (or with the request's log row, for a run that ended before its commit).
 */
export interface ExecutionRun {
  execution: ExecutionRecord;
  scope: Scope;
  journal: Journal;
  started: Date;
  /** settles when the steps are done */
  result: Promise<RunResult>;
}

export function startRun(ctx: ExecutionContext, flow: CompiledFlow, execution: ExecutionRecord, scope: Scope, journal: Journal, respond: (answer: Answer) => void, replayed: JournalEntry[] = []): ExecutionRun {
  const started = ctx.now();
  const result = runSteps(flow, {
    executionId: execution.id,
    scope,
    bindings: executionBindings(execution.id, flow),
    services: ctx.services(flow, execution.id),
    journal: replayed,
    now: ctx.now,
    onStep: async (entry, pure) => {
      const safe = redactSecrets(entry, flow.secrets);
      // a send's events commit with its journal entry: a journaled step is replayed without emitting, and a crash
      // before the entry's commit runs the step again, which finds its stored message and builds the same event ids
      const events = safe.kind === 'send' ? await sendStepEvents(ctx, safe, execution) : [];
      await journal.add(safe, pure, events);
    },
    settle: () => journal.settle(),
    respond,
  });
  return { execution, scope, journal, started, result };
}

/**
 * The run's steps are done: the execution records how it ended, the metrics count it, and its `execution` event waits
 * in its journal for the commit that stores the end (finishRun's, or the log row's of a run that ended before it).
 */
export function endRun(ctx: ExecutionContext, flow: CompiledFlow, run: ExecutionRun, result: RunResult): void {
  const { execution } = run;
  const finished = ctx.now();
  execution.status = result.status;
  execution.error = result.error;
  execution.finishedAt = isoTime(finished);
  ctx.metrics.execution(flow.id, execution.mode, result.status, (finished.getTime() - run.started.getTime()) / 1000);
  run.journal.end(executionOutbox(ctx.events, flow.id, execution, result, run.started, finished));
}

/**
 * Stores the end of a run the store already has (endRun first), with the journal entries still held back and the
 * events they and the end cause. A run that fails after its answer (an async run, or a sync one that went on) has its
 * log entry say so, with the error: `log` is the entry when the caller has it, else it is read.
 */
export async function finishRun(ctx: ExecutionContext, run: ExecutionRun, log?: Pick<LogEntry, 'id' | 'outcome' | 'status' | 'durationMs'>, queued?: () => void): Promise<void> {
  const { execution } = run;
  const { journal, events } = run.journal.take();
  const finishing = ctx.store.finishExecution(execution.id, execution.status, execution.error, execution.finishedAt!, journal, events);
  queued?.();
  await finishing;
  if (execution.status !== 'failed') return;
  const entry = log ?? (await ctx.store.getLog(execution.logId));
  if (entry?.outcome === 'completed' || entry?.outcome === 'accepted') await ctx.store.updateLogOutcome(entry.id, 'failed', entry.status, execution.error, entry.durationMs);
}

/** The run's result if it ends within this turn of the event loop (its steps only compute: no timer, no I/O), else undefined. */
export function endedThisTurn(run: ExecutionRun): Promise<RunResult | undefined> {
  const tick = new Promise<undefined>((resolve) => setImmediate(resolve, undefined));
  return Promise.race([run.result, tick]);
}

/**
 * The rest of a run whose request is being committed with its journal so far: later entries go to the store once
 * `committed` holds, and the run ends and finishes there (undefined: the commit failed, nothing more is stored).
 */
export function goOnAfterCommit(ctx: ExecutionContext, flow: CompiledFlow, run: ExecutionRun, committed: Promise<boolean>, log?: Pick<LogEntry, 'id' | 'outcome' | 'status' | 'durationMs'>): Promise<RunResult | undefined> {
  run.journal.attach(committed);
  return run.result.then(async (result) => {
    if (!(await committed)) return undefined;
    endRun(ctx, flow, run, result);
    await finishRun(ctx, run, log);
    return result;
  });
}

/**
 * Runs (or resumes) one claimed execution to its end: steps already in its journal are replayed, the rest run; then
 * the execution is marked finished. The worker and `hooks test` both run this.
 */
export async function runExecution(
  ctx: ExecutionContext,
  flow: CompiledFlow,
  execution: ExecutionRecord,
  contactFor?: (contactId: string) => Promise<ContactView | null>,
  /** called once the steps are done and the finish is queued, before it commits */
  stepsDone?: () => void,
): Promise<{ result: RunResult; scope: Scope }> {
  const contact = execution.input.contactId && contactFor ? await contactFor(execution.input.contactId) : null;
  const scope = scopeOf(execution.input, contact);
  // a first attempt has nothing journaled yet; reading would only flush the group commit early
  const replayed = execution.attempts > 1 ? await ctx.store.journal(execution.id) : [];
  const journal = new Journal(ctx.store, { holdPure: true, attached: true });
  const run = startRun(ctx, flow, execution, scope, journal, () => undefined, replayed);
  const result = await run.result;
  endRun(ctx, flow, run, result);
  await finishRun(ctx, run, undefined, stepsDone);
  return { result, scope };
}
