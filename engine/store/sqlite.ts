import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Batcher } from './batcher.ts';
import { startCheckpointer, WAL_LIMIT_PAGES, WAL_MAX_BYTES, type Checkpointer } from './sqlite-checkpointer.ts';
import { migrate } from './sqlite-schema.ts';
import { SqliteEventTables, attemptRows, deliveryRow, eventRow, type PendingEventWrite } from './sqlite-events.ts';
import type {
  ClaimedEventDelivery, EventAttempt, EventBreakerRecord, EventDelivery, EventDeliveryQuery, EventDeliveryStatus, EventHealthRow, NewEventDelivery, StoredEvent,
} from './types.ts';
import type {
  Contact, DedupeClaim, ExecutionRecord, ExecutionStatus, FieldChange, JournalEntry, LogEntry, LogOutcome, LogQuery, Message, MessageQuery,
  MessageStatusChange, MessageUpdate, NewMessage, Store,
} from './types.ts';

/** Rows as bound to and read from SQLite (snake_case columns, JSON as text, booleans as 0/1). */
type Row = Record<string, unknown>;
type Statement = Database.Statement<unknown[], Row>;

/**
 * One group-committed write: a request's log row (with its execution and journal when it has them), or a later
 * change to an execution. All go through one queue, in order, so each lands in the next shared transaction.
 */
type PendingWrite =
  | { kind: 'request'; log: unknown[]; execution?: unknown[]; journal: Row[] }
  | { kind: 'journal'; entry: Row }
  | { kind: 'finish'; finish: Row }
  | { kind: 'outcome'; outcome: Row }
  | PendingEventWrite;

const FINISHED: ExecutionStatus[] = ['completed', 'failed', 'stopped'];
// SQLite's own threshold for the automatic checkpoint, in pages
const DEFAULT_WAL_AUTOCHECKPOINT = 1_000;
// how long a write waits for another process's write transaction before failing with SQLITE_BUSY
const BUSY_TIMEOUT_MS = 5_000;
// a synchronous sleep: Atomics.wait on a value that never changes
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
// the sweep deletes in slices, yielding between them, so a large backlog does not stall requests or other writers
const SWEEP_SLICE = 1_000;

export interface SqliteOptions {
  now?: () => Date;
  /** a server's store: the WAL is checkpointed by a worker thread (sqlite-checkpointer.ts), started at the first write */
  backgroundCheckpoints?: { onError(message: string): void };
}

export async function openSqliteStore(file: string, options: SqliteOptions = {}): Promise<SqliteStore> {
  if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    const store = new SqliteStore(db, options.now ?? (() => new Date()));
    if (options.backgroundCheckpoints && file !== ':memory:') store.checkpointInBackground(file, options.backgroundCheckpoints.onError);
    return store;
  } catch (error) {
    db.close(); // e.g. a schema newer than this engine: do not leave the file open
    throw error;
  }
}

