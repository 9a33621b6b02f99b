/**
 * The storage boundary. The runtime speaks only this interface; SQLite (embedded default) implements it now, and a
 * Postgres implementation can follow without touching the runtime. Every method is async for that reason.
 */

/** What happened to a request that reached a flow. */
export type LogOutcome = 'accepted' | 'completed' | 'rejected' | 'failed' | 'duplicate';

export interface LogEntry {
  id: string;
  receivedAt: string; // ISO time
  flowId: string;
  revision: string;
  method: string;
  path: string;
  /** auth headers, signatures and cookies already redacted */
  headers: Record<string, unknown>;
  query: Record<string, unknown>;
  /** the body as text, cut at the log's size cap */
  body: string | null;
  bodyTruncated: boolean;
  outcome: LogOutcome;
  /** why it was rejected or failed, for people */
  reason: string | null;
  status: number;
  durationMs: number;
  executionId: string | null;
  contactId: string | null;
  /** how the contact was identified: userNs, phone, email, created, none */
  identification: string | null;
  duplicateOf: string | null;
  replayOf: string | null;
}

export type ExecutionStatus = 'queued' | 'running' | 'completed' | 'failed' | 'stopped';

/** What an execution needs to run, stored with it so that it can run (or resume) in another process. */
export interface ExecutionInput {
  request: { method: string; path: string; headers: Record<string, unknown>; query: Record<string, unknown>; body: unknown; ip: string; receivedAt: string };
  vars: Record<string, unknown>;
  contactId: string | null;
}

export interface ExecutionRecord {
  id: string;
  flowId: string;
  revision: string;
  logId: string;
  mode: 'sync' | 'async';
  status: ExecutionStatus;
  input: ExecutionInput;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
}

