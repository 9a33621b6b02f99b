import { iso, toAttempt, toBreaker, toClaimed, toDelivery, toHealthRow } from '../rows.ts';
import type {
  ClaimedEventDelivery, EventAttempt, EventBreakerRecord, EventDelivery, EventDeliveryNext, EventDeliveryQuery, EventDeliveryStatus,
  EventHealthRow, EventStore, NewEventDelivery, OutboxEvent, StoredEvent,
} from '../types.ts';
import { SWEEP_SLICE, type OutboxValues, type PendingEventWrite, type PostgresSession } from './session.ts';
import { insertStatements, MAX_COMBINED_PARAMETERS, text, type Statement } from './sql.ts';

/**
 * Outbound events on Postgres: events, one delivery per event and subscription, every attempt, and the circuit
 * breakers' open periods. New events and attempts join the group commit as statements (eventStatements, for
 * commit.ts); every other call runs on its own.
 *
 * Replicas share the deliveries: a claim leases them with `FOR UPDATE SKIP LOCKED`, so each due delivery goes to one
 * replica at a time; an ordered subscription's head is locked without SKIP LOCKED, so its order holds across replicas.
 */

const EVENT_COLUMNS = ['id', 'type', 'flow_id', 'channel', 'contact_id', 'payload', 'created_at'];
const DELIVERY_COLUMNS = ['subscription_id', 'event_id', 'event_type', 'status', 'next_at', 'created_at'];
const ATTEMPT_COLUMNS = ['delivery_id', 'subscription_id', 'event_id', 'event_type', 'attempt', 'at', 'outcome', 'status', 'duration_ms', 'error', 'body'];
const DUE = `subscription_id = $1 AND status = 'pending' AND next_at <= $2 AND (lease_until IS NULL OR lease_until < $2)`;

export class PostgresEvents implements EventStore {
  constructor(private readonly session: PostgresSession) {}