export class SqliteStore implements Store {
  private readonly batch: Batcher<PendingWrite>;
  private readonly sql: ReturnType<typeof prepare>;
  private readonly eventTables: SqliteEventTables;
  private readonly listStatements = new Map<string, Statement>();
  private closed = false;
  private checkpointer: Checkpointer | undefined;
  private startCheckpointer: (() => void) | undefined;
  private boundWal: (() => void) | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => Date,
  ) {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL'); // readers never block the writer; ':memory:' stays 'memory'
    // NORMAL in WAL mode: a commit is in the OS once the transaction returns, so it survives a killed process; only
    // a power loss or OS crash can lose the last commits before a checkpoint. This trade is documented for operators.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, now);
    this.sql = prepare(db);
    this.eventTables = new SqliteEventTables(db);
    const writeBatch = db.transaction((items: PendingWrite[]) => {
      for (const item of items) {
        if (item.kind === 'request') {
          this.sql.insertLog.run(item.log); // an array binds positionally
          if (item.execution) this.sql.insertExecution.run(item.execution);
          for (const entry of item.journal) this.sql.insertJournal.run(entry);
        } else if (item.kind === 'journal') this.sql.insertJournal.run(item.entry);
        else if (item.kind === 'finish') this.sql.finish.run(item.finish);
        else if (item.kind === 'event' || item.kind === 'attempt') this.eventTables.write(item);
        else this.sql.updateLog.run(item.outcome);
      }
    });
    this.batch = new Batcher((items) => {
      this.startCheckpointer?.();
      writeBatch.immediate(items);
      this.boundWal?.();
    });
  }

  /** Group-commit counters (read-only): how many transactions the batched writes took. */
  get stats(): { batches: number; failedBatches: number } {
    return this.batch.stats;
  }

  async commitLog(log: LogEntry, execution?: ExecutionRecord, journal: JournalEntry[] = [], leaseUntil?: string): Promise<void> {
    this.ensureOpen();
    // rows are serialised here, so a value that cannot be stored fails its own caller and not the whole batch
    if (execution?.finishedAt && isLogOf(log, execution)) {
      // a run that ended before its answer: nothing is appended to it later, so it goes in the log row with its journal
      // (one row, not one per step or two per request: the sync request's commit is the hot path)
      return this.batch.add({ kind: 'request', log: logValues(log, JSON.stringify(embedRun(execution, journal))), journal: [] });
    }
    const row = execution && executionValues(execution, leaseUntil === undefined ? null : iso(leaseUntil, 'leaseUntil'));
    return this.batch.add({ kind: 'request', log: logValues(log), execution: row, journal: journal.map(journalRow) });
  }

  async claimExecutions(limit: number, leaseMs: number, now: Date = this.now()): Promise<ExecutionRecord[]> {
    this.settle();
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    // IMMEDIATE: the write lock is taken before choosing, so another process cannot choose the same rows meanwhile
    const claim = this.db.transaction(() =>
      (this.sql.runnable.all({ now: at, limit: Math.floor(limit) }) as unknown as string[]).map(
        (id) => this.sql.claim.get({ id, now: at, leaseUntil }) as Row,
      ),
    );
    return claim.immediate().map(toExecution);
  }

  async renewLease(executionId: string, leaseMs: number): Promise<void> {
    this.settle();
    this.sql.renew.run({ id: executionId, leaseUntil: new Date(this.now().getTime() + leaseMs).toISOString() });
  }

  async journal(executionId: string): Promise<JournalEntry[]> {
    this.settle();
    const rows = this.sql.journal.all(executionId).map(toJournal);
    const inline = this.sql.inlineJournal.get(executionId) as unknown as string | null | undefined;
    const entries = inline ? (JSON.parse(inline) as InlineEntry[]) : inline === undefined ? this.embeddedExecution(executionId)?.journal : undefined;
    if (!entries) return rows;
    // entries kept in the execution's row (see commitLog, finishExecution); a step journaled twice keeps its first entry
    const steps = new Set(rows.map((entry) => entry.stepId));
    const kept = entries.filter((entry) => !steps.has(entry.stepId));
    return [...rows, ...kept.map((entry) => ({ executionId, ...entry }))].sort((a, b) => a.seq - b.seq || (a.stepId < b.stepId ? -1 : a.stepId > b.stepId ? 1 : 0));
  }

  async appendJournal(entry: JournalEntry): Promise<void> {
    this.ensureOpen();
    return this.batch.add({ kind: 'journal', entry: journalRow(entry) });
  }

  async finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal: JournalEntry[] = []): Promise<void> {
    this.ensureOpen();
    // the last entries go in the execution's row with the finish: one row written instead of one per step
    const inline = journal.length > 0 ? JSON.stringify(journal.map(inlineEntry)) : null;
    return this.batch.add({ kind: 'finish', finish: { id: executionId, status, error, finishedAt: iso(finishedAt, 'finishedAt'), journal: inline } });
  }

  async updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void> {
    this.ensureOpen();
    return this.batch.add({ kind: 'outcome', outcome: { id: logId, outcome, status, reason, durationMs } });
  }

  async getLog(id: string): Promise<LogEntry | undefined> {
    this.settle();
    const row = this.sql.getLog.get(id);
    return row && toLog(row);
  }

  async listLogs(query: LogQuery): Promise<LogEntry[]> {
    this.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const params: Row = { limit: Math.floor(query.limit) };
    if (query.flowId !== undefined) (where.push('flow_id = @flowId'), (params.flowId = query.flowId));
    if (query.contactId !== undefined) (where.push('contact_id = @contactId'), (params.contactId = query.contactId));
    if (query.status !== undefined) (where.push('status = @status'), (params.status = query.status));
    if (query.outcome !== undefined) (where.push('outcome = @outcome'), (params.outcome = query.outcome));
    if (query.since !== undefined) (where.push('received_at >= @since'), (params.since = iso(query.since, 'since')));
    if (query.before !== undefined) {
      // keyset: strictly older than the cursor entry, ties in received_at broken by id. An unknown cursor (swept,
      // so everything older went too) matches nothing.
      where.push('(received_at, id) < (SELECT received_at, id FROM webhook_log WHERE id = @before)');
      params.before = query.before;
    }
    const sql = `SELECT * FROM webhook_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT @limit`;
    let statement = this.listStatements.get(sql);
    if (!statement) this.listStatements.set(sql, (statement = this.db.prepare(sql)));
    return statement.all(params).map(toLog);
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    this.settle();
    const row = this.sql.getExecution.get(id);
    if (row) return toExecution(row);
    const embedded = this.embeddedExecution(id);
    if (!embedded) return undefined;
    const { journal: _, ...execution } = embedded;
    return execution;
  }

  /** a finished sync run kept in its log row (see commitLog) */
  private embeddedExecution(id: string): EmbeddedExecution | undefined {
    const row = this.sql.embeddedExecution.get(id);
    return row && readEmbeddedRun(row);
  }

  async queueDepth(): Promise<number> {
    this.settle();
    return this.sql.queueDepth.get() as unknown as number;
  }

  async sweep(olderThan: string): Promise<number> {
    this.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let logs = 0;
    for (;;) {
      const deleted = this.sql.sweepLogs.run({ cutoff, limit: SWEEP_SLICE }).changes;
      logs += deleted;
      if (deleted < SWEEP_SLICE) break;
      await yieldToEventLoop();
      this.ensureOpen();
    }
    this.sql.sweepDeliveries.run({ now: this.now().toISOString() });
    // finished executions only: their journal goes with them (ON DELETE CASCADE); queued and running ones stay
    while (this.sql.sweepExecutions.run({ cutoff, limit: SWEEP_SLICE }).changes === SWEEP_SLICE) {
      await yieldToEventLoop();
      this.ensureOpen();
    }
    return logs;
  }

  async claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim> {
    this.settle();
    const claim = this.db.transaction((): DedupeClaim => {
      // a key whose window ended is free again
      this.sql.expireDelivery.run({ flowId, key, now: iso(now, 'now') });
      if (this.sql.insertDelivery.run({ flowId, key, logId, expiresAt: iso(expiresAt, 'expiresAt') }).changes === 1) return { first: true, firstLogId: logId, answer: null };
      const row = this.sql.getDelivery.get({ flowId, key })!;
      return { first: false, firstLogId: row.first_log_id as string, answer: row.answer === null ? null : JSON.parse(row.answer as string) };
    });
    return claim.immediate();
  }

  async recordDedupeAnswer(flowId: string, key: string, answer: { status: number; headers: Record<string, string>; body: unknown }): Promise<void> {
    this.settle();
    this.sql.answerDelivery.run({ flowId, key, answer: JSON.stringify(answer) });
  }

  async releaseDedupeKey(flowId: string, key: string): Promise<void> {
    this.settle();
    this.sql.releaseDedupeKey.run({ flowId, key });
  }

  async findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined> {
    this.settle();
    const row = by.id !== undefined ? this.sql.contactById.get(by.id) : by.phone !== undefined ? this.sql.contactByPhone.get(by.phone) : by.email !== undefined ? this.sql.contactByEmail.get(by.email) : undefined;
    return row && toContact(row);
  }

  async createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }> {
    this.settle();
    const time = iso(at, 'at');
    // the unique phone and email decide who wins a race; the loser reads the winner's contact
    const created = this.sql.insertContact.run({ ...contact, at: time }).changes === 1;
    const row = this.sql.contactByPhone.get(contact.phone) ?? (contact.email !== null ? this.sql.contactByEmail.get(contact.email) : undefined);
    if (!row) throw new Error('the contact could not be created or found');
    return { contact: toContact(row), created };
  }

  async setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null): Promise<FieldChange[]> {
    this.settle();
    const time = iso(at, 'at');
    const write = this.db.transaction((): FieldChange[] => {
      const row = this.sql.contactById.get(contactId);
      if (!row) throw new Error(`no contact ${contactId}`);
      const current = JSON.parse(row.fields as string) as Record<string, unknown>;
      const changes: FieldChange[] = [];
      for (const [field, value] of Object.entries(fields)) {
        if (JSON.stringify(current[field]) === JSON.stringify(value)) continue;
        changes.push({ contactId, field, oldValue: current[field] ?? null, newValue: value, changedAt: time, logId });
        current[field] = value;
      }
      if (changes.length === 0) return changes;
      this.sql.updateContactFields.run({ id: contactId, fields: JSON.stringify(current), at: time });
      for (const c of changes) {
        this.sql.insertFieldChange.run({ contactId, field: c.field, oldValue: JSON.stringify(c.oldValue), newValue: JSON.stringify(c.newValue), at: time, logId });
      }
      return changes;
    });
    return write.immediate();
  }

  async listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]> {
    this.settle();
    return this.sql.listContacts.all({ phone: query.phone ?? null, email: query.email ?? null, limit: Math.max(1, Math.floor(query.limit)) }).map(toContact);
  }

  async fieldChanges(contactId: string, limit: number): Promise<FieldChange[]> {
    this.settle();
    return this.sql.fieldChanges.all({ contactId, limit: Math.max(1, Math.floor(limit)) }).map((row) => ({
      contactId: row.contact_id as string,
      field: row.field as string,
      oldValue: JSON.parse(row.old_value as string),
      newValue: JSON.parse(row.new_value as string),
      changedAt: row.changed_at as string,
      logId: row.log_id as string | null,
    }));
  }

  /** Hands WAL checkpoints to a worker thread from the first write on (a store that only reads needs none). */
  checkpointInBackground(file: string, onError: (message: string) => void): void {
    this.startCheckpointer = () => {
      this.startCheckpointer = undefined;
      this.db.pragma(`wal_autocheckpoint = ${WAL_LIMIT_PAGES}`);
      this.checkpointer = startCheckpointer(file, (message, stopped) => {
        // without the worker, the writer checkpoints as SQLite does by default
        if (stopped && !this.closed) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_WAL_AUTOCHECKPOINT}`);
        onError(message);
      });
      const wal = `${file}-wal`;
      this.boundWal = () => {
        // after the commit: a failure here is reported, never handed to the requests just committed
        try {
          if ((statSync(wal, { throwIfNoEntry: false })?.size ?? 0) <= WAL_MAX_BYTES) return;
          // a copy under way in the worker holds the checkpoint lock, and SQLite then gives up at once, busy handler or
          // not: the writer waits it out here, which holds back the next commits too (the bound is the point)
          const deadline = Date.now() + BUSY_TIMEOUT_MS;
          while ((this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0].busy && Date.now() < deadline) Atomics.wait(PAUSE, 0, 0, 5);
        } catch (error) {
          onError(`WAL checkpoint failed: ${(error as Error).message}`);
        }
      };
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.batch.flush();
    this.closed = true;
    await this.checkpointer?.close();
    this.db.close();
  }

  async insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }> {
    this.settle();
    const time = iso(at, 'at');
    const write = this.db.transaction((): { message: Message; created: boolean } => {
      const created = this.sql.insertMessage.run(messageRow(message, time)).changes === 1;
      if (created) {
        this.sql.insertStatusChange.run({ messageId: message.id, status: message.status, at: time, source: 'engine', error: message.error });
        return { message: toMessage(this.sql.messageById.get(message.id)!), created };
      }
      // the unique step or inbound provider id: the message stored before stays the message
      const existing =
        message.executionId !== null && message.stepId !== null
          ? this.sql.messageForStep.get({ executionId: message.executionId, stepId: message.stepId })
          : message.providerId !== null
            ? this.sql.inboundByProvider.get({ channel: message.channel, providerId: message.providerId })
            : undefined;
      if (!existing) throw new Error(`message ${message.id} could not be stored`);
      return { message: toMessage(existing), created: false };
    });
    return write.immediate();
  }

  async messageForStep(executionId: string, stepId: string): Promise<Message | undefined> {
    this.settle();
    const row = this.sql.messageForStep.get({ executionId, stepId });
    return row && toMessage(row);
  }

  async updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined> {
    this.settle();
    const time = iso(at, 'at');
    const write = this.db.transaction((): Message | undefined => {
      const row = this.sql.messageById.get(id);
      if (!row) return undefined;
      const current = toMessage(row);
      const rank = row.status_rank as number;
      const next: Row = {
        id,
        to: update.to !== undefined ? update.to : current.to,
        contactId: update.contactId !== undefined ? update.contactId : current.contactId,
        providerId: update.providerId !== undefined ? update.providerId : current.providerId,
        error: update.error !== undefined ? update.error : current.error,
        attempts: update.attempts ?? current.attempts,
        status: current.status,
        rank,
        at: time,
      };
      const newStatus = update.status !== undefined && update.status !== current.status;
      if (newStatus) {
        // a status that comes late (sent after delivered) is history, not the message's state
        if (update.force || (update.statusRank ?? rank) >= rank) Object.assign(next, { status: update.status, rank: update.statusRank ?? rank });
        this.sql.insertStatusChange.run({ messageId: id, status: update.status, at: time, source, error: update.error ?? null });
      }
      this.sql.updateMessage.run(next);
      return toMessage(this.sql.messageById.get(id)!);
    });
    return write.immediate();
  }

  async getMessage(id: string): Promise<Message | undefined> {
    this.settle();
    const row = this.sql.messageById.get(id);
    return row && toMessage(row);
  }

  async messagesByProviderId(providerId: string): Promise<Message[]> {
    this.settle();
    return this.sql.messagesByProvider.all(providerId).map(toMessage);
  }

  async listMessages(query: MessageQuery): Promise<Message[]> {
    this.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const params: Row = { limit: Math.floor(query.limit) };
    if (query.contactId !== undefined) (where.push('contact_id = @contactId'), (params.contactId = query.contactId));
    if (query.channel !== undefined) (where.push('channel = @channel'), (params.channel = query.channel));
    if (query.status !== undefined) (where.push('status = @status'), (params.status = query.status));
    if (query.direction !== undefined) (where.push('direction = @direction'), (params.direction = query.direction));
    if (query.before !== undefined) {
      // keyset: strictly older than the cursor message; messages stored in the same millisecond keep their order
      where.push('(created_at, rowid) < (SELECT created_at, rowid FROM messages WHERE id = @before)');
      params.before = query.before;
    }
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT @limit`;
    let statement = this.listStatements.get(sql);
    if (!statement) this.listStatements.set(sql, (statement = this.db.prepare(sql)));
    return statement.all(params).map(toMessage);
  }

  async messageStatusChanges(messageId: string): Promise<MessageStatusChange[]> {
    this.settle();
    return this.sql.statusChanges.all(messageId).map((row) => ({
      messageId: row.message_id as string,
      status: row.status as string,
      at: row.at as string,
      source: row.source as string,
      error: row.error as string | null,
    }));
  }

  async hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean> {
    this.settle();
    if (!by.contactId && !by.from) return false;
    return this.sql.hasInbound.get({ channel, contactId: by.contactId ?? null, from: by.from ?? null }) !== undefined;
  }

  async addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void> {
    this.ensureOpen();
    const createdAt = iso(event.createdAt, 'createdAt');
    return this.batch.add({
      kind: 'event',
      event: eventRow({ ...event, createdAt }),
      deliveries: deliveries.map((d) => deliveryRow(event.id, event.type, { ...d, nextAt: iso(d.nextAt, 'nextAt') }, createdAt)),
    });
  }

  async claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    this.settle();
    return this.eventTables.claim(subscriptionId, limit, leaseMs, now, ordered);
  }

  async recordEventAttempt(attempt: EventAttempt, next: { status: EventDeliveryStatus; nextAt: string | null }): Promise<void> {
    this.ensureOpen();
    const at = iso(attempt.at, 'at');
    return this.batch.add({ kind: 'attempt', ...attemptRows({ ...attempt, at }, { status: next.status, nextAt: next.nextAt === null ? null : iso(next.nextAt, 'nextAt') }) });
  }

  async holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string): Promise<number> {
    this.settle();
    return this.eventTables.hold(subscriptionId, iso(now, 'now'), iso(until, 'until'), reason);
  }

  async replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    this.settle();
    return this.eventTables.replay(subscriptionId, { ids: query.ids, since: query.since === undefined ? undefined : iso(query.since, 'since') }, iso(now, 'now'));
  }

  async listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    this.settle();
    return this.eventTables.list(query);
  }

  async eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    this.settle();
    return this.eventTables.counts(subscriptionId);
  }

  async eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    this.settle();
    return this.eventTables.health(subscriptionId, iso(since, 'since'));
  }

  async eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    this.settle();
    return this.eventTables.errors(subscriptionId, limit);
  }

  async eventAttempts(deliveryId: number): Promise<EventAttempt[]> {
    this.settle();
    return this.eventTables.attempts(deliveryId);
  }

  async saveEventBreaker(record: EventBreakerRecord): Promise<void> {
    this.settle();
    this.eventTables.saveBreaker({ ...record, openedAt: iso(record.openedAt, 'openedAt'), openUntil: iso(record.openUntil, 'openUntil') });
  }

  async eventBreakers(): Promise<EventBreakerRecord[]> {
    this.settle();
    return this.eventTables.breakers();
  }

  async sweepEvents(olderThan: string): Promise<number> {
    this.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let deliveries = 0;
    for (;;) {
      const slice = this.eventTables.sweepSlice(cutoff);
      deliveries += slice.deliveries;
      if (Math.max(slice.attempts, slice.deliveries, slice.events) < SqliteEventTables.SWEEP_SLICE) return deliveries;
      await yieldToEventLoop();
      this.ensureOpen();
    }
  }

  /** Before any other read or write: commit what is queued, so operations apply in the order they were called. */
  private settle(): void {
    this.ensureOpen();
    this.batch.flush();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  return {
    // positional: binding by name looks every column up on an object, a measurable part of the sync request's commit
    insertLog: s(`INSERT INTO webhook_log (${LOG_COLUMNS}) VALUES (${LOG_COLUMNS.split(',').map(() => '?')})`),
    insertExecution: s(`INSERT INTO executions (${EXECUTION_COLUMNS}) VALUES (${EXECUTION_COLUMNS.split(',').map(() => '?')})`),
    insertJournal: s(`INSERT INTO journal (execution_id, seq, step_id, kind, result, vars, stop, started_at, finished_at, duration_ms)
      VALUES (@execution_id, @seq, @step_id, @kind, @result, @vars, @stop, @started_at, @finished_at, @duration_ms)
      ON CONFLICT (execution_id, step_id) DO NOTHING`),
    // Two index walks merged, rather than one OR that sorts the whole backlog on every claim. Queued rows have no
    // lease (NULL), so (lease_until, created_at) is the runnable index's own order and still oldest first.
    runnable: s(`SELECT id FROM (
        SELECT * FROM (SELECT id, created_at FROM executions WHERE status = 'queued'
          ORDER BY lease_until, created_at, id LIMIT @limit)
        UNION ALL
        SELECT * FROM (SELECT id, created_at FROM executions WHERE status = 'running' AND lease_until < @now
          ORDER BY created_at, id LIMIT @limit))
      ORDER BY created_at, id LIMIT @limit`).pluck(),
    claim: s(`UPDATE executions
      SET status = 'running', lease_until = @leaseUntil, attempts = attempts + 1, started_at = coalesce(started_at, @now)
      WHERE id = @id RETURNING *`),
    renew: s(`UPDATE executions SET lease_until = @leaseUntil WHERE id = @id AND status = 'running'`),
    finish: s(`UPDATE executions SET status = @status, error = @error, finished_at = @finishedAt, lease_until = NULL,
      journal = coalesce(@journal, journal) WHERE id = @id`),
    updateLog: s(`UPDATE webhook_log SET outcome = @outcome, status = @status, reason = @reason, duration_ms = @durationMs WHERE id = @id`),
    getLog: s('SELECT * FROM webhook_log WHERE id = ?'),
    expireDelivery: s('DELETE FROM deliveries WHERE flow_id = @flowId AND key = @key AND expires_at <= @now'),
    insertDelivery: s(`INSERT INTO deliveries (flow_id, key, first_log_id, expires_at) VALUES (@flowId, @key, @logId, @expiresAt)
      ON CONFLICT DO NOTHING`),
    getDelivery: s('SELECT first_log_id, answer FROM deliveries WHERE flow_id = @flowId AND key = @key'),
    releaseDedupeKey: s('DELETE FROM deliveries WHERE flow_id = @flowId AND key = @key'),
    sweepDeliveries: s('DELETE FROM deliveries WHERE expires_at <= @now'),
    answerDelivery: s('UPDATE deliveries SET answer = @answer WHERE flow_id = @flowId AND key = @key'),
    contactById: s('SELECT * FROM contacts WHERE id = ?'),
    contactByPhone: s('SELECT * FROM contacts WHERE phone = ?'),
    contactByEmail: s('SELECT * FROM contacts WHERE email = ?'),
    insertContact: s(`INSERT INTO contacts (id, phone, email, fields, created_at, updated_at) VALUES (@id, @phone, @email, '{}', @at, @at)
      ON CONFLICT DO NOTHING`),
    updateContactFields: s('UPDATE contacts SET fields = @fields, updated_at = @at WHERE id = @id'),
    insertFieldChange: s(`INSERT INTO contact_field_changes (contact_id, field, old_value, new_value, changed_at, log_id)
      VALUES (@contactId, @field, @oldValue, @newValue, @at, @logId)`),
    listContacts: s(`SELECT * FROM contacts WHERE (@phone IS NULL OR phone = @phone) AND (@email IS NULL OR email = @email)
      ORDER BY created_at DESC, id DESC LIMIT @limit`),
    fieldChanges: s('SELECT * FROM contact_field_changes WHERE contact_id = @contactId ORDER BY id DESC LIMIT @limit'),
    insertMessage: s(`INSERT INTO messages (id, direction, channel, driver, contact_id, to_address, from_address, content, provider_id,
        status, status_rank, error, attempts, flow_id, execution_id, step_id, log_id, created_at, updated_at)
      VALUES (@id, @direction, @channel, @driver, @contact_id, @to_address, @from_address, @content, @provider_id, @status,
        @status_rank, @error, 0, @flow_id, @execution_id, @step_id, @log_id, @at, @at)
      ON CONFLICT DO NOTHING`),
    messageById: s('SELECT * FROM messages WHERE id = ?'),
    messageForStep: s('SELECT * FROM messages WHERE execution_id = @executionId AND step_id = @stepId'),
    inboundByProvider: s(`SELECT * FROM messages WHERE direction = 'inbound' AND channel = @channel AND provider_id = @providerId`),
    messagesByProvider: s('SELECT * FROM messages WHERE provider_id = ? ORDER BY created_at DESC, rowid DESC'),
    updateMessage: s(`UPDATE messages SET to_address = @to, contact_id = @contactId, provider_id = @providerId, error = @error,
        attempts = @attempts, status = @status, status_rank = @rank, updated_at = @at WHERE id = @id`),
    insertStatusChange: s(`INSERT INTO message_status_changes (message_id, status, at, source, error)
      VALUES (@messageId, @status, @at, @source, @error)`),
    statusChanges: s('SELECT * FROM message_status_changes WHERE message_id = ? ORDER BY id'),
    hasInbound: s(`SELECT 1 FROM messages WHERE direction = 'inbound' AND channel = @channel
        AND (contact_id = @contactId OR from_address = @from) LIMIT 1`),
    getExecution: s('SELECT * FROM executions WHERE id = ?'),
    journal: s('SELECT * FROM journal WHERE execution_id = ? ORDER BY seq, step_id'),
    inlineJournal: s('SELECT journal FROM executions WHERE id = ?').pluck(),
    embeddedExecution: s(`SELECT id, received_at, flow_id, revision, method, path, query, execution_id, execution
      FROM webhook_log WHERE execution_id = ? AND execution IS NOT NULL`),
    queueDepth: s(`SELECT count(*) FROM executions WHERE status IN ('queued', 'running')`).pluck(),
    sweepLogs: s(`DELETE FROM webhook_log WHERE rowid IN
      (SELECT rowid FROM webhook_log WHERE received_at < @cutoff LIMIT @limit)`),
    sweepExecutions: s(`DELETE FROM executions WHERE rowid IN
      (SELECT rowid FROM executions WHERE status IN (${FINISHED.map((f) => `'${f}'`).join(', ')}) AND created_at < @cutoff LIMIT @limit)`),
  };
}

