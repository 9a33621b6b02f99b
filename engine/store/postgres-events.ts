import type pg from 'pg';
import { insertStatements, iso, isoOf, MAX_COMBINED_PARAMETERS, text, type Statement } from './postgres-sql.ts';
import type {
  ClaimedEventDelivery, EventAttempt, EventAttemptOutcome, EventBreakerRecord, EventDelivery, EventDeliveryQuery, EventDeliveryStatus,
  EventHealthRow, NewEventDelivery, StoredEvent,
} from './types.ts';

/**
 * The Postgres side of outbound events (migration 5), as sqlite-events.ts is SQLite's: events, one delivery per event
 * and subscription, every attempt, and the circuit breakers' open periods. PostgresStore owns the pool and the group
 * commit; the writes that join the group commit come here as statements (`statements`), the rest run on their own.
 *
 * Replicas share the deliveries: a claim leases them with `FOR UPDATE SKIP LOCKED`, so each due delivery goes to one
 * replica at a time; an ordered subscription's head is locked without SKIP LOCKED, so its order holds across replicas.
 */

type Row = Record<string, any>;

/** Writes that join the store's group commit, already as column values. */
export type PendingEventWrite =
  | { kind: 'event'; event: unknown[]; deliveries: unknown[][] }
  | { kind: 'attempt'; attempt: unknown[]; delivery: unknown[] };

const EVENT_COLUMNS = ['id', 'type', 'flow_id', 'channel', 'contact_id', 'payload', 'created_at'];
const DELIVERY_COLUMNS = ['subscription_id', 'event_id', 'event_type', 'status', 'next_at', 'created_at'];
const ATTEMPT_COLUMNS = ['delivery_id', 'subscription_id', 'event_id', 'event_type', 'attempt', 'at', 'outcome', 'status', 'duration_ms', 'error', 'body'];
// the sweep deletes in slices, as the store's own sweep does
const SWEEP_SLICE = 1_000;
const DUE = `subscription_id = $1 AND status = 'pending' AND next_at <= $2 AND (lease_until IS NULL OR lease_until < $2)`;

export const EVENTS_MIGRATION = {
  version: 5,
  name: 'outbound events, their deliveries and attempts',
  sql: `
    -- one row per event that at least one subscription wanted: the payload exactly as it is sent
    CREATE TABLE events (
      id         text COLLATE "C" PRIMARY KEY,
      type       text NOT NULL,
      flow_id    text,
      channel    text,
      contact_id text,
      payload    text NOT NULL,
      created_at timestamptz NOT NULL
    );
    CREATE INDEX events_created ON events (created_at);
    -- one row per event and subscription; the id is the order an ordered subscription receives them in
    CREATE TABLE event_deliveries (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscription_id text NOT NULL,
      event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
      event_type      text NOT NULL,
      status          text NOT NULL,
      attempts        integer NOT NULL DEFAULT 0,
      next_at         timestamptz NOT NULL,
      lease_until     timestamptz,
      created_at      timestamptz NOT NULL,
      last_attempt_at timestamptz,
      last_status     integer,
      last_error      text,
      finished_at     timestamptz,
      replays         integer NOT NULL DEFAULT 0
    );
    -- what a claim looks for: a subscription's pending deliveries that are due
    CREATE INDEX event_deliveries_due ON event_deliveries (subscription_id, next_at, id) WHERE status = 'pending';
    -- an ordered subscription's first pending delivery; listing, counting and replaying by status
    CREATE INDEX event_deliveries_subscription ON event_deliveries (subscription_id, status, id);
    CREATE INDEX event_deliveries_event ON event_deliveries (event_id);
    CREATE INDEX event_deliveries_finished ON event_deliveries (created_at) WHERE status <> 'pending';
    -- every attempt (and every delivery the circuit breaker held), for the health figures and the error list;
    -- no foreign key: the retention sweep removes them on their own schedule
    CREATE TABLE event_attempts (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      delivery_id     bigint NOT NULL,
      subscription_id text NOT NULL,
      event_id        text NOT NULL,
      event_type      text NOT NULL,
      attempt         integer NOT NULL,
      at              timestamptz NOT NULL,
      outcome         text NOT NULL,
      status          integer,
      duration_ms     double precision,
      error           text,
      body            text
    );
    CREATE INDEX event_attempts_subscription ON event_attempts (subscription_id, at);
    CREATE INDEX event_attempts_errors ON event_attempts (subscription_id, id) WHERE outcome = 'error';
    CREATE INDEX event_attempts_delivery ON event_attempts (delivery_id);
    CREATE INDEX event_attempts_at ON event_attempts (at);
    -- the last open period of each subscription's circuit breaker
    CREATE TABLE event_breakers (
      subscription_id text PRIMARY KEY,
      opened_at       timestamptz NOT NULL,
      open_until      timestamptz NOT NULL
    );
  `,
};

