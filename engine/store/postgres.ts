import pg from 'pg';
import { AsyncBatcher } from './postgres-batcher.ts';
import { PostgresEventTables, attemptWrite, eventStatements, eventWrite, type PendingEventWrite } from './postgres-events.ts';
import { migrate } from './postgres-schema.ts';
import { combine, insertStatements, iso, isoOf, MAX_COMBINED_PARAMETERS, text, updateStatements } from './postgres-sql.ts';
import type {
  ClaimedEventDelivery, EventAttempt, EventBreakerRecord, EventDelivery, EventDeliveryQuery, EventDeliveryStatus, EventHealthRow, NewEventDelivery, StoredEvent,
  Contact, DedupeClaim, ExecutionRecord, ExecutionStatus, FieldChange, JournalEntry, LogEntry, LogOutcome, LogQuery, Message, MessageQuery,
  MessageStatusChange, MessageUpdate, NewMessage, Store,
} from './types.ts';

/**
 * The store on Postgres: the same contract as SqliteStore, for several engine replicas sharing one database.
 *
 * - Request writes are group-committed like SQLite's: every write queued in one turn of the event loop (and, while a
 *   batch is in flight, every write queued meanwhile) goes into one transaction; no caller hears "committed" before
 *   COMMIT returned.
 * - Executions are claimed with `FOR UPDATE SKIP LOCKED` and a lease: replicas never claim the same execution, and
 *   one that dies leaves its executions to whoever claims after the lease ran out.
 * - Leases compare the replicas' own clocks (`now`), as the SQLite store does: replicas need synchronised clocks
 *   (NTP), with a skew well under the lease.
 */

type Row = Record<string, any>;

/** One group-committed write, already turned into column values (so a value that cannot be stored fails its caller). */
type PendingWrite =
  | { kind: 'request'; log: unknown[]; execution?: unknown[]; journal: unknown[][] }
  | { kind: 'journal'; entry: unknown[] }
  | { kind: 'finish'; id: string; finish: unknown[] }
  | { kind: 'outcome'; id: string; outcome: unknown[] }
  | PendingEventWrite;

const FINISHED: ExecutionStatus[] = ['completed', 'failed', 'stopped'];
const FINISHED_SQL = FINISHED.map((f) => `'${f}'`).join(', ');
// the sweep deletes in slices, so that a large backlog never holds many row locks in one transaction
const SWEEP_SLICE = 1_000;

const LOG_COLUMNS = ['id', 'received_at', 'flow_id', 'revision', 'method', 'path', 'headers', 'query', 'body', 'body_truncated', 'outcome',
  'reason', 'status', 'duration_ms', 'execution_id', 'contact_id', 'identification', 'duplicate_of', 'replay_of'];
const EXECUTION_COLUMNS = ['id', 'flow_id', 'revision', 'log_id', 'mode', 'status', 'input', 'attempts', 'created_at', 'started_at', 'finished_at', 'error', 'lease_until'];
const JOURNAL_COLUMNS = ['execution_id', 'seq', 'step_id', 'kind', 'result', 'vars', 'stop', 'started_at', 'finished_at', 'duration_ms'];
const MESSAGE_COLUMNS = ['id', 'direction', 'channel', 'driver', 'contact_id', 'to_address', 'from_address', 'content', 'provider_id',
  'status', 'status_rank', 'error', 'flow_id', 'execution_id', 'step_id', 'log_id', 'created_at', 'updated_at'];

// json and jsonb arrive as text: the store parses them itself, so that SQL NULL (undefined) and JSON null differ
const JSON_OIDS = new Set([114, 3802]);
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    JSON_OIDS.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export interface PostgresStoreOptions {
  now?: () => Date;
  /** connections per store (per engine process); default 10 */
  poolSize?: number;
}

export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const now = options.now ?? (() => new Date());
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: TYPES, application_name: 'hooks' });
  // an idle connection that broke (a server restart): the pool drops it; the next query reports the problem
  pool.on('error', () => undefined);
  try {
    await migrate(pool, now);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return new PostgresStore(pool, now);
}

