// The records the admin API answers with, as response schemas: they document the answers (the admin plugin writes
// them with JSON.stringify, nothing dropped), and test/admin-api.test.ts checks real answers against them.
import type { Contact, EventAttempt, EventAttemptOutcome, EventDelivery, EventDeliveryStatus, ExecutionRecord, ExecutionStatus, FieldChange, JournalEntry, LogEntry, LogOutcome, Message, MessageDirection, MessageStatusChange } from '../../store/types.ts';
import type { SubscriptionOverview } from '../../events/service.ts';
import type { Health, OutcomeCounts } from '../../events/health.ts';
import type { BreakerState } from '../../events/breaker.ts';
import { EVENT_FORMATS } from '../../events/subscriptions.ts';
import { anything, arrayOf, boolean, enumOf, integer, membersOf, nullable, number, openObject, record, text, type JsonSchema } from './schema.ts';

export const LOG_OUTCOMES = membersOf<LogOutcome>({ accepted: true, completed: true, rejected: true, failed: true, duplicate: true });
export const MESSAGE_DIRECTIONS = membersOf<MessageDirection>({ outbound: true, inbound: true });
export const DELIVERY_STATUSES = membersOf<EventDeliveryStatus>({ pending: true, delivered: true, failed: true });
const EXECUTION_STATUSES = membersOf<ExecutionStatus>({ queued: true, running: true, completed: true, failed: true, stopped: true });
const BREAKER_STATES = membersOf<BreakerState>({ closed: true, open: true, 'half-open': true });
const ATTEMPT_OUTCOMES = membersOf<EventAttemptOutcome>({ success: true, slow: true, error: true, rejected: true });

const time = text('ISO time');
const maybeText = nullable('string');

type Properties<T> = Record<keyof T, JsonSchema>;

export const logEntry = record({
  id: text(), receivedAt: time, flowId: text(), revision: text(), method: text(), path: text(),
  headers: openObject, query: openObject,
  body: { description: 'a JSON body (content type JSON, kept whole) as its value; any other body as its text; null: none' },
  bodyText: { ...maybeText, description: 'the body as received, cut at the log\'s size cap' },
  bodyTruncated: boolean, outcome: enumOf(LOG_OUTCOMES),
  reason: maybeText, status: integer, durationMs: number, executionId: maybeText, contactId: maybeText,
  identification: maybeText, duplicateOf: maybeText, replayOf: maybeText,
} satisfies Properties<LogEntry & { bodyText: unknown }>);

const request = record({
  method: text(), path: text(), headers: openObject, query: openObject, body: anything, ip: text(), receivedAt: time,
} satisfies Properties<ExecutionRecord['input']['request']>);

export const journalEntry = record(
  {
    executionId: text(), seq: integer, stepId: text(), kind: text(), result: anything, vars: { type: ['object', 'null'], additionalProperties: true },
    stop: boolean, startedAt: time, finishedAt: time, durationMs: number,
  } satisfies Properties<JournalEntry>,
  ['result'], // a step that returned nothing
);

export const execution = record({
  id: text(), flowId: text(), revision: text(), logId: text(), mode: enumOf(['sync', 'async']), status: enumOf(EXECUTION_STATUSES),
  input: record({ request, vars: openObject, contactId: maybeText, logged: boolean, wideBody: boolean } satisfies Properties<ExecutionRecord['input']>, ['logged', 'wideBody']),
  attempts: integer, createdAt: time, startedAt: nullable('string'), finishedAt: nullable('string'), error: maybeText,
  journal: arrayOf(journalEntry),
} satisfies Properties<ExecutionRecord & { journal: unknown }>);

export const contact = record({
  id: text(), phone: maybeText, email: maybeText, fields: openObject, createdAt: time, updatedAt: time,
} satisfies Properties<Contact>);

export const fieldChange = record({
  contactId: text(), field: text(), oldValue: anything, newValue: anything, changedAt: time, logId: maybeText,
} satisfies Properties<FieldChange>);

export const message = record({
  id: text(), direction: enumOf(MESSAGE_DIRECTIONS), channel: text(), driver: maybeText, contactId: maybeText, to: maybeText,
  from: maybeText, content: openObject, providerId: maybeText, status: text(), error: maybeText, attempts: integer,
  flowId: maybeText, executionId: maybeText, stepId: maybeText, logId: maybeText, createdAt: time, updatedAt: time,
} satisfies Properties<Message>);

export const statusChange = record({
  messageId: text(), status: text(), at: time, source: text('engine or callback'), error: maybeText,
} satisfies Properties<MessageStatusChange>);

export const delivery = record({
  id: integer, subscriptionId: text(), eventId: text(), eventType: text(), status: enumOf(DELIVERY_STATUSES), attempts: integer,
  nextAt: time, createdAt: time, lastAttemptAt: nullable('string'), lastStatus: nullable('integer'), lastError: maybeText,
  finishedAt: nullable('string'), replays: integer,
} satisfies Properties<EventDelivery>);

export const attempt = record({
  deliveryId: integer, subscriptionId: text(), eventId: text(), eventType: text(), attempt: integer, at: time,
  outcome: enumOf(ATTEMPT_OUTCOMES), status: nullable('integer'), durationMs: nullable('number'),
  error: maybeText, body: maybeText,
} satisfies Properties<EventAttempt>);

const texts = arrayOf(text());
const textsOrAll = { type: ['array', 'null'], items: text(), description: 'null: all' };
const outcomeCounts = record({ success: integer, slow: integer, error: integer, rejected: integer } satisfies Properties<OutcomeCounts>);

export const subscriptionOverview = record({
  id: text(), url: text('credentials in it redacted'), events: texts, format: enumOf(EVENT_FORMATS), channels: textsOrAll, flows: textsOrAll, enabled: boolean,
  ordered: boolean, signed: boolean, headers: arrayOf(text('a header name')), timeoutMs: integer, retrySchedule: arrayOf(integer),
  slowMs: integer,
  breaker: record({ failures: integer, windowMs: integer, cooldownMs: integer, state: enumOf(BREAKER_STATES), openedAt: nullable('string'), openUntil: nullable('string') }),
  problems: texts,
  deliveries: record({ pending: integer, delivered: integer, failed: integer } satisfies Record<EventDeliveryStatus, JsonSchema>),
  last30m: outcomeCounts,
} satisfies Properties<SubscriptionOverview>);

export const breakerState = record({ state: enumOf(BREAKER_STATES), openedAt: nullable('string'), openUntil: nullable('string'), recentFailures: integer });

export const health = {
  from: time, to: time, counts: outcomeCounts, fastestMs: nullable('number'), averageMs: nullable('number'), slowestMs: nullable('number'),
  histogram: arrayOf(record({ minute: time, ...outcomeCounts.properties as Properties<OutcomeCounts> })),
} satisfies Properties<Health>;