  async addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add({ kind: 'event', ...outboxValues({ event, deliveries }) });
  }

  onEventsCommitted(listener: () => void): () => void {
    return this.session.eventsCommitted.add(listener);
  }

  async claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    await this.session.settle();
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    // Ordered: the subscription's first pending delivery, locked (waiting for a replica claiming it right now, never
    // skipping past it), and leased only when due and not leased already. Unordered: the due ones, SKIP LOCKED.
    const pick = ordered
      ? `SELECT id FROM event_deliveries WHERE subscription_id = $1 AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE`
      : `SELECT id FROM event_deliveries WHERE ${DUE} ORDER BY next_at, id LIMIT $4 FOR UPDATE SKIP LOCKED`;
    const { rows } = await this.session.pool.query(
      `WITH picked AS (${pick})
       UPDATE event_deliveries d SET lease_until = $3 FROM picked
       WHERE d.id = picked.id AND d.next_at <= $2 AND (d.lease_until IS NULL OR d.lease_until < $2)
       RETURNING d.*, (SELECT payload FROM events e WHERE e.id = d.event_id) AS payload`,
      ordered ? [subscriptionId, at, leaseUntil] : [subscriptionId, at, leaseUntil, Math.floor(limit)],
    );
    return rows.map(toClaimed).sort((a, b) => (a.nextAt < b.nextAt ? -1 : a.nextAt > b.nextAt ? 1 : a.id - b.id));
  }

  async recordEventAttempt(attempt: EventAttempt, next: EventDeliveryNext): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add(attemptWrite(attempt, next));
  }

  async holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string, since?: string): Promise<number> {
    await this.session.settle();
    // the due deliveries, each postponed and recorded as rejected (unless it was since `since`), in one statement
    const { rowCount } = await this.session.pool.query(
      `WITH due AS (SELECT id, subscription_id, event_id, event_type, attempts FROM event_deliveries WHERE ${DUE} FOR UPDATE SKIP LOCKED),
            rejected AS (
              INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
              SELECT id, subscription_id, event_id, event_type, attempts + 1, $2::timestamptz, 'rejected', NULL, NULL, $4::text, NULL FROM due
              WHERE $5::timestamptz IS NULL
                OR NOT EXISTS (SELECT 1 FROM event_attempts a WHERE a.delivery_id = due.id AND a.outcome = 'rejected' AND a.at >= $5::timestamptz))
       UPDATE event_deliveries d SET next_at = $3 FROM due WHERE d.id = due.id`,
      [subscriptionId, iso(now, 'now'), iso(until, 'until'), text(reason), since === undefined ? null : iso(since, 'since')],
    );
    return rowCount ?? 0;
  }

  async replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    await this.session.settle();
    const { pool } = this.session;
    const at = iso(now, 'now');
    const since = query.since === undefined ? null : iso(query.since, 'since');
    const set = `status = 'pending', attempts = 0, next_at = $2, lease_until = NULL, finished_at = NULL, replays = replays + 1`;
    const { rowCount } = query.ids
      ? await pool.query(`UPDATE event_deliveries SET ${set} WHERE subscription_id = $1 AND status = 'failed' AND id = ANY($3::bigint[])`, [
          subscriptionId,
          at,
          query.ids,
        ])
      : await pool.query(`UPDATE event_deliveries SET ${set} WHERE subscription_id = $1 AND status = 'failed' AND ($3::timestamptz IS NULL OR created_at >= $3)`, [
          subscriptionId,
          at,
          since,
        ]);
    return rowCount ?? 0;
  }

  async listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    await this.session.settle();
    if (query.limit <= 0) return [];
    const { rows } = await this.session.pool.query(
      `SELECT * FROM event_deliveries WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [query.subscriptionId, query.status ?? null, query.before ?? null, Math.floor(query.limit)],
    );
    return rows.map(toDelivery);
  }

  async eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT status, count(*)::integer AS n FROM event_deliveries WHERE subscription_id = $1 GROUP BY status', [subscriptionId]);
    const counts: Record<EventDeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const row of rows) if (row.status in counts) counts[row.status as EventDeliveryStatus] = row.n;
    return counts;
  }

  async eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    await this.session.settle();
    // by minute (2026-01-01T09:05, UTC) and outcome; times only of answered attempts
    const { rows } = await this.session.pool.query(
      `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS minute, outcome, count(*)::integer AS n, count(status)::integer AS timed,
         min(duration_ms) FILTER (WHERE status IS NOT NULL) AS min_ms, max(duration_ms) FILTER (WHERE status IS NOT NULL) AS max_ms,
         sum(duration_ms) FILTER (WHERE status IS NOT NULL) AS sum_ms
       FROM event_attempts WHERE subscription_id = $1 AND at >= $2 GROUP BY minute, outcome ORDER BY minute, outcome`,
      [subscriptionId, iso(since, 'since')],
    );
    return rows.map(toHealthRow);
  }

  async eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query(`SELECT * FROM event_attempts WHERE subscription_id = $1 AND outcome = 'error' ORDER BY id DESC LIMIT $2`, [
      subscriptionId,
      Math.max(1, Math.floor(limit)),
    ]);
    return rows.map(toAttempt);
  }

  async eventAttempts(deliveryId: number): Promise<EventAttempt[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM event_attempts WHERE delivery_id = $1 ORDER BY id', [deliveryId]);
    return rows.map(toAttempt);
  }

  async saveEventBreaker(record: EventBreakerRecord): Promise<void> {
    await this.session.settle();
    await this.session.pool.query(
      `INSERT INTO event_breakers (subscription_id, opened_at, open_until) VALUES ($1, $2, $3)
       ON CONFLICT (subscription_id) DO UPDATE SET opened_at = excluded.opened_at, open_until = excluded.open_until`,
      [record.subscriptionId, iso(record.openedAt, 'openedAt'), iso(record.openUntil, 'openUntil')],
    );
  }

  async eventBreakers(): Promise<EventBreakerRecord[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM event_breakers ORDER BY subscription_id');
    return rows.map(toBreaker);
  }

  async sweepEvents(olderThan: string): Promise<number> {
    await this.session.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let deliveries = 0;
    for (;;) {
      const slice = await this.sweepSlice(cutoff);
      deliveries += slice.deliveries;
      if (!slice.full) return deliveries;
      this.session.ensureOpen();
    }
  }

  /** one slice of the retention sweep; the caller repeats while any part was a full slice */
  private async sweepSlice(cutoff: string): Promise<{ attempts: number; deliveries: number; events: number; full: boolean }> {
    const { pool } = this.session;
    const attempts = await pool.query(
      'DELETE FROM event_attempts WHERE id IN (SELECT id FROM event_attempts WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)',
      [cutoff, SWEEP_SLICE],
    );
    // delivered and dead-lettered deliveries only: a pending one is never dropped, however old
    const deliveries = await pool.query(
      `DELETE FROM event_deliveries WHERE id IN
         (SELECT id FROM event_deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, SWEEP_SLICE],
    );
    const events = await pool.query(
      `DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE created_at < $1
         AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id) LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, SWEEP_SLICE],
    );
    const counts = { attempts: attempts.rowCount ?? 0, deliveries: deliveries.rowCount ?? 0, events: events.rowCount ?? 0 };
    return { ...counts, full: Math.max(counts.attempts, counts.deliveries, counts.events) >= SWEEP_SLICE };
  }
}

/** An event with its deliveries as column values, for addEvent and for the writes that carry their events (an outbox). */
export function outboxValues({ event, deliveries }: OutboxEvent): OutboxValues {
  const createdAt = iso(event.createdAt, 'createdAt');
  return {
    event: [event.id, event.type, event.flowId, event.channel, event.contactId, event.payload, createdAt],
    deliveries: deliveries.map((d) => [d.subscriptionId, event.id, event.type, 'pending', iso(d.nextAt, 'nextAt'), createdAt]),
  };
}

/** The INSERTs of events with their deliveries, for a transaction of the caller's (a contact's fields'). */
export function outboxStatements(events: OutboxValues[]): Statement[] {
  return eventStatements(events.map((values) => ({ kind: 'event', ...values }))).inserts;
}

function attemptWrite(a: EventAttempt, next: EventDeliveryNext): PendingEventWrite {
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
