import { iso, LOGGED_INPUT, LOGGED_REQUEST_COLUMNS, storedInput, toExecution, toJournal, toLog, type Row } from '../rows.ts';
import type { ExecutionRecord, ExecutionStatus, JournalEntry, LogEntry, LogOutcome, LogQuery, LogStore, OutboxEvent } from '../types.ts';
import { serialised } from '../types.ts';
import { outboxValues } from './events.ts';
import { SWEEP_SLICE, type OutboxValues, type PendingLogWrite, type PostgresSession } from './session.ts';
import { insertStatements, jsonOrNull, text, updateStatements, type Statement } from './sql.ts';

/**
 * The webhook log and the execution queue on Postgres. Request writes join the group commit (commit.ts); executions
 * are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so replicas never claim the same one, and one that dies
 * leaves its executions to whoever claims after the lease ran out. Leases compare the replicas' own clocks (`now`), as
 * the SQLite store does: replicas need synchronised clocks (NTP), with a skew well under the lease.
 */

const FINISHED: ExecutionStatus[] = ['completed', 'failed', 'stopped'];
const FINISHED_SQL = FINISHED.map((f) => `'${f}'`).join(', ');

const LOG_COLUMNS = ['id', 'received_at', 'flow_id', 'revision', 'method', 'path', 'headers', 'query', 'body', 'body_truncated', 'outcome',
  'reason', 'status', 'duration_ms', 'execution_id', 'contact_id', 'identification', 'duplicate_of', 'replay_of'];
const EXECUTION_COLUMNS = ['id', 'flow_id', 'revision', 'log_id', 'mode', 'status', 'input', 'attempts', 'created_at', 'started_at', 'finished_at', 'error', 'lease_until'];
const JOURNAL_COLUMNS = ['execution_id', 'seq', 'step_id', 'kind', 'result', 'vars', 'stop', 'started_at', 'finished_at', 'duration_ms'];

/** The part of the log's sweep that is not the log's: dedupe keys whose window ended (dedupe.ts). */
export interface ExpiredKeys {
  sweepExpired(now: string): Promise<void>;
}

export class PostgresLog implements LogStore {
  /** executions with a write queued or in flight: what journal() must wait for */
  private readonly pendingExecutions = new Map<string, number>();

  constructor(
    private readonly session: PostgresSession,
    private readonly expiredKeys: ExpiredKeys,
  ) {}

  async commitLog(log: LogEntry, execution?: ExecutionRecord, journal: JournalEntry[] = [], leaseUntil?: string, events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    const rows = serialised(() => ({
      execution: execution && executionValues(execution, leaseUntil === undefined ? null : iso(leaseUntil, 'leaseUntil'), log),
      journal: journal.map(journalValues),
    }));
    const write = this.session.batch.add({ kind: 'request', log: logValues(log), ...rows, ...withEvents(events) });
    return this.track(execution?.id, write);
  }

  async claimExecutions(limit: number, leaseMs: number, now: Date = this.session.now()): Promise<ExecutionRecord[]> {
    // Not behind the group commit: what a claim finds depends on no write still queued here. An execution whose
    // commit is queued is claimed by the next claim (the pipeline wakes the worker once it committed); one whose
    // finish is queued is still leased by this process, which renews the lease until the finish has committed.
    this.session.ensureOpen();
    if (limit <= 0) return [];
    // Each candidate list is locked with SKIP LOCKED: rows another replica is claiming right now are passed over, not
    // waited for, and a row whose claim committed meanwhile fails the re-checked WHERE. Two index walks merged, as in
    // SQLite, rather than one OR that sorts the whole backlog.
    const { rows } = await this.session.pool.query(
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
    const executions = await this.withLoggedRequests(rows);
    return executions.sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id));
  }

  async renewLease(executionId: string, leaseMs: number): Promise<void> {
    // not behind the group commit: under load a renewal that waited for the queued writes could land after the lease
    // ran out, and another replica would take a running execution over. It depends on no queued write.
    this.session.ensureOpen();
    await this.session.pool.query(`UPDATE executions SET lease_until = $2 WHERE id = $1 AND status = 'running'`, [
      executionId,
      new Date(this.session.now().getTime() + leaseMs).toISOString(),
    ]);
  }

  async journal(executionId: string): Promise<JournalEntry[]> {
    // waits for the group commit only when it holds a write of this execution: a worker starting an execution does
    // not wait for everyone else's requests to commit first
    this.session.ensureOpen();
    if (this.pendingExecutions.has(executionId)) await this.session.batch.flush();
    const { rows } = await this.session.pool.query('SELECT * FROM journal WHERE execution_id = $1 ORDER BY seq, step_id', [executionId]);
    return rows.map(toJournal);
  }

  async appendJournal(entry: JournalEntry, events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    return this.track(entry.executionId, this.session.batch.add({ kind: 'journal', entry: journalValues(entry), ...withEvents(events) }));
  }

  async finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal: JournalEntry[] = [], events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    const finish = [executionId, status, text(error), iso(finishedAt, 'finishedAt')];
    const outbox = withEvents(events);
    // queued in the same turn as the finish: the entries commit in its transaction
    const entries = journal.map((entry) => this.appendJournal(entry));
    const finished = this.track(executionId, this.session.batch.add({ kind: 'finish', id: executionId, finish, ...outbox }));
    await Promise.all([...entries, finished]);
  }

  async updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add({ kind: 'outcome', id: logId, outcome: [logId, outcome, status, text(reason), durationMs] });
  }

  async getLog(id: string): Promise<LogEntry | undefined> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM webhook_log WHERE id = $1', [id]);
    return rows[0] && toLog(rows[0]);
  }

  async listLogs(query: LogQuery): Promise<LogEntry[]> {
    await this.session.settle();
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
    const { rows } = await this.session.pool.query(
      `SELECT * FROM webhook_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT ${limit}`,
      values,
    );
    return rows.map(toLog);
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM executions WHERE id = $1', [id]);
    return rows[0] && (await this.withLoggedRequests(rows))[0];
  }

  /** execution rows as records, with the requests kept in their log rows (storedInput) read from there, in one query */
  private async withLoggedRequests(rows: Row[]): Promise<ExecutionRecord[]> {
    const logIds = rows.filter((row) => (row.input as string).startsWith(LOGGED_INPUT)).map((row) => row.log_id);
    const logs = new Map<unknown, Row>();
    if (logIds.length > 0) {
      const found = await this.session.pool.query(`SELECT id, ${LOGGED_REQUEST_COLUMNS.join(', ')} FROM webhook_log WHERE id = ANY($1)`, [logIds]);
      for (const row of found.rows) logs.set(row.id, row);
    }
    return rows.map((row) => toExecution(row, () => logs.get(row.log_id)));
  }

  async queueDepth(): Promise<number> {
    await this.session.settle();
    const { rows } = await this.session.pool.query(`SELECT count(*)::integer AS n FROM executions WHERE status IN ('queued', 'running')`);
    return rows[0].n;
  }

  async sweep(olderThan: string): Promise<number> {
    await this.session.settle();
    const { pool } = this.session;
    const cutoff = iso(olderThan, 'olderThan');
    // SKIP LOCKED: replicas sweeping at the same time share the work instead of waiting on each other's rows
    let logs = 0;
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM webhook_log WHERE id IN (SELECT id FROM webhook_log WHERE received_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [cutoff, SWEEP_SLICE],
      );
      logs += rowCount ?? 0;
      if ((rowCount ?? 0) < SWEEP_SLICE) break;
      this.session.ensureOpen();
    }
    await this.expiredKeys.sweepExpired(this.session.now().toISOString());
    // finished executions only: their journal goes with them (ON DELETE CASCADE); queued and running ones stay
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM executions WHERE id IN
           (SELECT id FROM executions WHERE status IN (${FINISHED_SQL}) AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [cutoff, SWEEP_SLICE],
      );
      if ((rowCount ?? 0) < SWEEP_SLICE) break;
      this.session.ensureOpen();
    }
    return logs;
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
}

