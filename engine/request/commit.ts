import type { CompiledFlow } from '../flow/compiled.ts';
import type { Answer } from '../common/scope.ts';
import type { ExecutionRecord, JournalEntry, LogEntry, LogOutcome, OutboxEvent } from '../store/types.ts';
import { UnstorableError } from '../store/types.ts';
import type { EngineContext } from './context.ts';
import type { IncomingRequest } from './incoming.ts';
import { redactHeaders, redactSecrets } from '../common/redact.ts';
import { isoTime } from '../common/time.ts';
import { credentialHeaders } from './gates.ts';
import { checkAnswer } from './answer.ts';

/** The largest body kept in the webhook log; the rest is cut and marked. */
const LOG_BODY_LIMIT = 64 * 1024;

/** A request on its way through the stages, with its webhook log entry as the stages fill it in. */
export interface RequestState {
  ctx: EngineContext;
  flow: CompiledFlow;
  req: IncomingRequest;
  log: LogEntry;
  /** problems that did not stop the request (a mapped value that does not fit its field): kept in the log entry */
  notes: string | null;
  /** the log entry holds the body whole and as it came (not cut, no secret masked in it) */
  bodyInLog: boolean;
  /** the whole body as text, when it is within the log's cap: decoded once, for the log and the parse */
  bodyText?: string;
  /** the events of the request itself (an inbound message's), committed with its log row */
  events: OutboxEvent[];
}

/** What an answered request commits with its log row: its execution, the journal so far, a lease for this process. */
export interface CommittedJob {
  execution: ExecutionRecord;
  journal?: JournalEntry[];
  /** the events of the journal so far and, for a run that ended, its `execution` event */
  events?: OutboxEvent[];
  /** the execution is committed claimed by this process until then (see Store.commitLog) */
  leaseUntil?: string;
}

/** Until when an execution committed claimed by this process is its own (renewed while it runs). */
export function leaseFrom(state: RequestState, now: Date): string {
  return new Date(now.getTime() + state.ctx.config.queue.leaseMs).toISOString();
}

export function answer(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return { status, headers, body };
}

/** The log entry of a request that reached a flow, before anything is decided: the request as it came, redacted. */
export function openRequest(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, ids: { logId?: string; replayOf?: string }): RequestState {
  const log: LogEntry = {
    id: ids.logId ?? ctx.newId('log'),
    receivedAt: isoTime(req.receivedAt),
    flowId: flow.id,
    revision: flow.revision,
    method: req.method,
    path: req.path,
    // the flow's own credential headers too (a generic hmac signature's header is the flow's choice)
    headers: redactHeaders(req.headers, credentialHeaders(flow)),
    query: req.query,
    body: null,
    bodyTruncated: false,
    outcome: 'rejected',
    reason: null,
    status: 0,
    durationMs: 0,
    executionId: null,
    contactId: null,
    identification: null,
    duplicateOf: null,
    replayOf: ids.replayOf ?? null,
  };
  const state: RequestState = { ctx, flow, req, log, notes: null, bodyInLog: true, events: [] };
  if (req.rawBody && req.rawBody.length > 0) {
    log.bodyTruncated = req.rawBody.length > LOG_BODY_LIMIT;
    const text = req.rawBody.subarray(0, LOG_BODY_LIMIT).toString('utf8');
    log.body = redactSecrets(text, flow.secrets);
    state.bodyInLog = !log.bodyTruncated && log.body === text;
    if (!log.bodyTruncated) state.bodyText = text;
  }
  return state;
}

/**
 * Records the request's outcome with its execution, if any, and returns what the caller gets: the one way from an
 * answer to a commit. The log row and the execution are committed together: for an accepted async request that
 * commit is the job. When it fails, the caller is told to try again (and gets another answer than `reply`).
 */
export async function commitAnswer(state: RequestState, reply: Answer, outcome: LogOutcome, reason: string | null, job?: CommittedJob): Promise<Answer> {
  const checked = checkAnswer(reply);
  if (!checked.ok) return commitUnsendable(state, checked.reason, job);
  const { ctx, flow, req, log } = state;
  // the notes (a forced replay, a mapped value that did not fit) stay beside a reason
  Object.assign(log, { outcome, reason: [reason, state.notes].filter(Boolean).join('; ') || null, status: reply.status, durationMs: ctx.now().getTime() - req.receivedAt.getTime() });
  // the request's events and its run's commit with it (an outbox)
  const events = job?.events?.length ? [...state.events, ...job.events] : state.events;
  try {
    await ctx.store.commitLog(log, job?.execution, job?.journal, job?.leaseUntil, events);
  } catch (err) {
    // storing it again would fail the same way: the sender is told not to retry, and the log keeps the request
    if (err instanceof UnstorableError && job) return commitAnswer(withoutRun(state), answer(422, { error: `the request cannot be stored: ${err.message}` }), 'rejected', `the request cannot be stored: ${err.message}`);
    ctx.metrics.request(flow.id, 503);
    return answer(503, { error: 'the request could not be stored; try again' }, { 'retry-after': '1' });
  }
  ctx.metrics.request(flow.id, reply.status);
  return reply;
}

/**
 * An answer that cannot go on the wire (checkAnswer): the caller and the log both get 500 and the reason. An async
 * request's work does not run; a sync run has already run its steps up to its answer, and is kept, failed, so that
 * nothing resumes it.
 */
function commitUnsendable(state: RequestState, problem: string, job: CommittedJob | undefined): Promise<Answer> {
  const reason = `the flow's answer cannot be sent: ${problem}`;
  const reply = answer(500, { error: reason });
  if (!job || state.flow.mode === 'async') return commitAnswer(withoutRun(state), reply, 'failed', reason);
  const finishedAt = isoTime(state.ctx.now());
  return commitAnswer(state, reply, 'failed', reason, { execution: { ...job.execution, status: 'failed', error: reason, finishedAt }, journal: job.journal, events: job.events });
}

/** The request alone, its execution left out of the log entry (it is not stored). */
function withoutRun(state: RequestState): RequestState {
  state.log.executionId = null;
  return state;
}

/** A request turned away before any of its flow's work: the caller gets `publicError`, the log the whole reason. */
export function rejectRequest(state: RequestState, status: number, reason: string, headers: Record<string, string> = {}, publicError = reason): Promise<Answer> {
  return commitAnswer(state, answer(status, { error: publicError }, headers), 'rejected', reason);
}

/** A request its flow could not take in (storage of its contact or message failed): the sender should retry. */
export function failRequest(state: RequestState, status: number, publicError: string, reason: string, headers: Record<string, string> = {}): Promise<Answer> {
  return commitAnswer(state, answer(status, { error: publicError }, headers), 'failed', reason);
}
