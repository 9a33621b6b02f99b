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
export interface DeliveryClaim {
  /** true: this request is the first and must run; false: a copy of `firstLogId` */
  first: boolean;
  firstLogId: string;
  /** the first delivery's answer, once it has one */
  answer: { status: number; headers: Record<string, string>; body: unknown } | null;
}

export interface Store {
  /** the async answer's promise: the log row and the queued execution are committed together, or neither is */
  commitAccepted(log: LogEntry, execution: ExecutionRecord): Promise<void>;
  /** a request that did not start an async execution (rejected, sync): its log row, with its execution if any */
  commitLog(log: LogEntry, execution?: ExecutionRecord, journal?: JournalEntry[]): Promise<void>;
  /** claims up to `limit` runnable executions (queued, or running with an expired lease), marking them running */
  claimExecutions(limit: number, leaseMs: number, now?: Date): Promise<ExecutionRecord[]>;
  /** keeps a claim alive while a long execution runs */
  renewLease(executionId: string, leaseMs: number): Promise<void>;
  journal(executionId: string): Promise<JournalEntry[]>;
  /** durable before the next step starts; a second entry for the same step is refused (ignored) */
  appendJournal(entry: JournalEntry): Promise<void>;
  finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string): Promise<void>;
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
  claimDelivery(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DeliveryClaim>;
  recordDeliveryAnswer(flowId: string, key: string, answer: { status: number; headers: Record<string, string>; body: unknown }): Promise<void>;
  /** forgets a key whose first delivery failed, so that the sender's retry runs again */
  releaseDelivery(flowId: string, key: string): Promise<void>;
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
}
