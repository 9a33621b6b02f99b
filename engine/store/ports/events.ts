/**
 * Outbound events (migration 5): each event as stored, one delivery per event and subscription, every attempt (the
 * health figures and the error list), and the circuit breakers' open periods.
 */

/** An event as stored, the payload exactly as it is sent. */
export interface StoredEvent {
  id: string;
  type: string;
  flowId: string | null;
  channel: string | null;
  contactId: string | null;
  /** the event as JSON text */
  payload: string;
  createdAt: string;
}

/** One delivery per event and matching subscription: the first attempt is due at `nextAt`. */
export interface NewEventDelivery {
  subscriptionId: string;
  nextAt: string;
}

/**
 * An event with its deliveries (EventHub.prepare builds it), handed to the store method that writes its cause: both
 * are committed in one transaction (an outbox), so the event exists exactly when its cause does. An event id already
 * stored is ignored, as by addEvent.
 */
export interface OutboxEvent {
  event: StoredEvent;
  deliveries: NewEventDelivery[];
}

/** Who hears of commits that stored events (the delivery worker): a listener that throws never fails the commit. */
export class CommitListeners {
  private readonly listeners = new Set<() => void>();

  add(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // the commit happened: a listener's failure is its own
      }
    }
  }
}

/** pending: waiting or being sent; delivered: a 2xx came back; failed: every scheduled attempt failed (a dead letter) */
export type EventDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface EventDelivery {
  /** increasing: the order in which a subscription's events were stored, and are sent when it is `ordered` */
  id: number;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  status: EventDeliveryStatus;
  /** attempts that reached the sending stage (breaker rejections are not counted) */
  attempts: number;
  /** when a pending delivery is due */
  nextAt: string;
  createdAt: string;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  finishedAt: string | null;
  /** how many times it was replayed from the dead letters */
  replays: number;
}

export interface ClaimedEventDelivery extends EventDelivery {
  payload: string;
}

export interface EventDeliveryQuery {
  subscriptionId: string;
  status?: EventDeliveryStatus;
  /** keyset pagination: deliveries older than this id */
  before?: number;
  limit: number;
}

/** success: 2xx within the slow threshold; slow: 2xx past it; error: anything else; rejected: held by the breaker */
export type EventAttemptOutcome = 'success' | 'slow' | 'error' | 'rejected';

export interface EventAttempt {
  deliveryId: number;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  at: string;
  outcome: EventAttemptOutcome;
  /** the receiver's HTTP status; null when there was no answer (timeout, refused) or the breaker held it */
  status: number | null;
  durationMs: number | null;
  error: string | null;
  /** the start of the receiver's answer */
  body: string | null;
}

/** Attempts of one subscription grouped by minute (`2026-01-01T09:05`) and outcome; times are of answered attempts. */
export interface EventHealthRow {
  minute: string;
  outcome: EventAttemptOutcome;
  count: number;
  /** attempts with an HTTP answer, whose times the figures below cover */
  timed: number;
  minMs: number | null;
  maxMs: number | null;
  sumMs: number;
}

/** A circuit breaker's last open period: kept so that a restarted engine does not hammer a receiver it paused. */
export interface EventBreakerRecord {
  subscriptionId: string;
  openedAt: string;
  openUntil: string;
}

/** Where a delivery goes after an attempt: pending again at `nextAt`, delivered, or failed (a dead letter). */
export interface EventDeliveryNext {
  status: EventDeliveryStatus;
  nextAt: string | null;
}

export interface EventStore {
  /**
   * Stores an event with its deliveries in a write of its own, group-committed like the log; an event id already stored
   * is ignored (no error). For an event whose cause is not a write that takes an outbox (see OutboxEvent).
   */
  addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void>;
  /** `listener` runs after each commit that stored events (an outbox's or addEvent's); returns its removal */
  onEventsCommitted(listener: () => void): () => void;
  /**
   * Claims up to `limit` due deliveries of one subscription with a lease (due: pending, `nextAt` reached, no live
   * lease). `ordered`: at most its oldest pending delivery, and only when that one is due and not leased.
   */
  claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]>;
  /** records an attempt and moves the delivery on: pending again at `nextAt`, delivered, or failed (dead letter) */
  recordEventAttempt(attempt: EventAttempt, next: EventDeliveryNext): Promise<void>;
  /**
   * The breaker holds a subscription: its due deliveries are postponed to `until` and recorded as rejected, each once
   * per opening: one already recorded as rejected at or after `since` (when the opening began) is only postponed.
   * Returns how many were postponed.
   */
  holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string, since?: string): Promise<number>;
  /** dead letters (failed) of a subscription, created since `since` or with these ids, become pending again now */
  replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number>;
  /** newest first */
  listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]>;
  eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>>;
  eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]>;
  /** the last error attempts, newest first */
  eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]>;
  /** one delivery's attempts, oldest first */
  eventAttempts(deliveryId: number): Promise<EventAttempt[]>;
  saveEventBreaker(record: EventBreakerRecord): Promise<void>;
  eventBreakers(): Promise<EventBreakerRecord[]>;
  /** deletes attempts, finished deliveries and their events older than the cut-off (pending ones stay); returns deliveries removed */
  sweepEvents(olderThan: string): Promise<number>;
}
