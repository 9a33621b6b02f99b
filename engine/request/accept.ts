import type { Answer } from '../common/scope.ts';
import type { ExecutionRecord } from '../store/types.ts';
import type { Intake } from './intake.ts';
import { isoTime } from '../common/time.ts';
import { endRun, endedThisTurn, goOnAfterCommit, startRun } from '../execution/execute.ts';
import { Journal } from '../execution/journal.ts';
import { answer, commitAnswer, leaseFrom, type RequestState } from './commit.ts';

/**
 * Async: the flow's answer is rendered, then the log row and the execution are committed, then the caller hears it.
 * When the worker has a free slot, the run starts here at once: its steps that only compute run before the commit, a
 * step with effects waits for it (nothing leaves the engine for a request that is not stored), and a run that ends
 * meanwhile is committed finished, with its request, in one write. When the worker has room to hold one, the
 * execution is committed claimed by this process and runs here once a slot is free; else it is queued.
 */
export async function acceptAsync(state: RequestState, execution: ExecutionRecord, intake: Intake): Promise<Answer> {
  const { ctx, flow, log } = state;
  let reply: Answer;
  try {
    reply = await flow.response(intake.scope, intake.bindings);
  } catch (err) {
    log.executionId = null;
    return commitAnswer(state, answer(500, { error: 'the flow could not render its response' }), 'failed', `response: ${(err as Error).message}`);
  }
  if (ctx.worker.takeSlot()) return runHere(state, execution, intake, reply);
  if (!ctx.worker.reserve()) {
    const sent = await commitAnswer(state, reply, 'accepted', null, { execution });
    if (sent === reply) ctx.worker.notify();
    return sent;
  }
  const now = ctx.now();
  Object.assign(execution, { status: 'running', attempts: 1, startedAt: isoTime(now) });
  const sent = await commitAnswer(state, reply, 'accepted', null, { execution, leaseUntil: leaseFrom(state, now) });
  ctx.worker.runReserved(sent === reply ? execution : undefined);
  return sent;
}

/** The run in the slot the worker gave: started before the commit, which it joins when it ends within this turn. */
async function runHere(state: RequestState, execution: ExecutionRecord, intake: Intake, reply: Answer): Promise<Answer> {
  const { ctx, flow } = state;
  const journal = new Journal(ctx.store, { holdPure: true, effectsAfterCommit: true });
  const run = startRun(ctx, flow, execution, intake.scope, journal, () => undefined);
  Object.assign(execution, { status: 'running', attempts: 1, startedAt: isoTime(run.started) });
  const ended = await endedThisTurn(run);
  if (ended) {
    endRun(ctx, flow, run, ended);
    // the caller hears 202 either way; the log tells how the run ended
    const [outcome, reason] = ended.status === 'failed' ? (['failed', ended.error] as const) : (['accepted', null] as const);
    const sent = await commitAnswer(state, reply, outcome, reason, { execution, ...journal.take() });
    ctx.worker.runInSlot(execution, Promise.resolve(sent === reply ? ended : undefined));
    return sent;
  }
  const sent = commitAnswer(state, reply, 'accepted', null, { execution, ...journal.take(), leaseUntil: leaseFrom(state, ctx.now()) });
  ctx.worker.runInSlot(execution, goOnAfterCommit(ctx, flow, run, sent.then((got) => got === reply)));
  return sent;
}