export function eventWrite(event: StoredEvent, deliveries: NewEventDelivery[]): PendingEventWrite {
  const createdAt = iso(event.createdAt, 'createdAt');
  return {
    kind: 'event',
    event: [event.id, event.type, event.flowId, event.channel, event.contactId, event.payload, createdAt],
    deliveries: deliveries.map((d) => [d.subscriptionId, event.id, event.type, 'pending', iso(d.nextAt, 'nextAt'), createdAt]),
  };
}

export function attemptWrite(a: EventAttempt, next: { status: EventDeliveryStatus; nextAt: string | null }): PendingEventWrite {
  const at = iso(a.at, 'at');
  return {
    kind: 'attempt',
    attempt: [a.deliveryId, a.subscriptionId, a.eventId, a.eventType, a.attempt, at, a.outcome, a.status, a.durationMs, text(a.error), text(a.body)],
    delivery: [
      a.deliveryId, a.attempt, next.status, next.nextAt === null ? null : iso(next.nextAt, 'nextAt'), at, a.status,
      text(a.outcome === 'error' ? a.error : null), next.status === 'pending' ? null : at,
    ],
  };
}

/** The statements of the event writes in one group-commit batch: inserts, then the deliveries' updates in order. */
export function eventStatements(items: PendingEventWrite[]): { inserts: Statement[]; updates: Statement[]; updatedIds: number[] } {
  const events: unknown[][] = [];
  const deliveries: unknown[][] = [];
  const attempts: unknown[][] = [];
  const updates: Statement[] = [];
  const updatedIds: number[] = [];
  const seen = new Set<unknown>();
  for (const item of items) {
    if (item.kind === 'event') {
      // an event emitted twice in one batch is stored once: its first copy
      if (seen.has(item.event[0])) continue;
      seen.add(item.event[0]);
      events.push(item.event);
      deliveries.push(...item.deliveries);
    } else {
      attempts.push(item.attempt);
      updatedIds.push(item.delivery[0] as number);
      // only a delivery still pending: a replay or another replica's newer attempt is not overwritten by a late one
      updates.push({
        text: `UPDATE event_deliveries SET attempts = $2, status = $3, next_at = coalesce($4, next_at), lease_until = NULL,
            last_attempt_at = $5, last_status = $6, last_error = $7, finished_at = $8
          WHERE id = $1 AND status = 'pending'`,
        values: item.delivery,
      });
    }
  }
  return {
    inserts: [
      // an event id stored before (a producer emitting the same event again) is not stored or delivered again, and
      // never fails the batch it shares with other requests' writes
      ...insertStatements('events', EVENT_COLUMNS, events, ' ON CONFLICT (id) DO NOTHING'),
      ...newDeliveryStatements(deliveries),
      ...insertStatements('event_attempts', ATTEMPT_COLUMNS, attempts),
    ],
    updates,
    updatedIds,
  };
}

/**
 * The deliveries' INSERTs, without a second delivery of one event to one subscription (a copy of an event stored
 * before). Checked against the deliveries, not the events: a batch run as one statement does not see its own events,
 * one run as a transaction would.
 */