const LOG_COLUMNS = 'id,received_at,flow_id,revision,method,path,headers,query,body,body_truncated,outcome,reason,status,duration_ms,execution_id,contact_id,identification,duplicate_of,replay_of,execution';

/** A log row's values in the order of LOG_COLUMNS; `execution` is a finished sync run kept in the row (see commitLog). */
function logValues(log: LogEntry, execution: string | null = null): unknown[] {
  return [
    log.id, iso(log.receivedAt, 'receivedAt'), log.flowId, log.revision, log.method, log.path, JSON.stringify(log.headers),
    JSON.stringify(log.query), log.body, log.bodyTruncated ? 1 : 0, log.outcome, log.reason, log.status, log.durationMs,
    log.executionId, log.contactId, log.identification, log.duplicateOf, log.replayOf, execution,
  ];
}

function toLog(row: Row): LogEntry {
  return {
    id: row.id as string,
    receivedAt: row.received_at as string,
    flowId: row.flow_id as string,
    revision: row.revision as string,
    method: row.method as string,
    path: row.path as string,
    headers: JSON.parse(row.headers as string),
    query: JSON.parse(row.query as string),
    body: row.body as string | null,
    bodyTruncated: row.body_truncated === 1,
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

const EXECUTION_COLUMNS = 'id,flow_id,revision,log_id,mode,status,input,attempts,created_at,started_at,finished_at,error,lease_until,journal';

/** An execution row's values in the order of EXECUTION_COLUMNS; its inline journal comes with the finish (finishExecution). */
function executionValues(e: ExecutionRecord, leaseUntil: string | null = null): unknown[] {
  const { createdAt, startedAt, finishedAt } = times(e);
  return [e.id, e.flowId, e.revision, e.logId, e.mode, e.status, JSON.stringify(e.input), e.attempts, createdAt, startedAt, finishedAt, e.error, leaseUntil, null];
}

/** An execution's times in the stored form */
function times(e: ExecutionRecord): Pick<ExecutionRecord, 'createdAt' | 'startedAt' | 'finishedAt'> {
  return {
    createdAt: iso(e.createdAt, 'createdAt'),
    startedAt: e.startedAt === null ? null : iso(e.startedAt, 'startedAt'),
    finishedAt: e.finishedAt === null ? null : iso(e.finishedAt, 'finishedAt'),
  };
}

function toExecution(row: Row): ExecutionRecord {
  return {
    id: row.id as string,
    flowId: row.flow_id as string,
    revision: row.revision as string,
    logId: row.log_id as string,
    mode: row.mode as ExecutionRecord['mode'],
    status: row.status as ExecutionStatus,
    input: JSON.parse(row.input as string),
    attempts: row.attempts as number,
    createdAt: row.created_at as string,
    startedAt: row.started_at as string | null,
    finishedAt: row.finished_at as string | null,
    error: row.error as string | null,
  };
}

function journalRow(j: JournalEntry): Row {
  return {
    execution_id: j.executionId,
    seq: j.seq,
    step_id: j.stepId,
    kind: j.kind,
    // SQL NULL stands for `undefined` (JSON has no such value); a JSON null is stored as the text 'null'
    result: j.result === undefined ? null : JSON.stringify(j.result),
    vars: j.vars === null ? null : JSON.stringify(j.vars),
    stop: j.stop ? 1 : 0,
    started_at: iso(j.startedAt, 'startedAt'),
    finished_at: iso(j.finishedAt, 'finishedAt'),
    duration_ms: j.durationMs,
  };
}

type InlineEntry = Omit<JournalEntry, 'executionId'>;
/** A finished sync run with its journal, as read back from its log row. */
type EmbeddedExecution = ExecutionRecord & { journal: InlineEntry[] };

/**
 * Whether an execution can be kept in this log row: the row names it, and the fields they share are equal, so that the
 * row stores them once (see embedRun). Otherwise the execution gets its own row.
 */
function isLogOf(log: LogEntry, e: ExecutionRecord): boolean {
  const { request } = e.input;
  return log.executionId === e.id && e.logId === log.id && e.flowId === log.flowId && e.revision === log.revision &&
    e.createdAt === log.receivedAt && request.receivedAt === log.receivedAt && request.method === log.method &&
    request.path === log.path && JSON.stringify(request.query) === JSON.stringify(log.query);
}

/**
 * A finished run as its log row keeps it: only what the row does not already hold (isLogOf), so a sync request writes
 * and serialises its id, flow, times and request once. readEmbeddedRun puts the row's fields back. Rows written before
 * this, with every field, read back the same.
 */
function embedRun(e: ExecutionRecord, journal: JournalEntry[]) {
  const { request, vars, contactId } = e.input;
  const { startedAt, finishedAt } = times(e);
  return {
    mode: e.mode, status: e.status, attempts: e.attempts, startedAt, finishedAt, error: e.error,
    input: { request: { headers: request.headers, body: request.body, ip: request.ip }, vars, contactId },
    journal: journal.map(inlineEntry),
  };
}

function readEmbeddedRun(row: Row): EmbeddedExecution {
  const run = JSON.parse(row.execution as string) as ReturnType<typeof embedRun>;
  const { request, vars, contactId } = run.input;
  const receivedAt = row.received_at as string;
  return {
    id: row.execution_id as string, flowId: row.flow_id as string, revision: row.revision as string, logId: row.id as string,
    mode: run.mode, status: run.status,
    input: {
      request: { method: row.method as string, path: row.path as string, headers: request.headers, query: JSON.parse(row.query as string), body: request.body, ip: request.ip, receivedAt },
      vars, contactId,
    },
    attempts: run.attempts, createdAt: receivedAt, startedAt: run.startedAt, finishedAt: run.finishedAt, error: run.error,
    journal: run.journal,
  };
}

/** A journal entry as kept in its execution's row (JSON leaves `result: undefined` out, which reads back the same). */
function inlineEntry({ executionId: _, ...entry }: JournalEntry): InlineEntry {
  return { ...entry, startedAt: iso(entry.startedAt, 'startedAt'), finishedAt: iso(entry.finishedAt, 'finishedAt') };
}

function toJournal(row: Row): JournalEntry {
  return {
    executionId: row.execution_id as string,
    seq: row.seq as number,
    stepId: row.step_id as string,
    kind: row.kind as string,
    result: row.result === null ? undefined : JSON.parse(row.result as string),
    vars: row.vars === null ? null : JSON.parse(row.vars as string),
    stop: row.stop === 1,
    startedAt: row.started_at as string,
    finishedAt: row.finished_at as string,
    durationMs: row.duration_ms as number,
  };
}

/** One canonical ISO form, so that text order is time order in every comparison the store makes. */
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function toContact(row: Row): Contact {
  return {
    id: row.id as string,
    phone: row.phone as string | null,
    email: row.email as string | null,
    fields: JSON.parse(row.fields as string),
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  };
}

function messageRow(m: NewMessage, at: string): Row {
  return {
    id: m.id,
    direction: m.direction,
    channel: m.channel,
    driver: m.driver,
    contact_id: m.contactId,
    to_address: m.to,
    from_address: m.from,
    content: JSON.stringify(m.content),
    provider_id: m.providerId,
    status: m.status,
    status_rank: m.statusRank,
    error: m.error,
    flow_id: m.flowId,
    execution_id: m.executionId,
    step_id: m.stepId,
    log_id: m.logId,
    at,
  };
}

function toMessage(row: Row): Message {
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
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  };
}

function iso(value: string, field: string): string {
  if (CANONICAL_TIME.test(value)) return value; // already what toISOString() writes: the common case, no parse
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new Error(`${field} is not a valid time: ${JSON.stringify(value)}`);
  return time.toISOString();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
