import type Database from 'better-sqlite3';
import { isLogOf, iso, jsonWithBody, LOGGED_REQUEST_COLUMNS, storedInput, toExecution, toJournal, toLog, type Row } from '../rows.ts';
import type { ExecutionRecord, ExecutionStatus, JournalEntry, LogEntry, LogOutcome, LogQuery, LogStore, OutboxEvent } from '../types.ts';
import { serialised } from '../types.ts';
import { outboxRows, prepareOutboxWrite } from './events.ts';
import { embedRun, inlineEntry, readEmbeddedRun, times, type EmbeddedExecution, type InlineEntry } from './inline-runs.ts';
import { SWEEP_SLICE, yieldToEventLoop, type OutboxRows, type PendingLogWrite, type SqliteSession } from './session.ts';

/** The webhook log and the execution queue on SQLite: the request path's writes all join the group commit. */

const FINISHED: ExecutionStatus[] = ['completed', 'failed', 'stopped'];

/** The part of the log's sweep that is not the log's: dedupe keys whose window ended (dedupe.ts). */
export interface ExpiredKeys {
  sweepExpired(now: string): void;
}

export class SqliteLog implements LogStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(
    private readonly session: SqliteSession,
    private readonly expiredKeys: ExpiredKeys,
  ) {
    this.sql = prepare(session.db);
  }

  async commitLog(log: LogEntry, execution?: ExecutionRecord, journal: JournalEntry[] = [], leaseUntil?: string, events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    // rows are serialised here, so a value that cannot be stored fails its own caller and not the whole batch
    const outbox = withEvents(events);
    if (execution?.finishedAt && isLogOf(log, execution)) {
      // a run that ended before its answer: nothing is appended to it later, so it goes in the log row with its journal
      // (one row, not one per step or two per request: the sync request's commit is the hot path)
      const { request } = execution.input;
      const embedded = () => jsonWithBody(request.body, (body) => embedRun({ ...execution, input: { ...execution.input, request: { ...request, body } } }, journal));
      const row = serialised(() => logValues(log, embedded()));
      return this.session.batch.add({ kind: 'request', log: row, journal: [], ...outbox });
    }
    const rows = serialised(() => ({
      execution: execution && executionValues(execution, leaseUntil === undefined ? null : iso(leaseUntil, 'leaseUntil'), log),
      journal: journal.map(journalRow),
    }));
    return this.session.batch.add({ kind: 'request', log: logValues(log), ...rows, ...outbox });
  }

  async claimExecutions(limit: number, leaseMs: number, now: Date = this.session.now()): Promise<ExecutionRecord[]> {
    this.session.settle();
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    // IMMEDIATE: the write lock is taken before choosing, so another process cannot choose the same rows meanwhile
    const claim = this.session.db.transaction(() =>
      (this.sql.runnable.all({ now: at, limit: Math.floor(limit) }) as unknown as string[]).map(
        (id) => this.sql.claim.get({ id, now: at, leaseUntil }) as Row,
      ),
    );
    return claim.immediate().map((row) => this.toExecution(row));
  }

  async renewLease(executionId: string, leaseMs: number): Promise<void> {
    this.session.settle();
    this.sql.renew.run({ id: executionId, leaseUntil: new Date(this.session.now().getTime() + leaseMs).toISOString() });
  }

  async journal(executionId: string): Promise<JournalEntry[]> {
    this.session.settle();
    const rows = this.sql.journal.all(executionId).map(toJournal);
    const inline = this.sql.inlineJournal.get(executionId) as unknown as string | null | undefined;
    const entries = inline ? (JSON.parse(inline) as InlineEntry[]) : inline === undefined ? this.embeddedExecution(executionId)?.journal : undefined;
    if (!entries) return rows;
    // entries kept in the execution's row (see commitLog, finishExecution); a step journaled twice keeps its first entry
    const steps = new Set(rows.map((entry) => entry.stepId));
    const kept = entries.filter((entry) => !steps.has(entry.stepId));
    return [...rows, ...kept.map((entry) => ({ executionId, ...entry }))].sort((a, b) => a.seq - b.seq || (a.stepId < b.stepId ? -1 : a.stepId > b.stepId ? 1 : 0));
  }

  async appendJournal(entry: JournalEntry, events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add({ kind: 'journal', entry: journalRow(entry), ...withEvents(events) });
  }

  async finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal: JournalEntry[] = [], events: OutboxEvent[] = []): Promise<void> {
    this.session.ensureOpen();
    // the last entries go in the execution's row with the finish: one row written instead of one per step
    const inline = journal.length > 0 ? JSON.stringify(journal.map(inlineEntry)) : null;
    const finish = { id: executionId, status, error, finishedAt: iso(finishedAt, 'finishedAt'), journal: inline };
    return this.session.batch.add({ kind: 'finish', finish, ...withEvents(events) });
  }

  async updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add({ kind: 'outcome', outcome: { id: logId, outcome, status, reason, durationMs } });
  }

  async getLog(id: string): Promise<LogEntry | undefined> {
    this.session.settle();
    const row = this.sql.getLog.get(id);
    return row && toLog(row);
  }

  async listLogs(query: LogQuery): Promise<LogEntry[]> {
    this.session.settle();
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
    return this.session.filteredStatement(sql).all(params).map(toLog);
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    this.session.settle();
    const row = this.sql.getExecution.get(id);
    if (row) return this.toExecution(row);
    const embedded = this.embeddedExecution(id);
    if (!embedded) return undefined;
    const { journal: _, ...execution } = embedded;
    return execution;
  }

  /** an execution row, with its request from its log row when it is kept there (storedInput) */
  private toExecution(row: Row): ExecutionRecord {
    return toExecution(row, () => this.sql.loggedRequest.get(row.log_id));
  }

  /** a finished sync run kept in its log row (see commitLog) */
  private embeddedExecution(id: string): EmbeddedExecution | undefined {
    const row = this.sql.embeddedExecution.get(id);
    return row && readEmbeddedRun(row);
  }

  async queueDepth(): Promise<number> {
    this.session.settle();
    return this.sql.queueDepth.get() as unknown as number;
  }

  async sweep(olderThan: string): Promise<number> {
    this.session.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let logs = 0;
    for (;;) {
      const deleted = this.sql.sweepLogs.run({ cutoff, limit: SWEEP_SLICE }).changes;
      logs += deleted;
      if (deleted < SWEEP_SLICE) break;
      await yieldToEventLoop();
      this.session.ensureOpen();
    }
    this.expiredKeys.sweepExpired(this.session.now().toISOString());
    // finished executions only: their journal goes with them (ON DELETE CASCADE); queued and running ones stay
    while (this.sql.sweepExecutions.run({ cutoff, limit: SWEEP_SLICE }).changes === SWEEP_SLICE) {
      await yieldToEventLoop();
      this.session.ensureOpen();
    }
    return logs;
  }
}

