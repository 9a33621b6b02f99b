import type { Answer } from '../common/scope.ts';
import type { ExecutionRecord } from '../store/types.ts';
import type { Intake } from './intake.ts';
import { isoTime } from '../common/time.ts';
import { answer, commitAnswer, type RequestState } from './commit.ts';

/**
 * Async: the flow's answer is rendered, then the log row and the queued execution are committed, then the caller
 * hears it. When the worker has room, the execution is committed claimed by this process and runs here, without a
 * claim round through the store.
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
  if (!ctx.worker.reserve()) {
    const sent = await commitAnswer(state, reply, 'accepted', null, { execution });
    if (sent === reply) ctx.worker.notify();
    return sent;
  }
  const now = ctx.now();
  Object.assign(execution, { status: 'running', attempts: 1, startedAt: isoTime(now) });
  const leaseUntil = new Date(now.getTime() + ctx.config.queue.leaseMs).toISOString();
  const sent = await commitAnswer(state, reply, 'accepted', null, { execution, leaseUntil });
  ctx.worker.runReserved(sent === reply ? execution : undefined);
  return sent;
}
