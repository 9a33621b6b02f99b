import type { Answer } from '../common/scope.ts';
import type { ExecutionRecord, LogOutcome } from '../store/types.ts';
import type { RunResult } from '../execution/interpreter.ts';
import type { Intake } from './intake.ts';
import { redactSecrets } from '../common/redact.ts';
import { isoTime } from '../common/time.ts';
import { endRun, endedThisTurn, goOnAfterCommit, startRun, type ExecutionRun } from '../execution/execute.ts';
import { Journal } from '../execution/journal.ts';
import { answer, commitAnswer, leaseFrom, type RequestState } from './commit.ts';

/** What the caller of a sync flow gets, and how the log tells it. */
interface Verdict {
  reply: Answer;
  outcome: LogOutcome;
  reason: string | null;
}

/**
 * Sync: the caller gets the first `respond` (later steps go on), or, when the run ends without one, 200 with the
 * execution id and the step results; past the flow's timeout, 504. The log row and the journal so far are committed
 * before the answer leaves; steps that finish afterwards are appended, each before the next starts.
 */
export async function runSync(state: RequestState, execution: ExecutionRecord, intake: Intake): Promise<Answer> {
  const { ctx, flow } = state;
  let answered: Answer | undefined;
  let respondWith: (reply: Answer) => void = () => undefined;
  const responded = new Promise<Answer>((resolve) => (respondWith = resolve));
  // the first respond answers the caller; a later one is recorded in the journal but cannot change the answer
  const respond = (reply: Answer) => {
    if (answered) return;
    answered = reply;
    respondWith(reply);
  };
  const run = startRun(ctx, flow, execution, intake.scope, new Journal(ctx.store, { holdPure: false }), respond);
  Object.assign(execution, { status: 'running', startedAt: isoTime(run.started), attempts: 1 });
  const first = await firstOf(run, responded, flow.timeoutMs);
  if (first !== 'timeout' && 'taken' in first) endRun(ctx, flow, run, first);
  const verdict = decide(state, run, first, answered);
  if (execution.finishedAt !== null) {
    // a finished sync execution is never resumed: its request is in its log row, so it is not stored a second time
    const stored = { ...execution, input: { ...execution.input, logged: false, request: { ...execution.input.request, headers: {}, body: null } } };
    return commitAnswer(state, verdict.reply, verdict.outcome, verdict.reason, { execution: stored, ...run.journal.take() });
  }
  return answerAndGoOn(state, run, verdict);
}

/** The run's end, the first respond or the timeout, whichever comes first. */
async function firstOf(run: ExecutionRun, responded: Promise<Answer>, timeoutMs: number): Promise<RunResult | Answer | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const first = await Promise.race([responded, run.result, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout' || 'taken' in first) return first;
  // answered by a respond step: a run with nothing slow left ends within this turn, and is then committed in one
  // write with its answer instead of two
  return (await endedThisTurn(run)) ?? first;
}

function decide(state: RequestState, run: ExecutionRun, first: RunResult | Answer | 'timeout', answered: Answer | undefined): Verdict {
  const { flow } = state;
  const { execution } = run;
  if (first === 'timeout') {
    const reply = answer(504, { error: `the flow did not answer within ${flow.timeoutMs} ms`, execution: execution.id });
    return { reply, outcome: 'failed', reason: `timed out after ${flow.timeoutMs} ms` };
  }
  if (!('taken' in first)) return { reply: first, outcome: 'completed', reason: null };
  if (first.status === 'failed') return { reply: answer(500, { error: 'the flow failed', execution: execution.id }), outcome: 'failed', reason: first.error };
  // the step results go back to the caller: the flow's secrets are taken out, as they are from the journal
  const reply = answered ?? answer(200, redactSecrets({ execution: execution.id, status: first.status, steps: run.scope.steps }, flow.secrets));
  return { reply, outcome: 'completed', reason: null };
}

/**
 * The caller has its answer and the rest of the run goes on. It is stored whole and leased to this process, like a
 * claimed async execution: should the process die before the run ends, a worker resumes it from its journal.
 */
function answerAndGoOn(state: RequestState, run: ExecutionRun, verdict: Verdict): Promise<Answer> {
  const { ctx, flow, log } = state;
  const sent = commitAnswer(state, verdict.reply, verdict.outcome, verdict.reason, { execution: run.execution, ...run.journal.take(), leaseUntil: leaseFrom(state, ctx.now()) });
  const rest = goOnAfterCommit(ctx, flow, run, sent.then((reply) => reply === verdict.reply), log);
  ctx.worker.follow(run.execution.id, rest.then(() => undefined));
  return sent;
}