/** The log's writes in the group commit's transaction (session.ts), one statement each, in the order queued. */
export function prepareLogWrites(db: Database.Database): (item: PendingLogWrite) => void {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  // positional: binding by name looks every column up on an object, a measurable part of the sync request's commit
  const insertLog = s(`INSERT INTO webhook_log (${LOG_COLUMNS}) VALUES (${LOG_COLUMNS.split(',').map(() => '?')})`);
  const insertExecution = s(`INSERT INTO executions (${EXECUTION_COLUMNS}) VALUES (${EXECUTION_COLUMNS.split(',').map(() => '?')})`);
  const insertJournal = s(`INSERT INTO journal (execution_id, seq, step_id, kind, result, vars, stop, started_at, finished_at, duration_ms)
    VALUES (@execution_id, @seq, @step_id, @kind, @result, @vars, @stop, @started_at, @finished_at, @duration_ms)
    ON CONFLICT (execution_id, step_id) DO NOTHING`);
  const finish = s(`UPDATE executions SET status = @status, error = @error, finished_at = @finishedAt, lease_until = NULL,
    journal = coalesce(@journal, journal) WHERE id = @id`);
  const updateLog = s(`UPDATE webhook_log SET outcome = @outcome, status = @status, reason = @reason, duration_ms = @durationMs WHERE id = @id`);
  const writeOutbox = prepareOutboxWrite(db);
  return (item) => {
    if (item.kind === 'request') {
      insertLog.run(item.log); // an array binds positionally
      if (item.execution) insertExecution.run(item.execution);
      for (const entry of item.journal) insertJournal.run(entry);
    } else if (item.kind === 'journal') insertJournal.run(item.entry);
    else if (item.kind === 'finish') finish.run(item.finish);
    else updateLog.run(item.outcome);
    // the events this write causes, in its transaction (an outbox)
    if (item.kind !== 'outcome' && item.events) for (const rows of item.events) writeOutbox(rows);
  };
}

/** The `events` of a write that carries its events, as rows: nothing at all when it has none (most writes). */
function withEvents(events: OutboxEvent[]): { events?: OutboxRows[] } {
  return events.length === 0 ? {} : { events: events.map(outboxRows) };
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  return {
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
    getLog: s('SELECT * FROM webhook_log WHERE id = ?'),
    getExecution: s('SELECT * FROM executions WHERE id = ?'),
    loggedRequest: s(`SELECT ${LOGGED_REQUEST_COLUMNS.join(', ')} FROM webhook_log WHERE id = ?`),
    journal: s('SELECT * FROM journal WHERE execution_id = ? ORDER BY seq, step_id'),
    inlineJournal: s('SELECT journal FROM executions WHERE id = ?').pluck(),
    embeddedExecution: s(`SELECT id, received_at, flow_id, revision, method, path, headers, query, body, execution_id, execution
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

const EXECUTION_COLUMNS = 'id,flow_id,revision,log_id,mode,status,input,attempts,created_at,started_at,finished_at,error,lease_until,journal';

/** An execution row's values in the order of EXECUTION_COLUMNS; its inline journal comes with the finish (finishExecution). */
function executionValues(e: ExecutionRecord, leaseUntil: string | null, log: LogEntry): unknown[] {
  const { createdAt, startedAt, finishedAt } = times(e);
  return [e.id, e.flowId, e.revision, e.logId, e.mode, e.status, storedInput(e, log), e.attempts, createdAt, startedAt, finishedAt, e.error, leaseUntil, null];
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
