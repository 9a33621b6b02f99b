import type { EngineContext } from './context.ts';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { StepServices } from '../steps/types.ts';
import type { Answer, Scope } from '../common/scope.ts';
import type { ExecutionRecord, JournalEntry, LogEntry, LogOutcome, Store } from '../store/types.ts';
import type { IncomingRequest } from './incoming.ts';
import type { Metrics } from '../common/metrics.ts';
import { parseBody } from './incoming.ts';
import { redactHeaders, redactSecrets } from '../common/redact.ts';
import { evaluateParams, executionBindings, requestVars, scopeOf } from '../execution/scope.ts';
import { runSteps, type RunResult } from '../execution/interpreter.ts';
import { verifySignature } from '../trust/signatures.ts';
import { secretsEqual } from '../trust/compare.ts';
import type { RateLimiter } from '../trust/rate-limit.ts';
import { contactView, identifyContact, mapFields } from '../contacts/identify.ts';
import type { EventSink } from '../events/types.ts';
import { emitExecution, emitSendStep, messageEvent, variablesEvent } from '../events/producers.ts';
import { recordInbound } from '../messages/inbound.ts';
import { isoTime } from '../common/time.ts';

/** The largest body kept in the webhook log; the rest is cut and marked. */
const LOG_BODY_LIMIT = 64 * 1024;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return { status, headers, body };
}

