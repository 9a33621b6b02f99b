import { sendRequest } from '../http/request.ts';
import type { ClaimedEventDelivery, EventAttemptOutcome, EventDeliveryStatus, Store } from '../store/types.ts';
import { Breaker, type BreakerState } from './breaker.ts';
import { signatureHeaders } from './sign.ts';
import type { Subscription } from './subscriptions.ts';
import { botmakerEvent } from './botmaker.ts';
import type { HookEvent } from './types.ts';

/** The outgoing-request policy deliveries use: the config's `http` section (address guard, answer size). */
export interface DeliveryPolicy {
  allowPrivateNetworks: boolean;
  allowList: string[];
  maxResponseBytes: number;
}

export interface DeliveryWorkerOptions {
  store: Store;
  /** the live subscriptions (a config reload changes them) */
  subscriptions(): Subscription[];
  policy(): DeliveryPolicy;
  /** the clock of schedules, leases, the breaker and the health figures; tests pass a fake one */
  now(): Date;
  /**
   * The clock of the `webhook-timestamp` header. Real time by default, also under a fake `now`: receivers check it
   * against their own clock (the reference libraries refuse more than 5 minutes of difference).
   */
  wallClock?(): Date;
  /** deliveries in flight at most, over all subscriptions (default 32) */
  concurrency?: number;
  /** deliveries in flight at most per subscription that is not ordered (default 8) */
  perSubscription?: number;
  /** how often to look for due deliveries nobody announced (retries coming due, other processes) (default 1 s) */
  pollMs?: number;
  /** the config's events.businessId, read at each delivery (botmaker-1.1 bodies carry it) */
  businessId?(): string | null;
  onError(err: unknown, what: string): void;
  /** the breaker opened (until the given time) or closed again */
  onBreaker?(subscriptionId: string, change: 'opened' | 'closed', until: Date | null): void;
}

/** What one attempt came to. */
export interface AttemptResult {
  outcome: Exclude<EventAttemptOutcome, 'rejected'>;
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
  /** the start of the receiver's answer */
  body: string | null;
}

export const USER_AGENT = 'hooks-engine/0.1 (+standard-webhooks)';
/** a claim outlives the request's own deadline by this much before another worker may take the delivery over */
const LEASE_MARGIN_MS = 30_000;
/** how much of a receiver's answer is kept with an attempt */
export const BODY_EXCERPT = 1_000;

/** What a subscription receives of a stored event: the event itself, or it in the subscription's other format. */
export function eventBody(sub: Pick<Subscription, 'format'>, event: HookEvent, businessId: string | null): unknown {
  return sub.format === 'botmaker-1.1' ? botmakerEvent(event, { businessId }) : event;
}

/**
 * Sends one event to one subscription, signed: a 2xx within the subscription's timeout is a success (slow past its
 * threshold), anything else (another status, a timeout, a refused connection, an address the policy forbids) an
 * error. Redirects are not followed: a 3xx is an error, as the receiver's URL should be the final one.
 */
export async function sendEvent(sub: Subscription, eventId: string, payload: unknown, policy: DeliveryPolicy, signedAt: Date): Promise<AttemptResult> {
  // exactly the text sendRequest sends: it encodes `payload` with JSON.stringify too
  const body = JSON.stringify(payload);
  const headers = { 'user-agent': USER_AGENT, ...sub.headers, ...signatureHeaders(sub.key, eventId, signedAt, body), 'content-type': 'application/json' };
  const result = await sendRequest({
    method: 'POST',
    url: sub.url,
    headers,
    body: payload,
    bodyType: 'json',
    responseType: 'text',
    timeoutMs: sub.timeoutMs,
    maxResponseBytes: policy.maxResponseBytes,
    maxRedirects: 0,
    allowPrivateNetworks: policy.allowPrivateNetworks,
    allowList: policy.allowList,
  });
  const text = typeof result.body === 'string' ? result.body : result.body === null || result.body === undefined ? null : JSON.stringify(result.body);
  const excerpt = text === null || text === '' ? null : text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text;
  if (result.ok) {
    return { outcome: result.durationMs > sub.slowMs ? 'slow' : 'success', ok: true, status: result.status ?? null, durationMs: result.durationMs, error: null, body: excerpt };
  }
  return { outcome: 'error', ok: false, status: result.status ?? null, durationMs: result.durationMs, error: result.error?.message ?? 'failed', body: excerpt };
}