/** The log's statements of one group-commit batch (commit.ts): inserts, then updates. */
export interface LogStatements {
  inserts: Statement[];
  updates: Statement[];
  /** whether an update targets a row inserted in the same batch (one statement's parts would not see that row) */
  updatesInserted(): boolean;
}

export function logStatements(items: PendingLogWrite[]): LogStatements {
  const logs: unknown[][] = [];
  const executions: unknown[][] = [];
  const journal: unknown[][] = [];
  // one update per row: the last one called wins, as it would applied in order
  const finishes = new Map<string, unknown[]>();
  const outcomes = new Map<string, unknown[]>();
  for (const item of items) {
    if (item.kind === 'request') {
      logs.push(item.log);
      if (item.execution) executions.push(item.execution);
      journal.push(...item.journal);
    } else if (item.kind === 'journal') journal.push(item.entry);
    else if (item.kind === 'finish') finishes.set(item.id, item.finish);
    else outcomes.set(item.id, item.outcome);
  }
  const inserted = (rows: unknown[][], ids: Iterable<string>) => {
    const set = new Set(rows.map((row) => row[0]));
    for (const id of ids) if (set.has(id)) return true;
    return false;
  };
  return {
    inserts: [
      ...insertStatements('webhook_log', LOG_COLUMNS, logs),
      ...insertStatements('executions', EXECUTION_COLUMNS, executions),
      ...insertStatements('journal', JOURNAL_COLUMNS, journal, ' ON CONFLICT (execution_id, step_id) DO NOTHING'),
    ],
    updates: [
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
    ],
    updatesInserted: () => inserted(executions, finishes.keys()) || inserted(logs, outcomes.keys()),
  };
}

/** The `events` of a write that carries its events, as column values: nothing at all when it has none (most writes). */
function withEvents(events: OutboxEvent[]): { events?: OutboxValues[] } {
  return events.length === 0 ? {} : { events: events.map(outboxValues) };
}

function logValues(log: LogEntry): unknown[] {
  return [
    log.id, iso(log.receivedAt, 'receivedAt'), log.flowId, log.revision, text(log.method), text(log.path), JSON.stringify(log.headers),
    JSON.stringify(log.query), text(log.body), log.bodyTruncated, log.outcome, text(log.reason), log.status, log.durationMs, log.executionId,
    log.contactId, log.identification, log.duplicateOf, log.replayOf,
  ];
}

function executionValues(e: ExecutionRecord, leaseUntil: string | null, log: LogEntry): unknown[] {
  return [
    e.id, e.flowId, e.revision, e.logId, e.mode, e.status, storedInput(e, log), e.attempts, iso(e.createdAt, 'createdAt'),
    e.startedAt === null ? null : iso(e.startedAt, 'startedAt'), e.finishedAt === null ? null : iso(e.finishedAt, 'finishedAt'), text(e.error),
    leaseUntil,
  ];
}

function journalValues(j: JournalEntry): unknown[] {
  return [
    // SQL NULL stands for `undefined` (JSON has no such value); a JSON null is stored as the JSON null
    j.executionId, j.seq, j.stepId, j.kind, jsonOrNull(j.result), j.vars === null ? null : JSON.stringify(j.vars), j.stop,
    iso(j.startedAt, 'startedAt'), iso(j.finishedAt, 'finishedAt'), j.durationMs,
  ];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
