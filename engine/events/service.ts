import type { EngineConfig } from '../config/load.ts';
import type { Metrics } from '../common/metrics.ts';
import { newId as defaultNewId } from '../common/ids.ts';
import type { EventAttempt, EventDelivery, EventDeliveryStatus, OutboxEvent, Store } from '../store/types.ts';
import { DeliveryWorker, eventBody, sendEvent, type AttemptResult } from './delivery.ts';
import type { BotmakerEvent } from './botmaker.ts';
import { computeHealth, healthSince, type Health } from './health.ts';
import { sampleEvent } from './samples.ts';
import { subscriptionsOf, wants, type Subscription } from './subscriptions.ts';
import { EVENT_TYPES, EVENT_VERSION, type EventInput, type EventSink, type EventType, type HookEvent } from './types.ts';

export interface EventLog {
  info(message: string): void;
  warn(message: string): void;
  error(details: object, message: string): void;
}

export interface EventHubOptions {
  /** the live config: its subscriptions and http policy are read at each use, so a reload applies at once */
  config: Pick<EngineConfig, 'subscriptions' | 'http' | 'storage'> & Partial<Pick<EngineConfig, 'events' | 'secrets'>>;
  store: Store;
  now?(): Date;
  wallClock?(): Date;
  newId?(prefix: string): string;
  concurrency?: number;
  perSubscription?: number;
  pollMs?: number;
}

/** What `GET /api/subscriptions` and `hooks subscriptions` show of one subscription (never its secret or header values). */
export interface SubscriptionOverview
  extends Pick<Subscription, 'id' | 'url' | 'events' | 'format' | 'channels' | 'flows' | 'enabled' | 'ordered' | 'timeoutMs' | 'slowMs' | 'problems'> {
  signed: boolean;
  /** the names only */
  headers: string[];
  retrySchedule: number[];
  breaker: Subscription['breaker'] & { state: string; openedAt: string | null; openUntil: string | null };
  deliveries: Record<EventDeliveryStatus, number>;
  last30m: Health['counts'];
}

export interface TestAnswer extends AttemptResult {
  /** the sample as sent, in the subscription's format */
  event: HookEvent | BotmakerEvent;
}

/** Why a test send is refused: 409 for a disabled subscription, 422 for an event type it does not take. */
export interface TestRefusal {
  status: 409 | 422;
  reason: string;
}

/**
 * A test send goes to an enabled subscription, as a type it takes; an explicit type it takes also reaches a disabled
 * one (to try a receiver before enabling it). `option` is how the caller names the type (`--type`, `?type=`).
 */
export function testRefusal(sub: Pick<Subscription, 'id' | 'enabled' | 'events'>, type: EventType | undefined, option: string): TestRefusal | undefined {
  const takes = `it takes ${sub.events.join(', ')}`;
  if (type !== undefined && !sub.events.includes(type)) return { status: 422, reason: `subscription ${sub.id} does not take ${type} events (${takes}): nothing sent` };
  if (type === undefined && !sub.enabled) {
    return { status: 409, reason: `subscription ${sub.id} is disabled: nothing sent; enable it, or give ${option} with a type it takes (${takes}) to send a sample anyway` };
  }
  return undefined;
}

const SWEEP_EVERY_MS = 60 * 60_000;

/**
 * The engine's events: the sink producers build events with (each with one delivery per matching subscription,
 * committed with the write of its cause: an outbox), the delivery worker (woken by the store after each commit that
 * stored events), and what the admin API and the CLI ask about subscriptions.
 */
export class EventHub implements EventSink {
  readonly worker: DeliveryWorker;
  private readonly now: () => Date;
  private readonly newId: (prefix: string) => string;
  private log: EventLog = { info: () => undefined, warn: () => undefined, error: (details, message) => console.error(message, details) };
  private sweeper: NodeJS.Timeout | undefined;
  private reported: unknown;
  private stopListening: (() => void) | undefined;

