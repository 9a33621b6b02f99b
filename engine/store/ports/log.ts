/**
 * The webhook log and the execution queue: every request that reached a flow, the executions it started (each with
 * the input it needs to run or resume in any process) and their journal of finished steps.
 */
import type { Mode } from '../../types/names.ts';
import type { OutboxEvent } from './events.ts';

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

/**
 * A record the store cannot write as it is (a value nested too deeply to serialise): trying again fails the same way,
 * so the request is refused, not retried. A failed commit (a full disk, a lost connection) is any other error.
 */
export class UnstorableError extends Error {
  override name = 'UnstorableError';
}

/** Builds the rows of one write: a value that cannot be serialised is an UnstorableError. */
export function serialised<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw new UnstorableError(err instanceof RangeError ? 'a value is nested too deeply to be stored' : `a value cannot be stored: ${(err as Error).message}`);
  }
}

export type ExecutionStatus = 'queued' | 'running' | 'completed' | 'failed' | 'stopped';

/** What an execution needs to run, stored with it so that it can run (or resume) in another process. */
export interface ExecutionInput {
  request: { method: string; path: string; headers: Record<string, unknown>; query: Record<string, unknown>; body: unknown; ip: string; receivedAt: string };
  /** the variables the intake added to the request's own (its params); a run starts from both */
  vars: Record<string, unknown>;
  contactId: string | null;
  /**
   * The request's body is its log row's, verbatim and whole (JSON or empty): the store keeps it there only, and an
   * execution read back gets the log row's request (its headers as the log shows them, credentials redacted).
   */
  logged?: boolean;
  /** the body was too big to copy into the variables (WIDE_BODY_BYTES): read through, on every run (scopeOf) */
  wideBody?: boolean;
}

export interface ExecutionRecord {
  id: string;
  flowId: string;
  revision: string;
  logId: string;
  mode: Mode;
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

export interface LogStore {
  /**
   * A request's log row, with its execution if any and the journal so far, committed together or not at all: for an
   * accepted async request this is the answer's promise (the log row and the job). With `leaseUntil`, the execution
   * (status running) is committed already claimed by this process until then: the process that answered runs it at
   * once, without a claim (an async run, or a sync run going on after its answer); should it die, the lease runs out
   * and another claims it. `events` (an outbox: the request's own, its journal's, a finished run's) commit with it.
   */
  commitLog(log: LogEntry, execution?: ExecutionRecord, journal?: JournalEntry[], leaseUntil?: string, events?: OutboxEvent[]): Promise<void>;
  /** claims up to `limit` runnable executions (queued, or running with an expired lease), marking them running */
  claimExecutions(limit: number, leaseMs: number, now?: Date): Promise<ExecutionRecord[]>;
  /** keeps a claim alive while a long execution runs */
  renewLease(executionId: string, leaseMs: number): Promise<void>;
  journal(executionId: string): Promise<JournalEntry[]>;
  /**
   * Durable before the next step starts; a second entry for the same step is refused (ignored). `events` (the step's:
   * a send's `message` and `status`) commit with it.
   */
  appendJournal(entry: JournalEntry, events?: OutboxEvent[]): Promise<void>;
  /** `journal`: the last entries, not appended yet, committed with the finish, as are `events` (the `execution` event) */
  finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal?: JournalEntry[], events?: OutboxEvent[]): Promise<void>;
  /** updates the log row of a request once its sync execution has answered or finished */
  updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void>;
  getLog(id: string): Promise<LogEntry | undefined>;
  listLogs(query: LogQuery): Promise<LogEntry[]>;
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  /** executions waiting or running: the queue depth metric */
  queueDepth(): Promise<number>;
  /** deletes log entries and finished executions older than the cut-off, and dedupe keys whose window ended; returns how many log entries went */
  sweep(olderThan: string): Promise<number>;
}