function newDeliveryStatements(rows: unknown[][]): Statement[] {
  const statements: Statement[] = [];
  const columns = DELIVERY_COLUMNS.join(', ');
  const perStatement = Math.floor(MAX_COMBINED_PARAMETERS / DELIVERY_COLUMNS.length);
  for (let start = 0; start < rows.length; start += perStatement) {
    const values: unknown[] = [];
    const $ = (value: unknown) => `$${values.push(value)}`;
    const tuples = rows.slice(start, start + perStatement).map(([sub, event, type, status, nextAt, createdAt]) =>
      `(${$(sub)}, ${$(event)}, ${$(type)}, ${$(status)}, ${$(nextAt)}::timestamptz, ${$(createdAt)}::timestamptz)`);
    statements.push({
      text: `INSERT INTO event_deliveries (${columns}) SELECT * FROM (VALUES ${tuples.join(', ')}) AS d (${columns})
        WHERE NOT EXISTS (SELECT 1 FROM event_deliveries x WHERE x.event_id = d.event_id AND x.subscription_id = d.subscription_id)`,
      values,
    });
  }
  return statements;
}

export class PostgresEventTables {
  constructor(private readonly pool: pg.Pool) {}

  async claim(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    // Ordered: the subscription's first pending delivery, locked (waiting for a replica claiming it right now, never
    // skipping past it), and leased only when due and not leased already. Unordered: the due ones, SKIP LOCKED.
    const pick = ordered
      ? `SELECT id FROM event_deliveries WHERE subscription_id = $1 AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE`
      : `SELECT id FROM event_deliveries WHERE ${DUE} ORDER BY next_at, id LIMIT $4 FOR UPDATE SKIP LOCKED`;
    const { rows } = await this.pool.query(
      `WITH picked AS (${pick})
       UPDATE event_deliveries d SET lease_until = $3 FROM picked
       WHERE d.id = picked.id AND d.next_at <= $2 AND (d.lease_until IS NULL OR d.lease_until < $2)
       RETURNING d.*, (SELECT payload FROM events e WHERE e.id = d.event_id) AS payload`,
      ordered ? [subscriptionId, at, leaseUntil] : [subscriptionId, at, leaseUntil, Math.floor(limit)],
    );
    return rows.map(toClaimed).sort((a, b) => (a.nextAt < b.nextAt ? -1 : a.nextAt > b.nextAt ? 1 : a.id - b.id));
  }

  async hold(subscriptionId: string, now: string, until: string, reason: string): Promise<number> {
    // the due deliveries, each recorded as rejected and postponed, in one statement
    const { rowCount } = await this.pool.query(
      `WITH due AS (SELECT id, subscription_id, event_id, event_type, attempts FROM event_deliveries WHERE ${DUE} FOR UPDATE SKIP LOCKED),
            rejected AS (
              INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
              SELECT id, subscription_id, event_id, event_type, attempts + 1, $2::timestamptz, 'rejected', NULL, NULL, $4::text, NULL FROM due)
       UPDATE event_deliveries d SET next_at = $3 FROM due WHERE d.id = due.id`,
      [subscriptionId, now, until, text(reason)],
    );
    return rowCount ?? 0;
  }

  async replay(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    const set = `status = 'pending', attempts = 0, next_at = $2, lease_until = NULL, finished_at = NULL, replays = replays + 1`;
    const { rowCount } = query.ids
      ? await this.pool.query(`UPDATE event_deliveries SET ${set} WHERE subscription_id = $1 AND status = 'failed' AND id = ANY($3::bigint[])`, [
          subscriptionId,
          now,
          query.ids,
        ])
      : await this.pool.query(`UPDATE event_deliveries SET ${set} WHERE subscription_id = $1 AND status = 'failed' AND ($3::timestamptz IS NULL OR created_at >= $3)`, [
          subscriptionId,
          now,
          query.since ?? null,
        ]);
    return rowCount ?? 0;
  }