  constructor(private readonly options: EventHubOptions) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? defaultNewId;
    this.worker = new DeliveryWorker({
      store: options.store,
      subscriptions: () => this.subscriptions(),
      policy: () => this.policy(),
      businessId: () => this.businessId(),
      now: this.now,
      wallClock: options.wallClock,
      concurrency: options.concurrency,
      perSubscription: options.perSubscription,
      pollMs: options.pollMs,
      onError: (err, what) => this.log.error({ err }, `events: ${what} failed`),
      onBreaker: (id, change, until) =>
        change === 'opened'
          ? this.log.warn(`subscription ${id}: circuit breaker open until ${until!.toISOString()}: deliveries wait and are counted as rejected`)
          : this.log.info(`subscription ${id}: circuit breaker closed, deliveries go on`),
    });
  }

  /** The live subscriptions with their defaults; problems are logged once per configuration. */
  subscriptions(): Subscription[] {
    const subs = subscriptionsOf(this.options.config);
    if (this.reported !== this.options.config.subscriptions) {
      this.reported = this.options.config.subscriptions;
      for (const sub of subs) for (const problem of sub.problems) this.log.error({ subscription: sub.id }, `subscription ${sub.id}: ${problem}`);
    }
    return subs;
  }

  subscription(id: string): Subscription | undefined {
    return this.subscriptions().find((s) => s.id === id);
  }

  wants(event: { type: EventType; flow: string | null; channel: string | null }): boolean {
    return this.subscriptions().some((sub) => wants(sub, event));
  }

  prepare(input: EventInput): OutboxEvent | undefined {
    try {
      const subs = this.subscriptions().filter((sub) => wants(sub, input));
      if (subs.length === 0) return undefined;
      const now = this.now();
      const { id, time, type, ...rest } = input;
      const event = { v: EVENT_VERSION, id: id ?? this.newId('evt'), type, time: time ?? now.toISOString(), ...rest } as HookEvent;
      return {
        event: {
          id: event.id,
          type: event.type,
          flowId: event.flow ?? null,
          channel: 'channel' in event ? event.channel : null,
          contactId: 'contactId' in event ? event.contactId : null,
          payload: JSON.stringify(event),
          createdAt: now.toISOString(),
        },
        deliveries: subs.map((sub) => ({ subscriptionId: sub.id, nextAt: new Date(now.getTime() + (sub.scheduleMs[0] ?? 0)).toISOString() })),
      };
    } catch (err) {
      // a value the event carries that JSON cannot hold (nested too deeply): its cause is stored without it
      this.log.error({ err }, `events: a ${input.type} event cannot be serialised; it is left out`);
      return undefined;
    }
  }

  async emit(input: EventInput): Promise<void> {
    const outbox = this.prepare(input);
    if (outbox) await this.options.store.addEvent(outbox.event, outbox.deliveries);
  }

  /** Starts delivering (and the hourly retention sweep); `log` and `metrics` are the engine's. */
  start(deps: { log?: EventLog; metrics?: Metrics } = {}): void {
    if (deps.log) this.log = deps.log;
    this.subscriptions();
    if (deps.metrics) this.registerMetrics(deps.metrics);
    // every commit that stored events (an outbox's, or emit's) wakes the worker: it looks at once, not at its next poll
    this.stopListening = this.options.store.onEventsCommitted(() => this.worker.notify());
    this.worker.start();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.stopListening?.();
    await this.worker.stop();
  }

  async sweep(): Promise<number> {
    try {
      const removed = await this.options.store.sweepEvents(new Date(this.now().getTime() - this.options.config.storage.retentionMs).toISOString());
      if (removed > 0) this.log.info(`retention: removed ${removed} finished event deliveries`);
      return removed;
    } catch (err) {
      this.log.error({ err }, 'events: retention sweep failed');
      return 0;
    }
  }

  async overview(sub: Subscription): Promise<SubscriptionOverview> {
    const breaker = this.worker.breakerState(sub.id, sub);
    const [deliveries, health] = await Promise.all([this.options.store.eventDeliveryCounts(sub.id), this.health(sub.id)]);
    return {
      id: sub.id,
      url: sub.shownUrl,
      events: sub.events,
      format: sub.format,
      channels: sub.channels,
      flows: sub.flows,
      enabled: sub.enabled,
      ordered: sub.ordered,
      signed: sub.key !== null,
      headers: Object.keys(sub.headers),
      timeoutMs: sub.timeoutMs,
      retrySchedule: sub.scheduleMs,
      slowMs: sub.slowMs,
      breaker: { ...sub.breaker, state: breaker.state, openedAt: breaker.openedAt, openUntil: breaker.openUntil },
      problems: sub.problems,
      deliveries,
      last30m: health.counts,
    };
  }

  async health(subscriptionId: string): Promise<Health> {
    const now = this.now();
    return computeHealth(await this.options.store.eventHealth(subscriptionId, healthSince(now)), now);
  }

  errors(subscriptionId: string, limit = 50): Promise<EventAttempt[]> {
    return this.options.store.eventErrors(subscriptionId, limit);
  }

  deliveries(subscriptionId: string, query: { status?: EventDeliveryStatus; before?: number; limit: number }): Promise<EventDelivery[]> {
    return this.options.store.listEventDeliveries({ subscriptionId, ...query });
  }

  /** Dead letters created since `since` (all when absent) are sent again now, on a fresh retry schedule. */
  async replay(subscriptionId: string, query: { since?: string; ids?: number[] } = {}): Promise<number> {
    const replayed = await this.options.store.replayEventDeliveries(subscriptionId, query, this.now().toISOString());
    if (replayed > 0) this.worker.notify();
    return replayed;
  }

  /**
   * Sends a sample event (of `type`, else the subscription's first) in the subscription's format now, and returns the
   * receiver's answer. Not stored. Callers check testRefusal first: this sends whether the subscription is enabled or not.
   */
  async test(sub: Subscription, type?: EventType): Promise<TestAnswer> {
    const sample = sampleEvent(type ?? sub.events[0] ?? EVENT_TYPES[0], this.newId('evt'), this.now());
    const event = eventBody(sub, sample, this.businessId()) as TestAnswer['event'];
    const result = await sendEvent(sub, event.id, event, this.policy(), (this.options.wallClock ?? (() => new Date()))());
    return { ...result, event };
  }

  /** botmaker-1.1 bodies carry the config's events.businessId */
  private businessId(): string | null {
    return this.options.config.events?.businessId ?? null;
  }

  private policy() {
    const { http } = this.options.config;
    return { allowPrivateNetworks: http.allowPrivateNetworks, allowList: http.allowList, maxResponseBytes: http.maxResponseBytes };
  }

  private registerMetrics(metrics: Metrics): void {
    const label = (id: string) => `subscription="${id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    metrics.gauge('hooks_event_deliveries', 'Event deliveries waiting (pending) or given up (failed, replayable), by subscription.', async () => {
      const values: Record<string, number> = {};
      for (const sub of this.subscriptions()) {
        const counts = await this.options.store.eventDeliveryCounts(sub.id);
        values[`${label(sub.id)},status="pending"`] = counts.pending;
        values[`${label(sub.id)},status="failed"`] = counts.failed;
      }
      return values;
    });
    metrics.gauge('hooks_subscription_breaker_open', 'Whether a subscription\'s circuit breaker holds its deliveries (1) or not (0).', async () =>
      Object.fromEntries(this.subscriptions().map((sub) => [label(sub.id), this.worker.breakerState(sub.id).state === 'open' ? 1 : 0])),
    );
  }
}