/**
 * Delivers stored events. Each pass goes over the enabled subscriptions: a subscription whose breaker is open has its
 * due deliveries held (recorded as rejected, postponed to the end of the cool-down); the others get their due
 * deliveries claimed with a lease, sent, and recorded with the next step: delivered, again later on the retry schedule,
 * or failed (a dead letter, replayable). An `ordered` subscription has one delivery in flight at most, oldest first,
 * and a later event waits while an earlier one is retried.
 */
export class DeliveryWorker {
  private active = 0;
  private stopped = false;
  private dirty = false;
  private cursor = 0;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private passing: Promise<number> | undefined;
  private readonly inFlight = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly breakers = new Map<string, Breaker>();

  constructor(private readonly options: DeliveryWorkerOptions) {}

  start(): void {
    this.loopDone = this.loop();
  }

  /** something may be due: look now rather than at the next poll */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  /** stops claiming, then waits for the deliveries in flight (each ends within its subscription's timeout) */
  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    await this.loopDone;
    await Promise.all(this.running);
  }

  /** Takes back the breakers' open periods from storage, so that a restart does not end a pause early. */
  async restoreBreakers(): Promise<void> {
    const now = this.options.now().getTime();
    for (const record of await this.options.store.eventBreakers()) {
      this.breakerFor(record.subscriptionId).restore(Date.parse(record.openedAt), Date.parse(record.openUntil), now);
    }
  }

  breakerState(subscriptionId: string, sub?: Subscription): { state: BreakerState; openedAt: string | null; openUntil: string | null; recentFailures: number } {
    const breaker = this.breakers.get(subscriptionId);
    const now = this.options.now().getTime();
    if (!breaker) return { state: 'closed', openedAt: null, openUntil: null, recentFailures: 0 };
    const state = breaker.state(now);
    return {
      state,
      openedAt: state === 'closed' ? null : new Date(breaker.openedAt).toISOString(),
      openUntil: state === 'closed' ? null : new Date(breaker.openUntil).toISOString(),
      recentFailures: sub ? breaker.recentFailures(now, sub.breaker) : 0,
    };
  }

  /** Deliveries in flight now. */
  get inFlightCount(): number {
    return this.active;
  }

  /** One pass over the subscriptions: holds what the breakers hold, claims and starts what is due. Returns how many started. */
  pass(): Promise<number> {
    this.passing ??= this.claimDue().finally(() => (this.passing = undefined));
    return this.passing;
  }

  /**
   * Delivers everything due at the worker's `now`, retries that come due meanwhile included, and returns once nothing
   * is due or in flight. For tests on a fake clock, and for a command that runs deliveries to their end.
   */
  async drain(): Promise<void> {
    for (;;) {
      const started = await this.pass();
      if (started === 0 && this.running.size === 0) return;
      if (this.running.size > 0) await Promise.race(this.running);
    }
  }

  private async loop(): Promise<void> {
    try {
      await this.restoreBreakers();
    } catch (err) {
      this.options.onError(err, 'reading the circuit breakers');
    }
    const pollMs = this.options.pollMs ?? 1_000;
    while (!this.stopped) {
      this.dirty = false;
      try {
        await this.pass();
      } catch (err) {
        this.options.onError(err, 'claiming event deliveries');
      }
      if (this.stopped) break;
      if (this.dirty) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, pollMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  private breakerFor(subscriptionId: string): Breaker {
    let breaker = this.breakers.get(subscriptionId);
    if (!breaker) this.breakers.set(subscriptionId, (breaker = new Breaker()));
    return breaker;
  }

  private async claimDue(): Promise<number> {
    const { store } = this.options;
    const concurrency = this.options.concurrency ?? 32;
    const perSubscription = this.options.perSubscription ?? 8;
    const subs = this.options.subscriptions().filter((s) => s.enabled && s.problems.length === 0);
    const now = this.options.now();
    let started = 0;
    // start at a different subscription each pass, so that a busy one does not always take the free places first
    const offset = subs.length > 0 ? this.cursor++ % subs.length : 0;
    for (let i = 0; i < subs.length && !this.stopped; i++) {
      const sub = subs[(offset + i) % subs.length];
      const breaker = this.breakerFor(sub.id);
      const state = breaker.state(now.getTime());
      if (state === 'open') {
        const until = new Date(breaker.openUntil).toISOString();
        // a delivery held before in this opening (before a failed probe re-opened it) is postponed, not counted again
        const since = new Date(breaker.openedAt).toISOString();
        await store.holdEventDeliveries(sub.id, now.toISOString(), until, `circuit breaker open until ${until}`, since);
        continue;
      }
      const cap = sub.ordered || state === 'half-open' ? 1 : perSubscription;
      const free = Math.min(cap - (this.inFlight.get(sub.id) ?? 0), concurrency - this.active);
      if (free <= 0) continue;
      for (const delivery of await store.claimEventDeliveries(sub.id, free, sub.timeoutMs + LEASE_MARGIN_MS, now, sub.ordered)) {
        this.launch(sub, delivery);
        started++;
      }
    }
    return started;
  }

  private launch(sub: Subscription, delivery: ClaimedEventDelivery): void {
    this.active++;
    this.inFlight.set(sub.id, (this.inFlight.get(sub.id) ?? 0) + 1);
    const job: Promise<void> = this.deliver(sub, delivery)
      .catch((err) => this.options.onError(err, `delivering event ${delivery.eventId} to subscription ${sub.id}`))
      .finally(() => {
        this.active--;
        this.inFlight.set(sub.id, (this.inFlight.get(sub.id) ?? 1) - 1);
        this.running.delete(job);
        this.notify();
      });
    this.running.add(job);
  }

  private async deliver(sub: Subscription, delivery: ClaimedEventDelivery): Promise<void> {
    const { store } = this.options;
    const attempt = delivery.attempts + 1;
    let result: AttemptResult;
    try {
      const body = eventBody(sub, JSON.parse(delivery.payload) as HookEvent, this.options.businessId?.() ?? null);
      result = await sendEvent(sub, delivery.eventId, body, this.options.policy(), (this.options.wallClock ?? (() => new Date()))());
    } catch (err) {
      result = { outcome: 'error', ok: false, status: null, durationMs: 0, error: `the event could not be sent: ${(err as Error).message}`, body: null };
    }
    const at = this.options.now();
    let next: { status: EventDeliveryStatus; nextAt: string | null };
    if (result.ok) next = { status: 'delivered', nextAt: null };
    else if (attempt < sub.scheduleMs.length) next = { status: 'pending', nextAt: new Date(at.getTime() + sub.scheduleMs[attempt]).toISOString() };
    else next = { status: 'failed', nextAt: null };

    const change = this.breakerFor(sub.id).record(result.ok, at.getTime(), sub.breaker);
    // the attempt first: if the process dies now, the breaker's pause is what is lost, not the record
    await store.recordEventAttempt(
      {
        deliveryId: delivery.id,
        subscriptionId: sub.id,
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        attempt,
        at: at.toISOString(),
        outcome: result.outcome,
        status: result.status,
        durationMs: result.durationMs,
        error: result.error,
        body: result.ok ? null : result.body,
      },
      next,
    );
    if (change === 'opened') {
      const breaker = this.breakerFor(sub.id);
      await store.saveEventBreaker({ subscriptionId: sub.id, openedAt: new Date(breaker.openedAt).toISOString(), openUntil: new Date(breaker.openUntil).toISOString() });
      this.options.onBreaker?.(sub.id, 'opened', new Date(breaker.openUntil));
    } else if (change === 'closed') {
      this.options.onBreaker?.(sub.id, 'closed', null);
    }
  }
}