  async list(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    if (query.limit <= 0) return [];
    const { rows } = await this.pool.query(
      `SELECT * FROM event_deliveries WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [query.subscriptionId, query.status ?? null, query.before ?? null, Math.floor(query.limit)],
    );
    return rows.map(toDelivery);
  }

  async counts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    const { rows } = await this.pool.query('SELECT status, count(*)::integer AS n FROM event_deliveries WHERE subscription_id = $1 GROUP BY status', [subscriptionId]);
    const counts: Record<EventDeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const row of rows) if (row.status in counts) counts[row.status as EventDeliveryStatus] = row.n;
    return counts;
  }

  async health(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    // by minute (2026-01-01T09:05, UTC) and outcome; times only of answered attempts
    const { rows } = await this.pool.query(
      `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS minute, outcome, count(*)::integer AS n, count(status)::integer AS timed,
         min(duration_ms) FILTER (WHERE status IS NOT NULL) AS min_ms, max(duration_ms) FILTER (WHERE status IS NOT NULL) AS max_ms,
         sum(duration_ms) FILTER (WHERE status IS NOT NULL) AS sum_ms
       FROM event_attempts WHERE subscription_id = $1 AND at >= $2 GROUP BY minute, outcome ORDER BY minute, outcome`,
      [subscriptionId, since],
    );
    return rows.map((row) => ({
      minute: row.minute,
      outcome: row.outcome as EventAttemptOutcome,
      count: row.n,
      timed: row.timed,
      minMs: row.min_ms,
      maxMs: row.max_ms,
      sumMs: row.sum_ms ?? 0,
    }));
  }

  async errors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    const { rows } = await this.pool.query(`SELECT * FROM event_attempts WHERE subscription_id = $1 AND outcome = 'error' ORDER BY id DESC LIMIT $2`, [
      subscriptionId,
      Math.max(1, Math.floor(limit)),
    ]);
    return rows.map(toAttempt);
  }

  async attempts(deliveryId: number): Promise<EventAttempt[]> {
    const { rows } = await this.pool.query('SELECT * FROM event_attempts WHERE delivery_id = $1 ORDER BY id', [deliveryId]);
    return rows.map(toAttempt);
  }

  async saveBreaker(record: EventBreakerRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO event_breakers (subscription_id, opened_at, open_until) VALUES ($1, $2, $3)
       ON CONFLICT (subscription_id) DO UPDATE SET opened_at = excluded.opened_at, open_until = excluded.open_until`,
      [record.subscriptionId, iso(record.openedAt, 'openedAt'), iso(record.openUntil, 'openUntil')],
    );
  }

  async breakers(): Promise<EventBreakerRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM event_breakers ORDER BY subscription_id');
    return rows.map((row) => ({ subscriptionId: row.subscription_id, openedAt: isoOf(row.opened_at), openUntil: isoOf(row.open_until) }));
  }

  /** one slice of the retention sweep; the caller repeats while any part was a full slice */
  async sweepSlice(cutoff: string): Promise<{ attempts: number; deliveries: number; events: number; full: boolean }> {
    const attempts = await this.pool.query(
      'DELETE FROM event_attempts WHERE id IN (SELECT id FROM event_attempts WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)',
      [cutoff, SWEEP_SLICE],
    );
    // delivered and dead-lettered deliveries only: a pending one is never dropped, however old
    const deliveries = await this.pool.query(
      `DELETE FROM event_deliveries WHERE id IN
         (SELECT id FROM event_deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, SWEEP_SLICE],
    );
    const events = await this.pool.query(
      `DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE created_at < $1
         AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id) LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, SWEEP_SLICE],
    );
    const counts = { attempts: attempts.rowCount ?? 0, deliveries: deliveries.rowCount ?? 0, events: events.rowCount ?? 0 };
    return { ...counts, full: Math.max(counts.attempts, counts.deliveries, counts.events) >= SWEEP_SLICE };
  }
}

function toDelivery(row: Row): EventDelivery {
  return {
    id: Number(row.id),
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAt: isoOf(row.next_at),
    createdAt: isoOf(row.created_at),
    lastAttemptAt: row.last_attempt_at === null ? null : isoOf(row.last_attempt_at),
    lastStatus: row.last_status,
    lastError: row.last_error,
    finishedAt: row.finished_at === null ? null : isoOf(row.finished_at),
    replays: row.replays,
  };
}

function toClaimed(row: Row): ClaimedEventDelivery {
  return { ...toDelivery(row), payload: row.payload };
}

function toAttempt(row: Row): EventAttempt {
  return {
    deliveryId: Number(row.delivery_id),
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    at: isoOf(row.at),
    outcome: row.outcome,
    status: row.status,
    durationMs: row.duration_ms,
    error: row.error,
    body: row.body,
  };
}
