import type Database from 'better-sqlite3';
import { iso, toAttempt, toBreaker, toClaimed, toDelivery, toHealthRow, type Row } from '../rows.ts';
import type {
  ClaimedEventDelivery, EventAttempt, EventBreakerRecord, EventDelivery, EventDeliveryNext, EventDeliveryQuery, EventDeliveryStatus,
  EventHealthRow, EventStore, NewEventDelivery, OutboxEvent, StoredEvent,
} from '../types.ts';
import { SWEEP_SLICE, yieldToEventLoop, type OutboxRows, type PendingEventWrite, type SqliteSession } from './session.ts';

/**
 * Outbound events on SQLite: events, one delivery per event and subscription, every attempt, and the circuit
 * breakers' open periods. New events and attempts join the group commit (prepareEventWrites); every other call is
 * its own transaction.
 */
export class SqliteEvents implements EventStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly session: SqliteSession) {
    this.sql = prepare(session.db);
  }

  async addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void> {
    this.session.ensureOpen();
    return this.session.batch.add({ kind: 'event', ...outboxRows({ event, deliveries }) });
  }

  onEventsCommitted(listener: () => void): () => void {
    return this.session.eventsCommitted.add(listener);
  }

  async claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    this.session.settle();
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    const claim = this.session.db.transaction((): ClaimedEventDelivery[] => {
      let ids: number[];
      if (ordered) {
        // one at a time, oldest first: only the subscription's first pending delivery may go, once due and not leased
        const head = this.sql.head.get({ sub: subscriptionId }) as Row | undefined;
        ids = head && (head.next_at as string) <= at && (head.lease_until === null || (head.lease_until as string) < at) ? [head.id as number] : [];
      } else {
        ids = this.sql.due.all({ sub: subscriptionId, now: at, limit: Math.floor(limit) }) as unknown as number[];
      }
      return ids.map((id) => {
        this.sql.lease.run({ id, leaseUntil });
        return toClaimed(this.sql.claimed.get(id) as Row);
      });
    });
    return claim.immediate();
  }

  async recordEventAttempt(attempt: EventAttempt, next: EventDeliveryNext): Promise<void> {
    this.session.ensureOpen();
    const at = iso(attempt.at, 'at');
    return this.session.batch.add({ kind: 'attempt', ...attemptRows({ ...attempt, at }, { status: next.status, nextAt: next.nextAt === null ? null : iso(next.nextAt, 'nextAt') }) });
  }

  async holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string, since?: string): Promise<number> {
    this.session.settle();
    const at = iso(now, 'now');
    const to = iso(until, 'until');
    const from = since === undefined ? null : iso(since, 'since');
    const hold = this.session.db.transaction((): number => {
      this.sql.rejectDue.run({ sub: subscriptionId, now: at, reason, since: from });
      return this.sql.postponeDue.run({ sub: subscriptionId, now: at, until: to }).changes;
    });
    return hold.immediate();
  }

  async replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    this.session.settle();
    const at = iso(now, 'now');
    const since = query.since === undefined ? null : iso(query.since, 'since');
    const replay = this.session.db.transaction((): number => {
      if (query.ids) {
        let changed = 0;
        for (const id of query.ids) changed += this.sql.replayOne.run({ sub: subscriptionId, id, now: at }).changes;
        return changed;
      }
      return this.sql.replaySince.run({ sub: subscriptionId, since, now: at }).changes;
    });
    return replay.immediate();
  }

  async listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    this.session.settle();
    if (query.limit <= 0) return [];
    return this.sql.list
      .all({ sub: query.subscriptionId, status: query.status ?? null, before: query.before ?? null, limit: Math.floor(query.limit) })
      .map(toDelivery);
  }

  async eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    this.session.settle();
    return {
      pending: this.sql.count.get({ sub: subscriptionId, status: 'pending' }) as unknown as number,
      delivered: this.sql.count.get({ sub: subscriptionId, status: 'delivered' }) as unknown as number,
      failed: this.sql.count.get({ sub: subscriptionId, status: 'failed' }) as unknown as number,
    };
  }

  async eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    this.session.settle();
    return this.sql.health.all({ sub: subscriptionId, since: iso(since, 'since') }).map(toHealthRow);
  }

  async eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    this.session.settle();
    return this.sql.errors.all({ sub: subscriptionId, limit: Math.max(1, Math.floor(limit)) }).map(toAttempt);
  }

  async eventAttempts(deliveryId: number): Promise<EventAttempt[]> {
    this.session.settle();
    return this.sql.attemptsOf.all(deliveryId).map(toAttempt);
  }

  async saveEventBreaker(record: EventBreakerRecord): Promise<void> {
    this.session.settle();
    this.sql.saveBreaker.run({ sub: record.subscriptionId, openedAt: iso(record.openedAt, 'openedAt'), openUntil: iso(record.openUntil, 'openUntil') });
  }

  async eventBreakers(): Promise<EventBreakerRecord[]> {
    this.session.settle();
    return this.sql.breakers.all().map(toBreaker);
  }

  async sweepEvents(olderThan: string): Promise<number> {
    this.session.settle();
    const cutoff = iso(olderThan, 'olderThan');
    let deliveries = 0;
    for (;;) {
      const attempts = this.sql.sweepAttempts.run({ cutoff, limit: SWEEP_SLICE }).changes;
      const slice = this.sql.sweepDeliveries.run({ cutoff, limit: SWEEP_SLICE }).changes;
      const events = this.sql.sweepEvents.run({ cutoff, limit: SWEEP_SLICE }).changes;
      deliveries += slice;
      if (Math.max(attempts, slice, events) < SWEEP_SLICE) return deliveries;
      await yieldToEventLoop();
      this.session.ensureOpen();
    }
  }
}

