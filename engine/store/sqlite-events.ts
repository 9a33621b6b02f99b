import type Database from 'better-sqlite3';
import type {
  ClaimedEventDelivery, EventAttempt, EventAttemptOutcome, EventBreakerRecord, EventDelivery, EventDeliveryQuery, EventDeliveryStatus,
  EventHealthRow, NewEventDelivery, StoredEvent,
} from './types.ts';

/**
 * The SQLite side of outbound events (migration 5): events, one delivery per event and subscription, every attempt,
 * and the circuit breakers' open periods. SqliteStore owns the connection and the group commit; it hands the writes
 * that join the group commit (`write`) and the calls that run on their own (each its own transaction) to this class.
 */

type Row = Record<string, unknown>;

/** Writes that join the store's group commit. */
export type PendingEventWrite =
  | { kind: 'event'; event: Row; deliveries: Row[] }
  | { kind: 'attempt'; attempt: Row; delivery: Row };

// the sweep deletes in slices, as the store's own sweep does
const SWEEP_SLICE = 1_000;

export class SqliteEventTables {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database) {
    this.sql = prepare(db);
  }

  /** a write queued for the group commit: runs inside the shared transaction */
  write(item: PendingEventWrite): void {
    if (item.kind === 'event') {
      // an event id stored before (a producer emitting the same event twice) is not stored or delivered again, and
      // never fails the batch it shares with other requests' writes
      if (this.sql.insertEvent.run(item.event).changes === 0) return;
      for (const delivery of item.deliveries) this.sql.insertDelivery.run(delivery);
    } else {
      this.sql.insertAttempt.run(item.attempt);
      this.sql.finishAttempt.run(item.delivery);
    }
  }

  claim(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): ClaimedEventDelivery[] {
    if (limit <= 0) return [];
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    const claim = this.db.transaction((): ClaimedEventDelivery[] => {
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

  hold(subscriptionId: string, now: string, until: string, reason: string): number {
    const hold = this.db.transaction((): number => {
      this.sql.rejectDue.run({ sub: subscriptionId, now, reason });
      return this.sql.postponeDue.run({ sub: subscriptionId, now, until }).changes;
    });
    return hold.immediate();
  }

  replay(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): number {
    const replay = this.db.transaction((): number => {
      if (query.ids) {
        let changed = 0;
        for (const id of query.ids) changed += this.sql.replayOne.run({ sub: subscriptionId, id, now }).changes;
        return changed;
      }
      return this.sql.replaySince.run({ sub: subscriptionId, since: query.since ?? null, now }).changes;
    });
    return replay.immediate();
  }

  list(query: EventDeliveryQuery): EventDelivery[] {
    if (query.limit <= 0) return [];
    return this.sql.list
      .all({ sub: query.subscriptionId, status: query.status ?? null, before: query.before ?? null, limit: Math.floor(query.limit) })
      .map(toDelivery);
  }

  counts(subscriptionId: string): Record<EventDeliveryStatus, number> {
    return {
      pending: this.sql.count.get({ sub: subscriptionId, status: 'pending' }) as unknown as number,
      delivered: this.sql.count.get({ sub: subscriptionId, status: 'delivered' }) as unknown as number,
      failed: this.sql.count.get({ sub: subscriptionId, status: 'failed' }) as unknown as number,
    };
  }

  health(subscriptionId: string, since: string): EventHealthRow[] {
    return this.sql.health.all({ sub: subscriptionId, since }).map((row) => ({
      minute: row.minute as string,
      outcome: row.outcome as EventAttemptOutcome,
      count: row.n as number,
      timed: row.timed as number,
      minMs: row.min_ms as number | null,
      maxMs: row.max_ms as number | null,
      sumMs: (row.sum_ms as number | null) ?? 0,
    }));
  }

  errors(subscriptionId: string, limit: number): EventAttempt[] {
    return this.sql.errors.all({ sub: subscriptionId, limit: Math.max(1, Math.floor(limit)) }).map(toAttempt);
  }

  attempts(deliveryId: number): EventAttempt[] {
    return this.sql.attemptsOf.all(deliveryId).map(toAttempt);
  }

  saveBreaker(record: EventBreakerRecord): void {
    this.sql.saveBreaker.run({ sub: record.subscriptionId, openedAt: record.openedAt, openUntil: record.openUntil });
  }

  breakers(): EventBreakerRecord[] {
    return this.sql.breakers.all().map((row) => ({ subscriptionId: row.subscription_id as string, openedAt: row.opened_at as string, openUntil: row.open_until as string }));
  }

  /** one slice of the retention sweep; returns how many rows went, so the caller repeats while it is a full slice */
  sweepSlice(cutoff: string): { attempts: number; deliveries: number; events: number } {
    return {
      attempts: this.sql.sweepAttempts.run({ cutoff, limit: SWEEP_SLICE }).changes,
      deliveries: this.sql.sweepDeliveries.run({ cutoff, limit: SWEEP_SLICE }).changes,
      events: this.sql.sweepEvents.run({ cutoff, limit: SWEEP_SLICE }).changes,
    };
  }

  static readonly SWEEP_SLICE = SWEEP_SLICE;
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  const due = `subscription_id = @sub AND status = 'pending' AND next_at <= @now AND (lease_until IS NULL OR lease_until < @now)`;
  return {
    insertEvent: s(`INSERT INTO events (id, type, flow_id, channel, contact_id, payload, created_at)
      VALUES (@id, @type, @flow_id, @channel, @contact_id, @payload, @created_at) ON CONFLICT (id) DO NOTHING`),
    insertDelivery: s(`INSERT INTO event_deliveries (subscription_id, event_id, event_type, status, next_at, created_at)
      VALUES (@subscription_id, @event_id, @event_type, 'pending', @next_at, @created_at)`),
    insertAttempt: s(`INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
      VALUES (@delivery_id, @subscription_id, @event_id, @event_type, @attempt, @at, @outcome, @status, @duration_ms, @error, @body)`),
    // only a delivery still pending: a replay or another process's newer attempt is not overwritten by a late one
    finishAttempt: s(`UPDATE event_deliveries SET attempts = @attempt, status = @status, next_at = coalesce(@next_at, next_at), lease_until = NULL,
        last_attempt_at = @at, last_status = @http_status, last_error = @error, finished_at = @finished_at
      WHERE id = @id AND status = 'pending'`),
    head: s(`SELECT id, next_at, lease_until FROM event_deliveries WHERE subscription_id = @sub AND status = 'pending' ORDER BY id LIMIT 1`),
    due: s(`SELECT id FROM event_deliveries WHERE ${due} ORDER BY next_at, id LIMIT @limit`).pluck(),
    lease: s('UPDATE event_deliveries SET lease_until = @leaseUntil WHERE id = @id'),
    claimed: s('SELECT d.*, e.payload FROM event_deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?'),
    rejectDue: s(`INSERT INTO event_attempts (delivery_id, subscription_id, event_id, event_type, attempt, at, outcome, status, duration_ms, error, body)
      SELECT id, subscription_id, event_id, event_type, attempts + 1, @now, 'rejected', NULL, NULL, @reason, NULL FROM event_deliveries WHERE ${due}`),
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

export function eventRow(e: StoredEvent): Row {
  return { id: e.id, type: e.type, flow_id: e.flowId, channel: e.channel, contact_id: e.contactId, payload: e.payload, created_at: e.createdAt };
}

export function deliveryRow(eventId: string, eventType: string, d: NewEventDelivery, createdAt: string): Row {
  return { subscription_id: d.subscriptionId, event_id: eventId, event_type: eventType, next_at: d.nextAt, created_at: createdAt };
}

export function attemptRows(a: EventAttempt, next: { status: EventDeliveryStatus; nextAt: string | null }): { attempt: Row; delivery: Row } {
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

function toDelivery(row: Row): EventDelivery {
  return {
    id: row.id as number,
    subscriptionId: row.subscription_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    status: row.status as EventDeliveryStatus,
    attempts: row.attempts as number,
    nextAt: row.next_at as string,
    createdAt: row.created_at as string,
    lastAttemptAt: row.last_attempt_at as string | null,
    lastStatus: row.last_status as number | null,
    lastError: row.last_error as string | null,
    finishedAt: row.finished_at as string | null,
    replays: row.replays as number,
  };
}

function toClaimed(row: Row): ClaimedEventDelivery {
  return { ...toDelivery(row), payload: row.payload as string };
}

function toAttempt(row: Row): EventAttempt {
  return {
    deliveryId: row.delivery_id as number,
    subscriptionId: row.subscription_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    attempt: row.attempt as number,
    at: row.at as string,
    outcome: row.outcome as EventAttemptOutcome,
    status: row.status as number | null,
    durationMs: row.duration_ms as number | null,
    error: row.error as string | null,
    body: row.body as string | null,
  };
}