function header(req: IncomingRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function checkBasic(req: IncomingRequest, expected: { username: string; password: string }): boolean {
  const value = header(req, 'authorization') ?? '';
  const match = /^Basic\s+(.+)$/i.exec(value);
  const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? '' : decoded.slice(0, colon);
  const pass = colon === -1 ? '' : decoded.slice(colon + 1);
  // evaluate both comparisons always: the answer must not reveal which part was wrong
  const userOk = secretsEqual(user, expected.username);
  const passOk = secretsEqual(pass, expected.password);
  return match !== null && userOk && passOk;
}

/**
 * The request pipeline of one flow: enabled, method, auth, content type and size, parse, variables, identify, log,
 * then the sync run or the async enqueue. Every request that reaches a flow ends in the webhook log; an answered
 * async request has its log row and its job committed before the answer leaves.
 */
export interface WebhookOptions {
  /** this request replays a logged one: it was verified then, so auth, signature, dedupe and rate limit are skipped */
  replayOf?: string;
  /** the id of the log entry this request gets (default: a new one) */
  logId?: string;
}

/** How long a copy of a delivery waits for the first copy's answer before it is told to retry. */
const DUPLICATE_WAIT_MS = 10_000;

export async function handleWebhook(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, options: WebhookOptions = {}): Promise<Answer> {
  const trusted = options.replayOf !== undefined;
  const log: LogEntry = {
    id: options.logId ?? ctx.newId('log'),
    receivedAt: isoTime(req.receivedAt),
    flowId: flow.id,
    revision: flow.revision,
    method: req.method,
    path: req.path,
    headers: redactHeaders(req.headers),
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
    replayOf: options.replayOf ?? null,
  };
  if (req.rawBody && req.rawBody.length > 0) {
    log.bodyTruncated = req.rawBody.length > LOG_BODY_LIMIT;
    log.body = redactSecrets(req.rawBody.subarray(0, LOG_BODY_LIMIT).toString('utf8'), flow.secrets);
  }

  // problems that did not stop the request (a mapped value that does not fit its field): kept in the log entry
  let notes: string | null = null;
  const finish = async (answer: Answer, outcome: LogOutcome, reason: string | null, execution?: ExecutionRecord, journal?: JournalEntry[], leaseUntil?: string): Promise<Answer> => {
    Object.assign(log, { outcome, reason: reason ?? notes, status: answer.status, durationMs: ctx.now().getTime() - req.receivedAt.getTime() });
    try {
      // the log row and the execution, if any, in one commit: for an accepted async request that commit is the job
      await ctx.store.commitLog(log, execution, journal, leaseUntil);
    } catch {
      ctx.metrics.request(flow.id, 503);
      return json(503, { error: 'the request could not be stored; try again' }, { 'retry-after': '1' });
    }
    ctx.metrics.request(flow.id, answer.status);
    return answer;
  };
  const reject = (status: number, reason: string, headers: Record<string, string> = {}, publicError = reason) =>
    finish(json(status, { error: publicError }, headers), 'rejected', reason);

  if (!flow.enabled) return reject(503, 'webhook not active (flow disabled)', {}, 'webhook not active');
  if (!flow.methods.includes(req.method)) {
    return reject(405, `method ${req.method} not allowed`, { allow: flow.methods.join(', ') });
  }
  if (flow.rateLimit && !trusted) {
    const taken = ctx.limiter.take(flow.id, flow.rateLimit.max, flow.rateLimit.perMs, ctx.now().getTime());
    if (!taken.ok) return reject(429, `rate limit of ${flow.rateLimit.max} per ${flow.rateLimit.perMs / 1000} s reached`, { 'retry-after': String(taken.retryAfterSeconds) });
  }
  if (flow.auth.basic && !trusted && !checkBasic(req, flow.auth.basic)) {
    return reject(401, 'basic auth failed', { 'www-authenticate': `Basic realm="${flow.id}", charset="UTF-8"` }, 'unauthorized');
  }
  const limit = flow.bodyLimit ?? ctx.config.server.bodyLimit;
  if (req.rawBody && req.rawBody.length > limit) return reject(413, `body of ${req.rawBody.length} bytes is over the limit of ${limit}`);
  const parsed = parseBody(req.rawBody, header(req, 'content-type'), flow.accept);
  if (!parsed.ok) return reject(parsed.status, parsed.reason);
  if (flow.auth.signature && !trusted) {
    const verdict = verifySignature(flow.auth.signature, {
      rawBody: req.rawBody ?? Buffer.alloc(0),
      headers: req.headers,
      publicUrl: req.url,
      form: parsed.kind === 'form' ? (parsed.body as Record<string, string>) : undefined,
      nowMs: ctx.now().getTime(),
    });
    if (!verdict.ok) return reject(401, `signature check failed: ${verdict.reason}: ${verdict.detail}`, {}, 'unauthorized');
  }

  const executionId = ctx.newId('ex');
  const request = { method: req.method, path: req.path, headers: req.headers as Record<string, unknown>, query: req.query, body: parsed.body, ip: req.ip, receivedAt: log.receivedAt };
  const input = { request, vars: requestVars(req.query, parsed.body), contactId: null as string | null };
  const scope = scopeOf(input, null);
  const bindings = executionBindings(executionId, flow);
  let dedupeKey: string | undefined;
  try {
    await evaluateParams(flow, scope, bindings);
    if (flow.dedupe && !trusted) dedupeKey = keyText(await flow.dedupe.key.evaluate(scope, bindings));
  } catch (err) {
    return finish(json(500, { error: 'the flow could not read this request' }), 'failed', `params: ${(err as Error).message}`);
  }
  if (dedupeKey !== undefined) {
    const duplicate = await firstDelivery(ctx, flow, dedupeKey, log.id);
    if (duplicate) {
      log.duplicateOf = duplicate.firstLogId;
      const answer = duplicate.answer ?? json(409, { error: 'the first copy of this delivery is still being processed; retry later' }, { 'retry-after': '5' });
      return finish(answer, 'duplicate', `duplicate of ${duplicate.firstLogId}`);
    }
    // the first copy: later copies get its answer, unless it failed, when the sender's retry must run again
    const answer = await runFirst();
    const remember = answer.status < 300 ? ctx.store.recordDedupeAnswer(flow.id, dedupeKey, answer) : ctx.store.releaseDedupeKey(flow.id, dedupeKey);
    await remember.catch(() => undefined);
    return answer;
  }
  return runFirst();

  async function runFirst(): Promise<Answer> {
    let changed: Record<string, unknown> = {};
    if (flow.identify) {
      try {
        const who = await identifyContact(flow, scope, bindings, ctx);
        if (!who.ok) {
          log.identification = 'rejected';
          return reject(422, who.reason);
        }
        log.identification = who.how;
        if (who.contact) {
          const mapped = flow.map.length > 0 ? await mapFields(flow, who.contact, scope, bindings, ctx, log.id) : undefined;
          if (mapped?.problems.length) notes = mapped.problems.join('; ');
          if (mapped?.changes.length) {
            const event = variablesEvent(flow.id, who.contact.id, mapped.changes, { executionId, logId: log.id });
            changed = event.type === 'variables' ? event.variables : {};
            void ctx.events.emit(event);
          }
          scope.contact = contactView(mapped?.contact ?? who.contact);
          log.contactId = who.contact.id;
        }
      } catch (err) {
        return finish(json(503, { error: 'the contact could not be stored; try again' }, { 'retry-after': '1' }), 'failed', `contacts: ${(err as Error).message}`);
      }
    }
    if (flow.inbound) {
      // a message from the contact: stored, and its sender is the contact when the flow has no identify:
      try {
        const inbound = await recordInbound(ctx, flow, scope, bindings, log.id);
        // a message event for a new message only (a redelivered webhook finds the message its first copy stored)
        if (inbound && inbound.message.logId === log.id) {
          const from = scope.contact ?? (inbound.contact && contactView(inbound.contact));
          void ctx.events.emit(messageEvent(inbound.message, from, changed, executionId));
        }
        if (inbound?.contact && !scope.contact) {
          scope.contact = contactView(inbound.contact);
          log.contactId = inbound.contact.id;
          log.identification = inbound.how;
        }
      } catch (err) {
        return finish(json(503, { error: 'the message could not be stored; try again' }, { 'retry-after': '1' }), 'failed', `inbound message: ${(err as Error).message}`);
      }
    }
    input.vars = { ...scope.vars };
    input.contactId = scope.contact?.id ?? null;
    log.executionId = executionId;
    const execution: ExecutionRecord = {
      id: executionId,
      flowId: flow.id,
      revision: flow.revision,
      logId: log.id,
      mode: flow.mode,
      status: 'queued',
      input,
      attempts: 0,
      createdAt: log.receivedAt,
      startedAt: null,
      finishedAt: null,
      error: null,
    };
    return flow.mode === 'async' ? acceptAsync(ctx, flow, log, execution, scope, bindings, finish) : runSync(ctx, flow, log, execution, scope, bindings, finish);
  }
}

function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Claims a dedupe key for this request. The first copy gets undefined and runs; a copy gets the first one's log
 * entry and, waiting for it a little when the first is still running, its answer.
 */
async function firstDelivery(ctx: EngineContext, flow: CompiledFlow, key: string, logId: string): Promise<{ firstLogId: string; answer: Answer | null } | undefined> {
  const deadline = Date.now() + DUPLICATE_WAIT_MS;
  for (;;) {
    const now = ctx.now();
    const claim = await ctx.store.claimDedupeKey(flow.id, key, logId, now.toISOString(), new Date(now.getTime() + flow.dedupe!.windowMs).toISOString());
    if (claim.first) return undefined;
    if (claim.answer || Date.now() >= deadline) return { firstLogId: claim.firstLogId, answer: claim.answer };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Records the request's outcome with its execution and answers; the one way from an answer to a commit. */
type Finish = (answer: Answer, outcome: LogOutcome, reason: string | null, execution?: ExecutionRecord, journal?: JournalEntry[], leaseUntil?: string) => Promise<Answer>;

async function acceptAsync(ctx: EngineContext, flow: CompiledFlow, log: LogEntry, execution: ExecutionRecord, scope: Scope, bindings: Record<string, unknown>, finish: Finish): Promise<Answer> {
  let answer: Answer;
  try {
    answer = await flow.response(scope, bindings);
  } catch (err) {
    log.executionId = null;
    return finish(json(500, { error: 'the flow could not render its response' }), 'failed', `response: ${(err as Error).message}`);
  }
  // when the worker has room, the execution is committed claimed by this process and runs here: no claim round
  if (!ctx.worker.reserve()) {
    const sent = await finish(answer, 'accepted', null, execution);
    if (sent === answer) ctx.worker.notify();
    return sent;
  }
  const now = ctx.now();
  Object.assign(execution, { status: 'running', attempts: 1, startedAt: isoTime(now) });
  const sent = await finish(answer, 'accepted', null, execution, undefined, new Date(now.getTime() + ctx.config.queue.leaseMs).toISOString());
  ctx.worker.runReserved(sent === answer ? execution : undefined);
  return sent;
}

/**
 * Sync: the caller gets the first `respond` (later steps go on), or, when the run ends without one, 200 with the
 * execution id and the step results; past the flow's timeout, 504. The log row and the journal so far are committed
 * before the answer leaves; steps that finish afterwards are appended, each before the next starts.
 */
async function runSync(ctx: EngineContext, flow: CompiledFlow, log: LogEntry, execution: ExecutionRecord, scope: Scope, bindings: Record<string, unknown>, finish: Finish): Promise<Answer> {
  const journal: JournalEntry[] = [];
  /** set when the answer's commit is under way: whether it committed (false: the caller was told to retry) */
  let committed: Promise<boolean> | undefined;
  let answered: Answer | undefined;
  let respondWith: (answer: Answer) => void = () => undefined;
  const responded = new Promise<Answer>((resolve) => (respondWith = resolve));
  const started = ctx.now();
  execution.status = 'running';
  execution.startedAt = isoTime(started);
  execution.attempts = 1;

  const run = runSteps(flow, {
    executionId: execution.id,
    scope,
    bindings,
    services: ctx.services(flow, execution.id),
    journal: [],
    now: ctx.now,
    onStep: async (entry) => {
      const safe = redactSecrets(entry, flow.secrets);
      // committed before the step counts as done: the answer (and the journal it commits) never leaves while the
      // send's events are still queued
      if (safe.kind === 'send') await emitSendStep(ctx, safe, scope.contact).catch(() => undefined);
      if (!committed) return void journal.push(safe);
      // after the answer, a step is journaled before the next starts, as in the worker: a resumed run must not repeat it
      if (!(await committed)) throw new Error('the request could not be stored');
      await ctx.store.appendJournal(safe);
    },
    // the first respond answers the caller; a later one is recorded in the journal but cannot change the answer
    respond: (answer) => {
      if (answered) return;
      answered = answer;
      respondWith(answer);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), flow.timeoutMs)));
  let first = await Promise.race([responded, run, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout' && !('taken' in first)) {
    // answered by a respond step: a run with nothing slow left ends within this turn, and is then committed in one
    // write with its answer instead of two
    const tick = new Promise<undefined>((resolve) => setImmediate(resolve, undefined));
    const ended = await Promise.race([run, tick]);
    if (ended) first = ended;
  }

  const ended = (result: RunResult) => {
    execution.status = result.status;
    execution.error = result.error;
    const finished = ctx.now();
    execution.finishedAt = isoTime(finished);
    ctx.metrics.execution(flow.id, 'sync', result.status, (finished.getTime() - started.getTime()) / 1000);
    emitExecution(ctx.events, flow.id, execution, result, started, finished);
  };
  let answer: Answer;
  let outcome: LogOutcome = 'completed';
  let reason: string | null = null;
  if (first === 'timeout') {
    answer = json(504, { error: `the flow did not answer within ${flow.timeoutMs} ms`, execution: execution.id });
    outcome = 'failed';
    reason = `timed out after ${flow.timeoutMs} ms`;
  } else if ('status' in first && 'taken' in first) {
    const result = first as RunResult;
    ended(result);
    if (result.status === 'failed') {
      answer = json(500, { error: 'the flow failed', execution: execution.id });
      outcome = 'failed';
      reason = result.error;
    } else {
      // the step results go back to the caller: the flow's secrets are taken out, as they are from the journal
      answer = answered ?? json(200, redactSecrets({ execution: execution.id, status: result.status, steps: scope.steps }, flow.secrets));
    }
  } else {
    answer = first as Answer;
  }
  if (execution.finishedAt !== null) {
    // a finished sync execution is never resumed: its request is in its log row, so it is not stored a second time
    const stored = { ...execution, input: { ...execution.input, request: { ...execution.input.request, headers: {}, body: null } } };
    return finish(answer, outcome, reason, stored, [...journal]);
  }
  // The caller has its answer and the rest of the run goes on. It is stored whole and leased to this process, like a
  // claimed async execution: should the process die before the run ends, a worker resumes it from its journal.
  const leaseUntil = new Date(ctx.now().getTime() + ctx.config.queue.leaseMs).toISOString();
  const sent = finish(answer, outcome, reason, execution, [...journal], leaseUntil);
  committed = sent.then((reply) => reply === answer);
  ctx.worker.follow(execution.id, run.then(async (result) => {
    if (!(await committed)) return;
    ended(result);
    await ctx.store.finishExecution(execution.id, result.status, result.error, execution.finishedAt!);
    if (outcome === 'completed' && result.status === 'failed') await ctx.store.updateLogOutcome(log.id, 'failed', log.status, result.error, log.durationMs);
  }));
  return sent;
}