/** One finished step: what it returned and the variables it set, so a resumed run replays it instead of running it. */
export interface JournalEntry {
  executionId: string;
  seq: number;
  stepId: string;
  kind: string;
  result: unknown;
  vars: Record<string, unknown> | null;
  stop: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

export interface LogQuery {
  flowId?: string;
  contactId?: string;
  status?: number;
  outcome?: LogOutcome;
  since?: string; // ISO time, inclusive
  /** keyset pagination: entries older than this id's entry */
  before?: string;
  limit: number;
}

/** A person the engine talks to. The id is the contact's user_ns. Phone is E.164 and email lower-case; both unique. */
export interface Contact {
  id: string;
  phone: string | null;
  email: string | null;
  fields: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** One contact field that changed value, kept so that events can report old and new values. */
export interface FieldChange {
  contactId: string;
  field: string;
  oldValue: unknown;
  newValue: unknown;
  changedAt: string;
  logId: string | null;
}

/** The first delivery of a dedupe key: later copies within the window get its answer. */
export interface DedupeClaim {
  /** true: this request is the first and must run; false: a copy of `firstLogId` */
  first: boolean;
  firstLogId: string;
  /** the first delivery's answer, once it has one */
  answer: { status: number; headers: Record<string, string>; body: unknown } | null;
}

/** Which way a message went: sent by a flow, or received from the contact (an inbound webhook). */
export type MessageDirection = 'outbound' | 'inbound';

/**
 * One message on a channel. Outbound: rendered by a `send` step, stored before the provider is called (status
 * 'sending'), then given the provider's id and status; Twilio status callbacks move it on. Inbound: a message the
 * contact sent (a flow whose trigger is `inbound:`), status 'received'.
 */
export interface Message {
  id: string;
  direction: MessageDirection;
  channel: string;
  /** the driver that handled it (twilio-sms, twilio-voice, smtp, outbox) */
  driver: string | null;
  contactId: string | null;
  /** recipient of an outbound message, E.164 for phone channels (as given when it could not be read) */
  to: string | null;
  /** sender of an inbound message, E.164 for phone channels */
  from: string | null;
  /** what was sent or received: text, subject, html, say, url, mediaUrl, ... (secrets redacted) */
  content: Record<string, unknown>;
  /** Twilio SID, SMTP Message-ID, outbox id */
  providerId: string | null;
  status: string;
  /** why it failed, for people; never holds credentials */
  error: string | null;
  /** provider calls made (retries included) */
  attempts: number;
  flowId: string | null;
  executionId: string | null;
  stepId: string | null;
  /** inbound: the webhook log entry it came with */
  logId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A message as it is first stored: the store counts attempts and keeps the times. */
export type NewMessage = Omit<Message, 'attempts' | 'createdAt' | 'updatedAt'> & {
  /** order of the status (see engine/messages/status.ts): a callback never moves a message back */
  statusRank: number;
};

/** What changes on a message after it is stored; every change of status is recorded with its time. */
export interface MessageUpdate {
  status?: string;
  statusRank?: number;
  providerId?: string | null;
  error?: string | null;
  to?: string | null;
  contactId?: string | null;
  attempts?: number;
  /** set the status whatever the message's current rank (the engine taking over its own interrupted message) */
  force?: boolean;
}

export interface MessageStatusChange {
  messageId: string;
  status: string;
  at: string;
  /** engine (a send), callback (the provider reported it) */
  source: string;
  error: string | null;
}

export interface MessageQuery {
  contactId?: string;
  channel?: string;
  status?: string;
  direction?: MessageDirection;
  /** keyset pagination: messages older than this message */
  before?: string;
  limit: number;
}

/** Outbound events (migration 5): an event as stored, the payload exactly as it is sent. */
export interface StoredEvent {
  id: string;
  type: string;
  flowId: string | null;
  channel: string | null;
  contactId: string | null;
  /** the event as JSON text */
  payload: string;
  createdAt: string;
}

/** One delivery per event and matching subscription: the first attempt is due at `nextAt`. */
export interface NewEventDelivery {
  subscriptionId: string;
  nextAt: string;
}

/** pending: waiting or being sent; delivered: a 2xx came back; failed: every scheduled attempt failed (a dead letter) */
export type EventDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface EventDelivery {
  /** increasing: the order in which a subscription's events were stored, and are sent when it is `ordered` */
  id: number;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  status: EventDeliveryStatus;
  /** attempts that reached the sending stage (breaker rejections are not counted) */
  attempts: number;
  /** when a pending delivery is due */
  nextAt: string;
  createdAt: string;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  finishedAt: string | null;
  /** how many times it was replayed from the dead letters */
  replays: number;
}

export interface ClaimedEventDelivery extends EventDelivery {
  payload: string;
}

export interface EventDeliveryQuery {
  subscriptionId: string;
  status?: EventDeliveryStatus;
  /** keyset pagination: deliveries older than this id */
  before?: number;
  limit: number;
}

/** success: 2xx within the slow threshold; slow: 2xx past it; error: anything else; rejected: held by the breaker */
export type EventAttemptOutcome = 'success' | 'slow' | 'error' | 'rejected';

export interface EventAttempt {
  deliveryId: number;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  at: string;
  outcome: EventAttemptOutcome;
  /** the receiver's HTTP status; null when there was no answer (timeout, refused) or the breaker held it */
  status: number | null;
  durationMs: number | null;
  error: string | null;
  /** the start of the receiver's answer */
  body: string | null;
}

/** Attempts of one subscription grouped by minute (`2026-01-01T09:05`) and outcome; times are of answered attempts. */
export interface EventHealthRow {
  minute: string;
  outcome: EventAttemptOutcome;
  count: number;
  /** attempts with an HTTP answer, whose times the figures below cover */
  timed: number;
  minMs: number | null;
  maxMs: number | null;
  sumMs: number;
}

/** A circuit breaker's last open period: kept so that a restarted engine does not hammer a receiver it paused. */
export interface EventBreakerRecord {
  subscriptionId: string;
  openedAt: string;
  openUntil: string;
}

export interface Store {
  /**
   * A request's log row, with its execution if any and the journal so far, committed together or not at all: for an
   * accepted async request this is the answer's promise (the log row and the job). With `leaseUntil`, the execution
   * (status running) is committed already claimed by this process until then: the process that answered runs it at
   * once, without a claim (an async run, or a sync run going on after its answer); should it die, the lease runs out
   * and another claims it.
   */
  commitLog(log: LogEntry, execution?: ExecutionRecord, journal?: JournalEntry[], leaseUntil?: string): Promise<void>;
  /** claims up to `limit` runnable executions (queued, or running with an expired lease), marking them running */
  claimExecutions(limit: number, leaseMs: number, now?: Date): Promise<ExecutionRecord[]>;
  /** keeps a claim alive while a long execution runs */
  renewLease(executionId: string, leaseMs: number): Promise<void>;
  journal(executionId: string): Promise<JournalEntry[]>;
  /** durable before the next step starts; a second entry for the same step is refused (ignored) */
  appendJournal(entry: JournalEntry): Promise<void>;
  /** `journal`: the last entries, not appended yet, committed with the finish */
  finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal?: JournalEntry[]): Promise<void>;
  /** updates the log row of a request once its sync execution has answered or finished */
  updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void>;
  getLog(id: string): Promise<LogEntry | undefined>;
  listLogs(query: LogQuery): Promise<LogEntry[]>;
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  /** executions waiting or running: the queue depth metric */
  queueDepth(): Promise<number>;
  /** deletes log entries and finished executions older than the cut-off; returns how many log entries went */
  sweep(olderThan: string): Promise<number>;
  /**
   * Claims a dedupe key for a log entry, atomically: the first request within the window gets `first: true`; every
   * other one learns which entry was first and, once recorded, its answer.
   */
  claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim>;
  recordDedupeAnswer(flowId: string, key: string, answer: { status: number; headers: Record<string, string>; body: unknown }): Promise<void>;
  /** forgets a key whose first delivery failed, so that the sender's retry runs again */
  releaseDedupeKey(flowId: string, key: string): Promise<void>;
  findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined>;
  /**
   * Creates a contact with this phone unless one holds it already (or the email), and returns the contact that does:
   * concurrent requests for one new phone end with one contact.
   */
  createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }>;
  /** merges fields into the contact's, records each field whose value changed, and returns those changes */
  setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null): Promise<FieldChange[]>;
  listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]>;
  /** newest first */
  fieldChanges(contactId: string, limit: number): Promise<FieldChange[]>;
  close(): Promise<void>;
  /** messages (migration 4) */
  /**
   * Stores a message. An outbound message of an execution step is stored once: when the step already has one (a
   * resumed execution), that one is returned with `created: false` and nothing is written. Likewise an inbound
   * message whose provider id is already stored on the channel (a redelivered webhook).
   */
  insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }>;
  /** the message an execution's step stored, if any: what a resumed execution already attempted */
  messageForStep(executionId: string, stepId: string): Promise<Message | undefined>;
  /**
   * Changes a message; a new status is applied only when its rank is not below the message's (late callbacks never
   * move a message back) and is recorded in the status history either way. Returns the message as it is now.
   */
  updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined>;
  getMessage(id: string): Promise<Message | undefined>;
  /** the messages a provider id belongs to (a Twilio SID), newest first */
  messagesByProviderId(providerId: string): Promise<Message[]>;
  /** newest first */
  listMessages(query: MessageQuery): Promise<Message[]>;
  /** oldest first */
  messageStatusChanges(messageId: string): Promise<MessageStatusChange[]>;
  /** whether the contact (or someone at this address) has sent a message on the channel: it is open for replies */
  hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean>;
  /** outbound events (migration 5) */
  /** stores an event with its deliveries, group-committed like the log; an event id already stored is ignored (no error) */
  addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries of one subscription with a lease (due: pending, `nextAt` reached, no live
   * lease). `ordered`: at most its oldest pending delivery, and only when that one is due and not leased.
   */
  claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]>;
  /** records an attempt and moves the delivery on: pending again at `nextAt`, delivered, or failed (dead letter) */
  recordEventAttempt(attempt: EventAttempt, next: { status: EventDeliveryStatus; nextAt: string | null }): Promise<void>;
  /** the breaker holds a subscription: its due deliveries are recorded as rejected and postponed to `until` */
  holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string): Promise<number>;
  /** dead letters (failed) of a subscription, created since `since` or with these ids, become pending again now */
  replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number>;
  /** newest first */
  listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]>;
  eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>>;
  eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]>;
  /** the last error attempts, newest first */
  eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]>;
  /** one delivery's attempts, oldest first */
  eventAttempts(deliveryId: number): Promise<EventAttempt[]>;
  saveEventBreaker(record: EventBreakerRecord): Promise<void>;
  eventBreakers(): Promise<EventBreakerRecord[]>;
  /** deletes attempts, finished deliveries and their events older than the cut-off (pending ones stay); returns deliveries removed */
  sweepEvents(olderThan: string): Promise<number>;
}
