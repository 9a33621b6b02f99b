import type { Answer, Scope } from '../common/scope.ts';
import type { Contact, ExecutionInput, ExecutionRecord } from '../store/types.ts';
import type { ParsedBody } from './incoming.ts';
import { answer, commitAnswer, failRequest, rejectRequest, type RequestState } from './commit.ts';
import { evaluateParams, executionBindings, scopeOf } from '../execution/scope.ts';
import { isMarkedWide } from '../common/scope.ts';
import { contactView, identifyContact, mapFields } from '../contacts/identify.ts';
import { changedFields, variablesEvent } from '../events/producers.ts';
import { messageEvent } from '../messages/events.ts';
import { recordInbound } from '../messages/inbound.ts';

/** What the flow read from a request: its future execution's id, input and scope. */
export interface Intake {
  executionId: string;
  input: ExecutionInput;
  scope: Scope;
  bindings: Record<string, unknown>;
  /** the request's dedupe key, when the flow dedupes and this is not a replay */
  dedupeKey?: string;
  /** contact fields this request changed: field -> new value (for the inbound message's event) */
  changed: Record<string, unknown>;
}

/** Variables, params and the dedupe key: the flow reads the request. A failure here is the flow's, logged as failed. */
export async function readRequest(state: RequestState, parsed: Extract<ParsedBody, { ok: true }>, trusted: boolean): Promise<{ ok: true; intake: Intake } | { ok: false; answer: Promise<Answer> }> {
  const { ctx, flow, req, log } = state;
  const executionId = ctx.newId('ex');
  const request = { method: req.method, path: req.path, headers: req.headers as Record<string, unknown>, query: req.query, body: parsed.body, ip: req.ip, receivedAt: log.receivedAt };
  // a JSON (or empty) body the log row holds verbatim is stored there only (see ExecutionInput.logged)
  const input: ExecutionInput = { request, vars: {}, contactId: null, logged: state.bodyInLog && parsed.kind !== 'form' };
  if (isMarkedWide(parsed.body)) input.wideBody = true;
  const intake: Intake = { executionId, input, scope: scopeOf(input, null), bindings: executionBindings(executionId, flow), changed: {} };
  try {
    await evaluateParams(flow, intake.scope, intake.bindings, input.vars);
    if (flow.dedupe && !trusted) intake.dedupeKey = keyText(await flow.dedupe.key.evaluate(intake.scope, intake.bindings));
  } catch (err) {
    return { ok: false, answer: commitAnswer(state, answer(500, { error: 'the flow could not read this request' }), 'failed', `params: ${(err as Error).message}`) };
  }
  return { ok: true, intake };
}

function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Who the request is about (identify:) and what it says of them (map:). Undefined: go on; else the answer. */
export async function takeContact(state: RequestState, intake: Intake): Promise<Answer | undefined> {
  const { ctx, flow, log } = state;
  if (!flow.identify) return undefined;
  const { scope, bindings } = intake;
  try {
    const who = await identifyContact(flow, scope, bindings, ctx);
    if (!who.ok) {
      log.identification = 'rejected';
      return rejectRequest(state, 422, who.reason);
    }
    log.identification = who.how;
    if (!who.contact) return undefined;
    scope.contact = contactView(await writeMap(state, intake, who.contact));
    log.contactId = who.contact.id;
    return undefined;
  } catch (err) {
    return failRequest(state, 503, 'the contact could not be stored; try again', `contacts: ${(err as Error).message}`, { 'retry-after': '1' });
  }
}

/**
 * map: written to the request's contact; the changes go into `intake.changed` and out as a `variables` event, which
 * commits with them: the contact's fields are a transaction of their own, before the request's commit, and a retry of
 * a request whose commit failed finds no change left to report.
 */
async function writeMap(state: RequestState, intake: Intake, contact: Contact): Promise<Contact> {
  const { ctx, flow, log } = state;
  if (flow.map.length === 0) return contact;
  const ids = { executionId: intake.executionId, logId: log.id };
  const mapped = await mapFields(flow, contact, intake.scope, intake.bindings, ctx, log.id, (changes) => ctx.events.prepare(variablesEvent(flow.id, contact.id, changes, ids)));
  if (mapped.problems.length) state.notes = [state.notes, ...mapped.problems].filter(Boolean).join('; ');
  if (mapped.changes.length) intake.changed = changedFields(mapped.changes);
  return mapped.contact;
}

/** A message from the contact (trigger.inbound): stored, and its sender is the contact when the flow has no identify:. */
export async function takeInbound(state: RequestState, intake: Intake): Promise<Answer | undefined> {
  const { ctx, flow, log } = state;
  if (!flow.inbound) return undefined;
  const { scope, bindings } = intake;
  try {
    const inbound = await recordInbound(ctx, flow, scope, bindings, log.id);
    // without identify:, the sender is the contact and map: writes to them, before the message event that carries
    // the fields this request changed
    let sender = inbound?.contact ?? null;
    if (inbound?.contact && !scope.contact) {
      sender = await writeMap(state, intake, inbound.contact);
      scope.contact = contactView(sender);
      log.contactId = sender.id;
      log.identification = inbound.how;
    }
    // The message's event commits with the request's log row (the message itself is a write of its own, before it).
    // A redelivered webhook (the sender's retry after a commit that failed) finds the message its first copy stored
    // and brings its event back under the same id; a copy of one already committed is ignored. With the stored
    // contact when the inbound found it: its creation time goes into the event too.
    if (inbound) {
      const event = ctx.events.prepare(messageEvent(inbound.message, sender ?? scope.contact, intake.changed, intake.executionId));
      if (event) state.events.push(event);
    }
    return undefined;
  } catch (err) {
    return failRequest(state, 503, 'the message could not be stored; try again', `inbound message: ${(err as Error).message}`, { 'retry-after': '1' });
  }
}

/** The execution the request becomes, queued; the request path decides how it runs. */
export function newExecution(state: RequestState, intake: Intake): ExecutionRecord {
  const { flow, log } = state;
  const { input, scope } = intake;
  input.contactId = scope.contact?.id ?? null;
  log.executionId = intake.executionId;
  return {
    id: intake.executionId,
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
}