export class PostgresStore implements Store {
  private readonly batch: AsyncBatcher<PendingWrite>;
  private readonly events: PostgresEventTables;
  /** executions with a write queued or in flight: what journal() must wait for */
  private readonly pendingExecutions = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => Date,
  ) {
    this.batch = new AsyncBatcher((items) => this.writeBatch(items));
    this.events = new PostgresEventTables(pool);
  }

  /** Group-commit counters (read-only): how many transactions the batched writes took. */
  get stats(): { batches: number; failedBatches: number } {
    return this.batch.stats;
  }

  async commitLog(log: LogEntry, execution?: ExecutionRecord, journal: JournalEntry[] = [], leaseUntil?: string): Promise<void> {
    this.ensureOpen();
    const row = execution && executionValues(execution, leaseUntil === undefined ? null : iso(leaseUntil, 'leaseUntil'));
    const write = this.batch.add({ kind: 'request', log: logValues(log), execution: row, journal: journal.map(journalValues) });
    return this.track(execution?.id, write);
  }

  async claimExecutions(limit: number, leaseMs: number, now: Date = this.now()): Promise<ExecutionRecord[]> {
    // Not behind the group commit: what a claim finds depends on no write still queued here. An execution whose
    // commit is queued is claimed by the next claim (the pipeline wakes the worker once it committed); one whose
    // finish is queued is still leased by this process, which renews the lease until the finish has committed.
    this.ensureOpen();
    if (limit <= 0) return [];
    // Each candidate list is locked with SKIP LOCKED: rows another replica is claiming right now are passed over, not
    // waited for, and a row whose claim committed meanwhile fails the re-checked WHERE. Two index walks merged, as in
    // SQLite, rather than one OR that sorts the whole backlog.
    const { rows } = await this.pool.query(
      `WITH queued AS (
         SELECT id, created_at FROM executions WHERE status = 'queued'
         ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
       ), expired AS (
         SELECT id, created_at FROM executions WHERE status = 'running' AND lease_until < $1
         ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
       ), picked AS (
         SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) c ORDER BY created_at, id LIMIT $3
       )
       UPDATE executions e
       SET status = 'running', lease_until = $2, attempts = e.attempts + 1, started_at = coalesce(e.started_at, $1)
       FROM picked WHERE e.id = picked.id
       RETURNING e.*`,
      [now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), Math.floor(limit)],
    );
    return rows.map(toExecution).sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id));
  }

  async renewLease(executionId: string, leaseMs: number): Promise<void> {
    // not behind the group commit: under load a renewal that waited for the queued writes could land after the lease
    // ran out, and another replica would take a running execution over. It depends on no queued write.
    this.ensureOpen();
    await this.pool.query(`UPDATE executions SET lease_until = $2 WHERE id = $1 AND status = 'running'`, [
      executionId,
      new Date(this.now().getTime() + leaseMs).toISOString(),
    ]);
  }

  async journal(executionId: string): Promise<JournalEntry[]> {
    // waits for the group commit only when it holds a write of this execution: a worker starting an execution does
    // not wait for everyone else's requests to commit first
    this.ensureOpen();
    if (this.pendingExecutions.has(executionId)) await this.batch.flush();
    const { rows } = await this.pool.query('SELECT * FROM journal WHERE execution_id = $1 ORDER BY seq, step_id', [executionId]);
    return rows.map(toJournal);
  }

  async appendJournal(entry: JournalEntry): Promise<void> {
    this.ensureOpen();
    return this.track(entry.executionId, this.batch.add({ kind: 'journal', entry: journalValues(entry) }));
  }

  async finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal: JournalEntry[] = []): Promise<void> {
    this.ensureOpen();
    // queued in the same turn as the finish: the entries commit in its transaction
    const entries = journal.map((entry) => this.appendJournal(entry));
    const finish = this.track(executionId, this.batch.add({ kind: 'finish', id: executionId, finish: [executionId, status, text(error), iso(finishedAt, 'finishedAt')] }));
    await Promise.all([...entries, finish]);
  }

  async updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void> {
    this.ensureOpen();
    return this.batch.add({ kind: 'outcome', id: logId, outcome: [logId, outcome, status, text(reason), durationMs] });
  }

  async getLog(id: string): Promise<LogEntry | undefined> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM webhook_log WHERE id = $1', [id]);
    return rows[0] && toLog(rows[0]);
  }

  async listLogs(query: LogQuery): Promise<LogEntry[]> {
    await this.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (value: unknown) => `$${values.push(value)}`;
    if (query.flowId !== undefined) where.push(`flow_id = ${param(query.flowId)}`);
    if (query.contactId !== undefined) where.push(`contact_id = ${param(query.contactId)}`);
    if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
    if (query.outcome !== undefined) where.push(`outcome = ${param(query.outcome)}`);
    if (query.since !== undefined) where.push(`received_at >= ${param(iso(query.since, 'since'))}`);
    // keyset: strictly older than the cursor entry, ties in received_at broken by id; an unknown cursor (swept, so
    // everything older went too) matches nothing
    if (query.before !== undefined) where.push(`(received_at, id) < (SELECT received_at, id FROM webhook_log WHERE id = ${param(query.before)})`);
    const limit = param(Math.floor(query.limit));
    const { rows } = await this.pool.query(
      `SELECT * FROM webhook_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT ${limit}`,
      values,
    );
    return rows.map(toLog);
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM executions WHERE id = $1', [id]);
    return rows[0] && toExecution(rows[0]);
  }

  async queueDepth(): Promise<number> {
    await this.settle();
    const { rows } = await this.pool.query(`SELECT count(*)::integer AS n FROM executions WHERE status IN ('queued', 'running')`);
    return rows[0].n;
  }

  async sweep(olderThan: string): Promise<number> {
    await this.settle();
    const cutoff = iso(olderThan, 'olderThan');
    // SKIP LOCKED: replicas sweeping at the same time share the work instead of waiting on each other's rows
    let logs = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM webhook_log WHERE id IN (SELECT id FROM webhook_log WHERE received_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [cutoff, SWEEP_SLICE],
      );
      logs += rowCount ?? 0;
      if ((rowCount ?? 0) < SWEEP_SLICE) break;
      this.ensureOpen();
    }
    await this.pool.query('DELETE FROM deliveries WHERE expires_at <= $1', [this.now().toISOString()]);
    // finished executions only: their journal goes with them (ON DELETE CASCADE); queued and running ones stay
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM executions WHERE id IN
           (SELECT id FROM executions WHERE status IN (${FINISHED_SQL}) AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [cutoff, SWEEP_SLICE],
      );
      if ((rowCount ?? 0) < SWEEP_SLICE) break;
      this.ensureOpen();
    }
    return logs;
  }

  async claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim> {
    await this.settle();
    const at = iso(now, 'now');
    const until = iso(expiresAt, 'expiresAt');
    const storedKey = text(key);
    for (let attempt = 0; ; attempt++) {
      // one statement: insert the key, or take over a key whose window ended; a row comes back only then
      const claimed = await this.pool.query(
        `INSERT INTO deliveries (flow_id, key, first_log_id, answer, expires_at) VALUES ($1, $2, $3, NULL, $5)
         ON CONFLICT (flow_id, key) DO UPDATE SET first_log_id = EXCLUDED.first_log_id, answer = NULL, expires_at = EXCLUDED.expires_at
           WHERE deliveries.expires_at <= $4
         RETURNING first_log_id`,
        [flowId, storedKey, logId, at, until],
      );
      if (claimed.rowCount === 1) return { first: true, firstLogId: logId, answer: null };
      const { rows } = await this.pool.query('SELECT first_log_id, answer FROM deliveries WHERE flow_id = $1 AND key = $2', [flowId, storedKey]);
      if (rows[0]) return { first: false, firstLogId: rows[0].first_log_id, answer: rows[0].answer === null ? null : JSON.parse(rows[0].answer) };
      // released between the two statements: claim again
      if (attempt >= 5) throw new Error(`dedupe key of flow ${flowId} could not be claimed`);
    }
  }

  async recordDedupeAnswer(flowId: string, key: string, answer: { status: number; headers: Record<string, string>; body: unknown }): Promise<void> {
    await this.settle();
    await this.pool.query('UPDATE deliveries SET answer = $3 WHERE flow_id = $1 AND key = $2', [flowId, text(key), JSON.stringify(answer)]);
  }

  async releaseDedupeKey(flowId: string, key: string): Promise<void> {
    await this.settle();
    await this.pool.query('DELETE FROM deliveries WHERE flow_id = $1 AND key = $2', [flowId, text(key)]);
  }

  async findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined> {
    await this.settle();
    const [column, value] = by.id !== undefined ? ['id', by.id] : by.phone !== undefined ? ['phone', by.phone] : by.email !== undefined ? ['email', by.email] : [];
    if (!column) return undefined;
    const { rows } = await this.pool.query(`SELECT * FROM contacts WHERE ${column} = $1`, [value]);
    return rows[0] && toContact(rows[0]);
  }

  async createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }> {
    await this.settle();
    const time = iso(at, 'at');
    // the unique phone and email decide who wins a race (a loser waits for the winner's commit); the loser reads the
    // winner's contact
    const { rowCount } = await this.pool.query(
      `INSERT INTO contacts (id, phone, email, fields, created_at, updated_at) VALUES ($1, $2, $3, '{}', $4, $4) ON CONFLICT DO NOTHING`,
      [contact.id, contact.phone, contact.email, time],
    );
    let { rows } = await this.pool.query('SELECT * FROM contacts WHERE phone = $1', [contact.phone]);
    if (!rows[0] && contact.email !== null) ({ rows } = await this.pool.query('SELECT * FROM contacts WHERE email = $1', [contact.email]));
    if (!rows[0]) throw new Error('the contact could not be created or found');
    return { contact: toContact(rows[0]), created: rowCount === 1 };
  }

  async setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null): Promise<FieldChange[]> {
    await this.settle();
    const time = iso(at, 'at');
    return this.transaction(async (client) => {
      // FOR UPDATE: two replicas mapping fields of one contact at once apply one after the other, none lost
      const { rows } = await client.query('SELECT fields FROM contacts WHERE id = $1 FOR UPDATE', [contactId]);
      if (!rows[0]) throw new Error(`no contact ${contactId}`);
      const current = JSON.parse(rows[0].fields) as Record<string, unknown>;
      const changes: FieldChange[] = [];
      for (const [field, value] of Object.entries(fields)) {
        if (JSON.stringify(current[field]) === JSON.stringify(value)) continue;
        changes.push({ contactId, field, oldValue: current[field] ?? null, newValue: value, changedAt: time, logId });
        current[field] = value;
      }
      if (changes.length === 0) return changes;
      await client.query('UPDATE contacts SET fields = $2, updated_at = $3 WHERE id = $1', [contactId, JSON.stringify(current), time]);
      for (const statement of insertStatements(
        'contact_field_changes',
        ['contact_id', 'field', 'old_value', 'new_value', 'changed_at', 'log_id'],
        changes.map((c) => [contactId, c.field, jsonOrNull(c.oldValue), jsonOrNull(c.newValue), time, logId]),
      )) {
        await client.query(statement);
      }
      return changes;
    });
  }

  async listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]> {
    await this.settle();
    const { rows } = await this.pool.query(
      `SELECT * FROM contacts WHERE ($1::text IS NULL OR phone = $1) AND ($2::text IS NULL OR email = $2)
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [query.phone ?? null, query.email ?? null, Math.max(1, Math.floor(query.limit))],
    );
    return rows.map(toContact);
  }

  async fieldChanges(contactId: string, limit: number): Promise<FieldChange[]> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM contact_field_changes WHERE contact_id = $1 ORDER BY id DESC LIMIT $2', [
      contactId,
      Math.max(1, Math.floor(limit)),
    ]);
    return rows.map((row) => ({
      contactId: row.contact_id,
      field: row.field,
      oldValue: parseJson(row.old_value),
      newValue: parseJson(row.new_value),
      changedAt: isoOf(row.changed_at),
      logId: row.log_id,
    }));
  }

  async insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }> {
    await this.settle();
    const time = iso(at, 'at');
    const [insert] = insertStatements('messages', MESSAGE_COLUMNS, [messageValues(message, time)]);
    // the message and its first status in one statement; nothing when the step (or the inbound provider id) has one
    const { rows } = await this.pool.query(
      `WITH m AS (${insert.text} ON CONFLICT DO NOTHING RETURNING *),
            s AS (INSERT INTO message_status_changes (message_id, status, at, source, error) SELECT id, status, created_at, 'engine', error FROM m)
       SELECT * FROM m`,
      insert.values,
    );
    if (rows[0]) return { message: toMessage(rows[0]), created: true };
    // the unique step or inbound provider id: the message stored before stays the message
    const existing =
      message.executionId !== null && message.stepId !== null
        ? await this.pool.query('SELECT * FROM messages WHERE execution_id = $1 AND step_id = $2', [message.executionId, message.stepId])
        : message.providerId !== null
          ? await this.pool.query(`SELECT * FROM messages WHERE direction = 'inbound' AND channel = $1 AND provider_id = $2`, [message.channel, message.providerId])
          : undefined;
    if (!existing?.rows[0]) throw new Error(`message ${message.id} could not be stored`);
    return { message: toMessage(existing.rows[0]), created: false };
  }

  async messageForStep(executionId: string, stepId: string): Promise<Message | undefined> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM messages WHERE execution_id = $1 AND step_id = $2', [executionId, stepId]);
    return rows[0] && toMessage(rows[0]);
  }

  async updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined> {
    await this.settle();
    const time = iso(at, 'at');
    return this.transaction(async (client) => {
      // FOR UPDATE: a status callback and the send that stored the message may land on different replicas at once
      const { rows } = await client.query('SELECT * FROM messages WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) return undefined;
      const current = toMessage(rows[0]);
      const rank = rows[0].status_rank as number;
      let status = current.status;
      let nextRank = rank;
      if (update.status !== undefined && update.status !== current.status) {
        // a status that comes late (sent after delivered) is history, not the message's state; the engine taking over
        // its own interrupted message (force) sets it whatever the rank, as SqliteStore does
        if (update.force || (update.statusRank ?? rank) >= rank) (status = update.status), (nextRank = update.statusRank ?? rank);
        await client.query('INSERT INTO message_status_changes (message_id, status, at, source, error) VALUES ($1, $2, $3, $4, $5)', [
          id,
          update.status,
          time,
          source,
          text(update.error ?? null),
        ]);
      }
      const updated = await client.query(
        `UPDATE messages SET to_address = $2, contact_id = $3, provider_id = $4, error = $5, attempts = $6, status = $7, status_rank = $8,
           updated_at = $9 WHERE id = $1 RETURNING *`,
        [
          id,
          update.to !== undefined ? update.to : current.to,
          update.contactId !== undefined ? update.contactId : current.contactId,
          update.providerId !== undefined ? update.providerId : current.providerId,
          text(update.error !== undefined ? update.error : current.error),
          update.attempts ?? current.attempts,
          status,
          nextRank,
          time,
        ],
      );
      return toMessage(updated.rows[0]);
    });
  }

  async getMessage(id: string): Promise<Message | undefined> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM messages WHERE id = $1', [id]);
    return rows[0] && toMessage(rows[0]);
  }

  async messagesByProviderId(providerId: string): Promise<Message[]> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM messages WHERE provider_id = $1 ORDER BY created_at DESC, id DESC', [providerId]);
    return rows.map(toMessage);
  }

  async listMessages(query: MessageQuery): Promise<Message[]> {
    await this.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (value: unknown) => `$${values.push(value)}`;
    if (query.contactId !== undefined) where.push(`contact_id = ${param(query.contactId)}`);
    if (query.channel !== undefined) where.push(`channel = ${param(query.channel)}`);
    if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
    if (query.direction !== undefined) where.push(`direction = ${param(query.direction)}`);
    if (query.before !== undefined) where.push(`(created_at, id) < (SELECT created_at, id FROM messages WHERE id = ${param(query.before)})`);
    const limit = param(Math.floor(query.limit));
    const { rows } = await this.pool.query(
      `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
      values,
    );
    return rows.map(toMessage);
  }

  async messageStatusChanges(messageId: string): Promise<MessageStatusChange[]> {
    await this.settle();
    const { rows } = await this.pool.query('SELECT * FROM message_status_changes WHERE message_id = $1 ORDER BY id', [messageId]);
    return rows.map((row) => ({ messageId: row.message_id, status: row.status, at: isoOf(row.at), source: row.source, error: row.error }));
  }

  async hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean> {
    await this.settle();
    if (!by.contactId && !by.from) return false;
    const { rowCount } = await this.pool.query(
      `SELECT 1 FROM messages WHERE direction = 'inbound' AND channel = $1 AND (contact_id = $2 OR from_address = $3) LIMIT 1`,
      [channel, by.contactId ?? null, by.from ?? null],
    );
    return rowCount === 1;
  }

  async addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void> {
    this.ensureOpen();
    return this.batch.add(eventWrite(event, deliveries));
  }

  async claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    await this.settle();
    return this.events.claim(subscriptionId, limit, leaseMs, now, ordered);
  }

  async recordEventAttempt(attempt: EventAttempt, next: { status: EventDeliveryStatus; nextAt: string | null }): Promise<void> {
    this.ensureOpen();
    return this.batch.add(attemptWrite(attempt, next));
  }

  async holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string): Promise<number> {
    await this.settle();
    return this.events.hold(subscriptionId, iso(now, 'now'), iso(until, 'until'), reason);
  }

  async replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    await this.settle();
    return this.events.replay(subscriptionId, { ids: query.ids, since: query.since === undefined ? undefined : iso(query.since, 'since') }, iso(now, 'now'));
  }

  async listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    await this.settle();
    return this.events.list(query);
  }

  async eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    await this.settle();
    return this.events.counts(subscriptionId);
  }

  async eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    await this.settle();
    return this.events.health(subscriptionId, iso(since, 'since'));
  }

  async eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    await this.settle();
    return this.events.errors(subscriptionId, limit);
  }

  async eventAttempts(deliveryId: number): Promise<EventAttempt[]> {
    await this.settle();
    return this.events.attempts(deliveryId);
  }

  async saveEventBreaker(record: EventBreakerRecord): Promise<void> {
    await this.settle();
    await this.events.saveBreaker(record);
  }

  async eventBreakers(): Promise<EventBreakerRecord[]> {
    await this.settle();
    return this.events.breakers();
  }

  async sweepEvents(olderThan: string): Promise<number> {
    await this.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let deliveries = 0;
    for (;;) {
      const slice = await this.events.sweepSlice(cutoff);
      deliveries += slice.deliveries;
      if (!slice.full) return deliveries;
      this.ensureOpen();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // no new calls; what is queued still commits
    await this.batch.flush();
    await this.pool.end();
  }

  /** One batch of queued writes in one transaction: inserts first (logs, executions, journal), then updates. */
  private async writeBatch(items: PendingWrite[]): Promise<void> {
    const logs: unknown[][] = [];
    const executions: unknown[][] = [];
    const journal: unknown[][] = [];
    // one update per row: the last one called wins, as it would applied in order
    const finishes = new Map<string, unknown[]>();
    const outcomes = new Map<string, unknown[]>();
    const eventWrites: PendingEventWrite[] = [];
    for (const item of items) {
      if (item.kind === 'request') {
        logs.push(item.log);
        if (item.execution) executions.push(item.execution);
        journal.push(...item.journal);
      } else if (item.kind === 'journal') journal.push(item.entry);
      else if (item.kind === 'finish') finishes.set(item.id, item.finish);
      else if (item.kind === 'outcome') outcomes.set(item.id, item.outcome);
      else eventWrites.push(item);
    }
    const events = eventStatements(eventWrites);
    const statements = [
      ...insertStatements('webhook_log', LOG_COLUMNS, logs),
      ...insertStatements('executions', EXECUTION_COLUMNS, executions),
      ...insertStatements('journal', JOURNAL_COLUMNS, journal, ' ON CONFLICT (execution_id, step_id) DO NOTHING'),
      ...events.inserts,
      ...updateStatements(
        'executions',
        ['id::text', 'status::text', 'error::text', 'finished_at::timestamptz'],
        'status = v.status, error = v.error, finished_at = v.finished_at, lease_until = NULL',
        [...finishes.values()],
      ),
      ...updateStatements(
        'webhook_log',
        ['id::text', 'outcome::text', 'status::integer', 'reason::text', 'duration_ms::double precision'],
        'outcome = v.outcome, status = v.status, reason = v.reason, duration_ms = v.duration_ms',
        [...outcomes.values()],
      ),
      ...events.updates,
    ];
    // One statement when it can be: the writes as data-modifying CTEs of one statement, which is one round trip and
    // its own transaction. Not when an update targets a row inserted in the same batch (every part of one statement
    // sees the same snapshot, so the update would miss it), nor when two updates hit one row.
    const inserted = (rows: unknown[][], ids: Iterable<string>) => {
      const set = new Set(rows.map((row) => row[0]));
      for (const id of ids) if (set.has(id)) return true;
      return false;
    };
    const single =
      statements.length === 1 ||
      (!inserted(executions, finishes.keys()) &&
        !inserted(logs, outcomes.keys()) &&
        new Set(events.updatedIds).size === events.updatedIds.length &&
        statements.reduce((n, s) => n + s.values.length, 0) <= MAX_COMBINED_PARAMETERS);
    if (single) {
      await this.pool.query(statements.length === 1 ? statements[0] : combine(statements));
      return;
    }
    await this.transaction(async (client) => {
      for (const statement of statements) await client.query(statement);
    });
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // a connection that cannot even roll back is broken: the pool must not hand it out again
      await client.query('ROLLBACK').then(
        () => client.release(),
        () => client.release(true),
      );
      throw error;
    }
  }

  /** Counts a queued write of an execution until it has committed or failed. */
  private track(executionId: string | undefined, write: Promise<void>): Promise<void> {
    if (executionId === undefined) return write;
    const pending = this.pendingExecutions;
    pending.set(executionId, (pending.get(executionId) ?? 0) + 1);
    const done = () => {
      const left = pending.get(executionId)! - 1;
      if (left > 0) pending.set(executionId, left);
      else pending.delete(executionId);
    };
    write.then(done, done);
    return write;
  }

  /** Before any other read or write: wait for what is queued, so operations apply in the order they were called. */
  private settle(): Promise<void> {
    this.ensureOpen();
    return this.batch.flush();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function parseJson(value: string | null): unknown {
  return value === null ? null : JSON.parse(value);
}

function logValues(log: LogEntry): unknown[] {
  return [
    log.id, iso(log.receivedAt, 'receivedAt'), log.flowId, log.revision, text(log.method), text(log.path), JSON.stringify(log.headers),
    JSON.stringify(log.query), text(log.body), log.bodyTruncated, log.outcome, text(log.reason), log.status, log.durationMs, log.executionId,
    log.contactId, log.identification, log.duplicateOf, log.replayOf,
  ];
}

function toLog(row: Row): LogEntry {
  return {
    id: row.id,
    receivedAt: isoOf(row.received_at),
    flowId: row.flow_id,
    revision: row.revision,
    method: row.method,
    path: row.path,
    headers: JSON.parse(row.headers),
    query: JSON.parse(row.query),
    body: row.body,
    bodyTruncated: row.body_truncated,
    outcome: row.outcome,
    reason: row.reason,
    status: row.status,
    durationMs: row.duration_ms,
    executionId: row.execution_id,
    contactId: row.contact_id,
    identification: row.identification,
    duplicateOf: row.duplicate_of,
    replayOf: row.replay_of,
  };
}

function executionValues(e: ExecutionRecord, leaseUntil: string | null = null): unknown[] {
  return [
    e.id, e.flowId, e.revision, e.logId, e.mode, e.status, JSON.stringify(e.input), e.attempts, iso(e.createdAt, 'createdAt'),
    e.startedAt === null ? null : iso(e.startedAt, 'startedAt'), e.finishedAt === null ? null : iso(e.finishedAt, 'finishedAt'), text(e.error),
    leaseUntil,
  ];
}

function toExecution(row: Row): ExecutionRecord {
  return {
    id: row.id,
    flowId: row.flow_id,
    revision: row.revision,
    logId: row.log_id,
    mode: row.mode,
    status: row.status,
    input: JSON.parse(row.input),
    attempts: row.attempts,
    createdAt: isoOf(row.created_at),
    startedAt: row.started_at === null ? null : isoOf(row.started_at),
    finishedAt: row.finished_at === null ? null : isoOf(row.finished_at),
    error: row.error,
  };
}

function journalValues(j: JournalEntry): unknown[] {
  return [
    // SQL NULL stands for `undefined` (JSON has no such value); a JSON null is stored as the JSON null
    j.executionId, j.seq, j.stepId, j.kind, jsonOrNull(j.result), j.vars === null ? null : JSON.stringify(j.vars), j.stop,
    iso(j.startedAt, 'startedAt'), iso(j.finishedAt, 'finishedAt'), j.durationMs,
  ];
}

function toJournal(row: Row): JournalEntry {
  return {
    executionId: row.execution_id,
    seq: row.seq,
    stepId: row.step_id,
    kind: row.kind,
    result: row.result === null ? undefined : JSON.parse(row.result),
    vars: row.vars === null ? null : JSON.parse(row.vars),
    stop: row.stop,
    startedAt: isoOf(row.started_at),
    finishedAt: isoOf(row.finished_at),
    durationMs: row.duration_ms,
  };
}

function toContact(row: Row): Contact {
  return {
    id: row.id,
    phone: row.phone,
    email: row.email,
    fields: JSON.parse(row.fields),
    createdAt: isoOf(row.created_at),
    updatedAt: isoOf(row.updated_at),
  };
}

function messageValues(m: NewMessage, at: string): unknown[] {
  return [
    m.id, m.direction, m.channel, m.driver, m.contactId, m.to, m.from, JSON.stringify(m.content), m.providerId, m.status, m.statusRank,
    text(m.error), m.flowId, m.executionId, m.stepId, m.logId, at, at,
  ];
}

function toMessage(row: Row): Message {
  return {
    id: row.id,
    direction: row.direction,
    channel: row.channel,
    driver: row.driver,
    contactId: row.contact_id,
    to: row.to_address,
    from: row.from_address,
    content: JSON.parse(row.content),
    providerId: row.provider_id,
    status: row.status,
    error: row.error,
    attempts: row.attempts,
    flowId: row.flow_id,
    executionId: row.execution_id,
    stepId: row.step_id,
    logId: row.log_id,
    createdAt: isoOf(row.created_at),
    updatedAt: isoOf(row.updated_at),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
