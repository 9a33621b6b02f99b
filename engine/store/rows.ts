import type {
  ClaimedEventDelivery, Contact, EventAttempt, EventAttemptOutcome, EventBreakerRecord, EventDelivery, EventDeliveryStatus, EventHealthRow,
  ExecutionInput, ExecutionRecord, ExecutionStatus, FieldChange, JournalEntry, LogEntry, LogOutcome, Message, MessageStatusChange,
} from './types.ts';
import { jsonTextOf, markedWide } from '../common/scope.ts';
import { randomUUID } from 'node:crypto';
import { redactHeaders } from '../common/redact.ts';

/**
 * Rows as both backends read them back (snake_case columns; JSON as text, which the Postgres store asks its driver
 * for) into records, and the one form every stored time takes. What differs between the backends is read here too:
 * a time is text in SQLite and a Date from Postgres's timestamptz, a flag is 0/1 or a boolean, an id from a bigint
 * column a string or a number.
 */
export type Row = Record<string, unknown>;

/** One canonical ISO form, so that text order is time order in every comparison the store makes. */
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A time handed to the store, in its stored form (what Date#toISOString writes); `field` names it in the error. */
export function iso(value: string, field: string): string {
  if (CANONICAL_TIME.test(value)) return value; // already what toISOString() writes: the common case, no parse
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new Error(`${field} is not a valid time: ${JSON.stringify(value)}`);
  return time.toISOString();
}

/** a stored time: SQLite's text as stored, Postgres's Date (millisecond precision: what was stored) in that form */
function time(value: unknown): string {
  return value instanceof Date ? value.toISOString() : (value as string);
}

function timeOrNull(value: unknown): string | null {
  return value === null ? null : time(value);
}

function flag(value: unknown): boolean {
  return value === true || value === 1;
}

/** JSON text, where SQL NULL reads as JSON null */
function json(value: unknown): unknown {
  return value === null ? null : JSON.parse(value as string);
}

export function toLog(row: Row): LogEntry {
  return {
    id: row.id as string,
    receivedAt: time(row.received_at),
    flowId: row.flow_id as string,
    revision: row.revision as string,
    method: row.method as string,
    path: row.path as string,
    headers: JSON.parse(row.headers as string),
    query: JSON.parse(row.query as string),
    body: row.body as string | null,
    bodyTruncated: flag(row.body_truncated),
    outcome: row.outcome as LogOutcome,
    reason: row.reason as string | null,
    status: row.status as number,
    durationMs: row.duration_ms as number,
    executionId: row.execution_id as string | null,
    contactId: row.contact_id as string | null,
    identification: row.identification as string | null,
    duplicateOf: row.duplicate_of as string | null,
    replayOf: row.replay_of as string | null,
  };
}

/**
 * Whether an execution can lean on this log row: the row names it, and the fields they share are equal, so that the
 * row stores them once (see storedInput, and SQLite's finished sync runs in their log row). Otherwise the execution
 * keeps its own copy.
 */
export function isLogOf(log: LogEntry, e: ExecutionRecord): boolean {
  const { request } = e.input;
  return log.executionId === e.id && e.logId === log.id && e.flowId === log.flowId && e.revision === log.revision &&
    e.createdAt === log.receivedAt && request.receivedAt === log.receivedAt && request.method === log.method &&
    request.path === log.path && JSON.stringify(request.query) === JSON.stringify(log.query);
}

/** An input whose request is its log row's: what the execution's row keeps of it. */
interface LoggedInput {
  logged: true;
  ip: string;
  vars: Record<string, unknown>;
  contactId: string | null;
}

/**
 * An execution's input as its row keeps it. A request whose body its log row holds verbatim (`logged`) is kept once,
 * in the log row, committed with it: the execution keeps only what the run adds (its variables, its contact) and the
 * caller's address. readInput puts the log row's request back.
 */
export function storedInput(e: ExecutionRecord, log?: LogEntry): string {
  const { logged, ...input } = e.input;
  if (!logged || !log || !isLogOf(log, e)) {
    // its own copy of the request keeps no credential, as the log row does not (a resumed run reads them redacted)
    const request = { ...input.request, headers: redactHeaders(input.request.headers) };
    return jsonWithBody(request.body, (body) => ({ ...input, request: { ...request, body } }));
  }
  const compact: LoggedInput = { logged: true, ip: input.request.ip, vars: input.vars, contactId: input.contactId };
  return JSON.stringify(compact); // starts with LOGGED_INPUT: `logged` is its first key
}

/** Where jsonWithBody puts a body's own text: a string no value of a request or a run holds. */
const BODY_MARK = `body:${randomUUID()}`;

/** JSON of `make(body)`; a body parsed from big JSON text (markedWide) is written as that text, not serialised again (18 ms a MB). */
export function jsonWithBody(body: unknown, make: (body: unknown) => unknown): string {
  const text = jsonTextOf(body);
  if (text === undefined) return JSON.stringify(make(body));
  return JSON.stringify(make(BODY_MARK)).replace(`"${BODY_MARK}"`, () => text);
}

/** How an input kept by storedInput with its request in the log row begins: a reader can tell before parsing it. */
export const LOGGED_INPUT = '{"logged":true';

/** The log columns readInput needs of an execution's log row, prefixed (a join's names). */
export const LOGGED_REQUEST_COLUMNS = ['method', 'path', 'headers', 'query', 'body', 'received_at'];

/**
 * An execution row's input. A request kept in its log row (storedInput) is read from `log`, the log row's
 * LOGGED_REQUEST_COLUMNS: its headers as the log shows them (credentials redacted), its body parsed again.
 */
export function readInput(text: string, log: () => Row | undefined): ExecutionInput {
  const parsed = JSON.parse(text) as ExecutionInput | LoggedInput;
  if (parsed.logged !== true || !('ip' in parsed)) {
    const input = parsed as ExecutionInput;
    if (input.wideBody) markedWide(input.request.body, undefined);
    return input;
  }
  const input = parsed as LoggedInput;
  const row = log();
  // swept with the log past the retention (a run queued that long): the run knows its variables, not the request
  if (!row) return { request: { method: '', path: '', headers: {}, query: {}, body: null, ip: input.ip, receivedAt: '' }, vars: input.vars, contactId: input.contactId };
  return { request: loggedRequest(row, input.ip), vars: input.vars, contactId: input.contactId, logged: true };
}

/** A request kept in its log row (ExecutionInput.logged): its headers as the log shows them, its body parsed again. */
export function loggedRequest(row: Row, ip: string): ExecutionInput['request'] {
  return {
    method: row.method as string,
    path: row.path as string,
    headers: JSON.parse(row.headers as string),
    query: JSON.parse(row.query as string),
    body: row.body === null ? {} : JSON.parse(row.body as string),
    ip,
    receivedAt: time(row.received_at),
  };
}

export function toExecution(row: Row, log: () => Row | undefined = () => undefined): ExecutionRecord {
  return {
    id: row.id as string,
    flowId: row.flow_id as string,
    revision: row.revision as string,
    logId: row.log_id as string,
    mode: row.mode as ExecutionRecord['mode'],
    status: row.status as ExecutionStatus,
    input: readInput(row.input as string, log),
    attempts: row.attempts as number,
    createdAt: time(row.created_at),
    startedAt: timeOrNull(row.started_at),
    finishedAt: timeOrNull(row.finished_at),
    error: row.error as string | null,
  };
}

export function toJournal(row: Row): JournalEntry {
  return {
    executionId: row.execution_id as string,
    seq: row.seq as number,
    stepId: row.step_id as string,
    kind: row.kind as string,
    // SQL NULL stands for `undefined` (JSON has no such value); a JSON null is stored as JSON null
    result: row.result === null ? undefined : JSON.parse(row.result as string),
    vars: json(row.vars) as JournalEntry['vars'],
    stop: flag(row.stop),
    startedAt: time(row.started_at),
    finishedAt: time(row.finished_at),
    durationMs: row.duration_ms as number,
  };
}

export function toContact(row: Row): Contact {
  return {
    id: row.id as string,
    phone: row.phone as string | null,
    email: row.email as string | null,
    fields: JSON.parse(row.fields as string),
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
  };
}

export function toFieldChange(row: Row): FieldChange {
  return {
    contactId: row.contact_id as string,
    field: row.field as string,
    oldValue: json(row.old_value),
    newValue: json(row.new_value),
    changedAt: time(row.changed_at),
    logId: row.log_id as string | null,
  };
}

export function toMessage(row: Row): Message {
  return {
    id: row.id as string,
    direction: row.direction as Message['direction'],
    channel: row.channel as string,
    driver: row.driver as string | null,
    contactId: row.contact_id as string | null,
    to: row.to_address as string | null,
    from: row.from_address as string | null,
    content: JSON.parse(row.content as string),
    providerId: row.provider_id as string | null,
    status: row.status as string,
    error: row.error as string | null,
    attempts: row.attempts as number,
    flowId: row.flow_id as string | null,
    executionId: row.execution_id as string | null,
    stepId: row.step_id as string | null,
    logId: row.log_id as string | null,
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
  };
}

export function toStatusChange(row: Row): MessageStatusChange {
  return { messageId: row.message_id as string, status: row.status as string, at: time(row.at), source: row.source as string, error: row.error as string | null };
}

export function toDelivery(row: Row): EventDelivery {
  return {
    id: Number(row.id),
    subscriptionId: row.subscription_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    status: row.status as EventDeliveryStatus,
    attempts: row.attempts as number,
    nextAt: time(row.next_at),
    createdAt: time(row.created_at),
    lastAttemptAt: timeOrNull(row.last_attempt_at),
    lastStatus: row.last_status as number | null,
    lastError: row.last_error as string | null,
    finishedAt: timeOrNull(row.finished_at),
    replays: row.replays as number,
  };
}

export function toClaimed(row: Row): ClaimedEventDelivery {
  return { ...toDelivery(row), payload: row.payload as string };
}

export function toAttempt(row: Row): EventAttempt {
  return {
    deliveryId: Number(row.delivery_id),
    subscriptionId: row.subscription_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    attempt: row.attempt as number,
    at: time(row.at),
    outcome: row.outcome as EventAttemptOutcome,
    status: row.status as number | null,
    durationMs: row.duration_ms as number | null,
    error: row.error as string | null,
    body: row.body as string | null,
  };
}

/** a row of the health query: by minute and outcome, with the times of answered attempts */
export function toHealthRow(row: Row): EventHealthRow {
  return {
    minute: row.minute as string,
    outcome: row.outcome as EventAttemptOutcome,
    count: row.n as number,
    timed: row.timed as number,
    minMs: row.min_ms as number | null,
    maxMs: row.max_ms as number | null,
    sumMs: (row.sum_ms as number | null) ?? 0,
  };
}

export function toBreaker(row: Row): EventBreakerRecord {
  return { subscriptionId: row.subscription_id as string, openedAt: time(row.opened_at), openUntil: time(row.open_until) };
}