/** An event with its deliveries as rows, for addEvent and for the writes that carry their events (an outbox). */
export function outboxRows({ event, deliveries }: OutboxEvent): OutboxRows {
  const createdAt = iso(event.createdAt, 'createdAt');
  return {
    event: eventRow({ ...event, createdAt }),
    deliveries: deliveries.map((d) => deliveryRow(event.id, event.type, { ...d, nextAt: iso(d.nextAt, 'nextAt') }, createdAt)),
  };
}

/** Writes an event with its deliveries, inside the caller's transaction (the group commit's, or a contact's fields'). */
export function prepareOutboxWrite(db: Database.Database): (rows: OutboxRows) => void {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  const insertEvent = s(`INSERT INTO events (id, type, flow_id, channel, contact_id, payload, created_at)
    VALUES (@id, @type, @flow_id, @channel, @contact_id, @payload, @created_at) ON CONFLICT (id) DO NOTHING`);
  const insertDelivery = s(`INSERT INTO event_deliveries (subscription_id, event_id, event_type, status, next_at, created_at)
    VALUES (@subscription_id, @event_id, @event_type, 'pending', @next_at, @created_at)`);
  return (rows) => {
    // an event id stored before (a producer emitting the same event twice) is not stored or delivered again, and
    // never fails the batch it shares with other requests' writes
    if (insertEvent.run(rows.event).changes === 0) return;
    for (const delivery of rows.deliveries) insertDelivery.run(delivery);
  };
}

