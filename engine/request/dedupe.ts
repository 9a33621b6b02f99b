import type { Answer } from '../common/scope.ts';
import { answer, commitAnswer, type RequestState } from './commit.ts';

/** How long a copy of a delivery waits for the first copy's answer before it is told to retry. */
const DUPLICATE_WAIT_MS = 10_000;

/**
 * Runs `first` for the first copy of a dedupe key within the flow's window; a copy gets the first one's answer (or is
 * told to retry while the first is still running) and is logged as its duplicate. A first copy that failed releases
 * its key, so that the sender's retry runs again.
 */
export async function onceByKey(state: RequestState, key: string, first: () => Promise<Answer>): Promise<Answer> {
  const duplicate = await firstCopy(state, key);
  if (duplicate) {
    state.log.duplicateOf = duplicate.firstLogId;
    const reply = duplicate.answer ?? answer(409, { error: 'the first copy of this delivery is still being processed; retry later' }, { 'retry-after': '5' });
    return commitAnswer(state, reply, 'duplicate', `duplicate of ${duplicate.firstLogId}`);
  }
  const reply = await first();
  const { store } = state.ctx;
  const remember = reply.status < 300 ? store.recordDedupeAnswer(state.flow.id, key, reply) : store.releaseDedupeKey(state.flow.id, key);
  await remember.catch(() => undefined);
  return reply;
}

/**
 * Claims a dedupe key for this request. The first copy gets undefined and runs; a copy gets the first one's log
 * entry and, waiting for it a little when the first is still running, its answer.
 */
async function firstCopy(state: RequestState, key: string): Promise<{ firstLogId: string; answer: Answer | null } | undefined> {
  const { ctx, flow, log } = state;
  const deadline = Date.now() + DUPLICATE_WAIT_MS;
  for (;;) {
    const now = ctx.now();
    const claim = await ctx.store.claimDedupeKey(flow.id, key, log.id, now.toISOString(), new Date(now.getTime() + flow.dedupe!.windowMs).toISOString());
    if (claim.first) return undefined;
    if (claim.answer || Date.now() >= deadline) return { firstLogId: claim.firstLogId, answer: claim.answer };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