/** The events' writes in the group commit's transaction (session.ts). */
export function prepareEventWrites(db: Database.Database): (item: PendingEventWrite) => void {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  const writeOutbox = prepareOutboxWrite(db);
  const insertAttempt = s(`INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
    VALUES (@delivery_id, @subscription_id, @event_id, @event_type, @attempt, @at, @outcome, @status, @duration_ms, @error, @body)`);
  // only a delivery still pending: a replay or another process's newer attempt is not overwritten by a late one
  const finishAttempt = s(`UPDATE event_deliveries SET attempts = @attempt, status = @status, next_at = coalesce(@next_at, next_at), lease_until = NULL,
      last_attempt_at = @at, last_status = @http_status, last_error = @error, finished_at = @finished_at
    WHERE id = @id AND status = 'pending'`);
  return (item) => {
    if (item.kind === 'event') writeOutbox(item);
    else {
      insertAttempt.run(item.attempt);
      finishAttempt.run(item.delivery);
    }
  };
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  const due = `subscription_id = @sub AND status = 'pending' AND next_at <= @now AND (lease_until IS NULL OR lease_until < @now)`;
  return {
    head: s(`SELECT id, next_at, lease_until FROM event_deliveries WHERE subscription_id = @sub AND status = 'pending' ORDER BY id LIMIT 1`),
    due: s(`SELECT id FROM event_deliveries WHERE ${due} ORDER BY next_at, id LIMIT @limit`).pluck(),
    lease: s('UPDATE event_deliveries SET lease_until = @leaseUntil WHERE id = @id'),
    claimed: s('SELECT d.*, e.payload FROM event_deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?'),
    rejectDue: s(`INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
      SELECT id, subscription_id, event_id, event_type, attempts + 1, @now, 'rejected', NULL, NULL, @reason, NULL FROM event_deliveries d WHERE ${due}
        AND (@since IS NULL OR NOT EXISTS (SELECT 1 FROM event_attempts a WHERE a.delivery_id = d.id AND a.outcome = 'rejected' AND a.at >= @since))`),
    postponeDue: s(`UPDATE event_deliveries SET next_at = @until WHERE ${due}`),
    replayOne: s(`UPDATE event_deliveries SET status = 'pending', attempts = 0, next_at = @now, lease_until = NULL, finished_at = NULL, replays = replays + 1
      WHERE id = @id AND subscription_id = @sub AND status = 'failed'`),
    replaySince: s(`UPDATE event_deliveries SET status = 'pending', attempts = 0, next_at = @now, lease_until = NULL, finished_at = NULL, replays = replays + 1
      WHERE subscription_id = @sub AND status = 'failed' AND (@since IS NULL OR created_at >= @since)`),
    list: s(`SELECT * FROM event_deliveries WHERE subscription_id = @sub AND (@status IS NULL OR status = @status)
        AND (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit`),
    count: s('SELECT count(*) FROM event_deliveries WHERE subscription_id = @sub AND status = @status').pluck(),
    // by minute (the first 16 characters of an ISO time: 2026-01-01T09:05) and outcome; times only of answered attempts
    health: s(`SELECT substr(at, 1, 16) AS minute, outcome, count(*) AS n, count(status) AS timed,
        min(CASE WHEN status IS NOT NULL THEN duration_ms END) AS min_ms, max(CASE WHEN status IS NOT NULL THEN duration_ms END) AS max_ms,
        sum(CASE WHEN status IS NOT NULL THEN duration_ms END) AS sum_ms
      FROM event_attempts WHERE subscription_id = @sub AND at >= @since GROUP BY minute, outcome ORDER BY minute`),
    errors: s(`SELECT * FROM event_attempts WHERE subscription_id = @sub AND outcome = 'error' ORDER BY id DESC LIMIT @limit`),
    attemptsOf: s('SELECT * FROM event_attempts WHERE delivery_id = ? ORDER BY id'),
    saveBreaker: s(`INSERT INTO event_breakers (subscription_id, opened_at, open_until) VALUES (@sub, @openedAt, @openUntil)
      ON CONFLICT (subscription_id) DO UPDATE SET opened_at = excluded.opened_at, open_until = excluded.open_until`),
    breakers: s('SELECT * FROM event_breakers'),
    sweepAttempts: s('DELETE FROM event_attempts WHERE id IN (SELECT id FROM event_attempts WHERE at < @cutoff LIMIT @limit)'),
    // delivered and dead-lettered deliveries only: a pending one is never dropped, however old
    sweepDeliveries: s(`DELETE FROM event_deliveries WHERE id IN
      (SELECT id FROM event_deliveries WHERE status <> 'pending' AND created_at < @cutoff LIMIT @limit)`),
    sweepEvents: s(`DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE created_at < @cutoff
      AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id) LIMIT @limit)`),
  };
}

function eventRow(e: StoredEvent): Row {
  return { id: e.id, type: e.type, flow_id: e.flowId, channel: e.channel, contact_id: e.contactId, payload: e.payload, created_at: e.createdAt };
}

function deliveryRow(eventId: string, eventType: string, d: NewEventDelivery, createdAt: string): Row {
  return { subscription_id: d.subscriptionId, event_id: eventId, event_type: eventType, next_at: d.nextAt, created_at: createdAt };
}

function attemptRows(a: EventAttempt, next: EventDeliveryNext): { attempt: Row; delivery: Row } {
  return {
    attempt: {
      delivery_id: a.deliveryId,
      subscription_id: a.subscriptionId,
      event_id: a.eventId,
      event_type: a.eventType,
      attempt: a.attempt,
      at: a.at,
      outcome: a.outcome,
      status: a.status,
      duration_ms: a.durationMs,
      error: a.error,
      body: a.body,
    },
    delivery: {
      id: a.deliveryId,
      attempt: a.attempt,
      status: next.status,
      next_at: next.nextAt,
      at: a.at,
      http_status: a.status,
      error: a.outcome === 'error' ? a.error : null,
      finished_at: next.status === 'pending' ? null : a.at,
    },
  };
}
