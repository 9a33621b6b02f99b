// Outbound event delivery against real receivers (node:http on 127.0.0.1), on a fake clock that the tests advance
// and a worker they poke (`drain`): signatures checked by the standardwebhooks library itself, retries on schedule,
// dead letters and replay, the circuit breaker, ordering, health figures, and what a disabled subscription does.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Webhook } from 'standardwebhooks';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { EngineConfig } from '../engine/config/load.ts';
import { openSqliteStore, type SqliteStore } from '../engine/store/sqlite/store.ts';
import { EventHub } from '../engine/events/service.ts';
import { EVENT_TYPES, type EventInput } from '../engine/events/types.ts';
import { sampleEvent } from '../engine/events/samples.ts';

const require = createRequire(import.meta.url);
const eventSchema = require('../schemas/event.schema.json');
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
(require('ajv-formats') as (a: Ajv2020) => void)(ajv);
const validEvent = ajv.compile(eventSchema);

const SECRET = `whsec_${Buffer.from('a secret of thirty-two bytes ....').toString('base64')}`;
const T0 = new Date('2026-03-02T10:00:00.000Z');
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

type Subscription = EngineConfig['subscriptions'][number];

// ------------------------------------------------------------------------------------------------------ receivers

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  event: { id: string; type: string; flow: string | null; [k: string]: unknown };
  verified: boolean;
}

type Answer = { status: number; body?: string; delayMs?: number } | 'hang';

/** A real HTTP server that records every delivery, checks its signature with the standardwebhooks library, and answers as told. */
async function startReceiver(answer: (event: Received['event'], n: number) => Answer = () => ({ status: 200 })) {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(SECRET).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const event = JSON.parse(body);
      received.push({ headers: req.headers, body, event, verified });
      const a = answer(event, received.length);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? ''), a.delayMs ?? 0);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    answer: (fn: typeof answer) => (answer = fn),
    ids: () => received.map((r) => r.event.id),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A loopback port nothing listens on: connections are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

// ------------------------------------------------------------------------------------------------------ set-up

let clock: Date;
let store: SqliteStore;
let config: Pick<EngineConfig, 'subscriptions' | 'http' | 'storage'>;
let hub: EventHub;
const closers: (() => Promise<void>)[] = [];
const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));

function configure(subscriptions: Subscription[], http: Partial<EngineConfig['http']> = {}) {
  config = {
    subscriptions,
    http: { timeoutMs: 15_000, allowPrivateNetworks: true, allowList: [], maxResponseBytes: 1024 * 1024, maxRedirects: 5, ...http },
    storage: { url: 'sqlite://:memory:', retentionMs: 30 * 86_400_000 },
  };
  hub = new EventHub({ config, store, now: () => clock });
}

beforeEach(async () => {
  clock = T0;
  store = await openSqliteStore(':memory:', { now: () => clock });
});

afterEach(async () => {
  await hub?.stop();
  await store.close();
  for (const close of closers.splice(0)) await close();
});

async function receiver(answer?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(answer);
  closers.push(r.close);
  return r;
}

let n = 0;
function execution(flow = 'orders', extra: Partial<Extract<EventInput, { type: 'execution' }>> = {}): EventInput {
  n++;
  return {
    type: 'execution',
    flow,
    executionId: `ex_${n}`,
    mode: 'async',
    outcome: 'completed',
    durationMs: 12,
    startedAt: clock.toISOString(),
    finishedAt: clock.toISOString(),
    logId: `log_${n}`,
    contactId: null,
    error: null,
    ...extra,
  };
}

async function deliveriesOf(sub: string) {
  return store.listEventDeliveries({ subscriptionId: sub, limit: 1000 });
}

// ------------------------------------------------------------------------------------------------------ tests

describe('event delivery: signed, stored first, sent by the worker', () => {
  it('signs every delivery the Standard Webhooks way, verified by the standardwebhooks library, with the payload as stored', async () => {
    const r = await receiver(() => ({ status: 204 }));
    configure([{ id: 'crm', url: r.url, events: ['execution', 'variables'], secret: SECRET, headers: { 'X-Tenant': 'acme' } }]);
    await hub.emit(execution());
    await hub.emit({ type: 'variables', flow: 'orders', contactId: 'ct_1', executionId: 'ex_1', logId: 'log_1', variables: { first_name: 'Ann' }, changes: [{ field: 'first_name', oldValue: null, newValue: 'Ann' }] });
    expect(r.received).toHaveLength(0); // stored, not sent: the worker sends
    expect((await deliveriesOf('crm')).map((d) => d.status)).toEqual(['pending', 'pending']);

    await hub.worker.drain();
    expect(r.received).toHaveLength(2);
    for (const got of r.received) {
      expect(got.verified).toBe(true);
      expect(got.headers['webhook-id']).toBe(got.event.id);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['x-tenant']).toBe('acme');
      expect(validEvent(got.event), JSON.stringify(validEvent.errors)).toBe(true);
      expect(got.event.v).toBe('1.1');
    }
    expect(r.received.map((g) => g.event.type).sort()).toEqual(['execution', 'variables']);
    // a tampered body fails the library's check: the signature covers the exact bytes sent
    const first = r.received[0];
    expect(() => new Webhook(SECRET).verify(first.body.replace('"v":"1.1"', '"v":"1.2"'), first.headers as Record<string, string>)).toThrow();
    expect((await deliveriesOf('crm')).map((d) => d.status)).toEqual(['delivered', 'delivered']);
  });

  it('sends without a signature header when the subscription has no secret, and refuses a secret that is not whsec_ base64', async () => {
    const r = await receiver();
    configure([
      { id: 'open', url: r.url, events: ['execution'] },
      { id: 'bad-secret', url: r.url, events: ['execution'], secret: 'not base64 !!' },
    ]);
    await hub.emit(execution());
    await hub.worker.drain();
    expect(r.received).toHaveLength(1);
    expect(r.received[0].headers['webhook-id']).toBe(r.received[0].event.id);
    expect(r.received[0].headers['webhook-signature']).toBeUndefined();
    // the misconfigured one keeps its event waiting, and says why
    const [bad] = await deliveriesOf('bad-secret');
    expect(bad.status).toBe('pending');
    expect((await hub.overview(hub.subscription('bad-secret')!)).problems[0]).toMatch(/not a Standard Webhooks secret/);
  });

  it('stores one delivery per matching subscription: event types, channel and flow filters', async () => {
    const r = await receiver();
    configure([
      { id: 'all', url: r.url, events: ['message', 'status', 'variables', 'execution'] },
      { id: 'sms-only', url: r.url, events: ['message', 'status', 'execution'], channels: ['sms'] },
      { id: 'orders-flow', url: r.url, events: ['execution', 'status'], flows: ['orders'] },
      { id: 'nothing', url: r.url, events: ['variables'] },
    ]);
    const status = (channel: string, flow: string | null): EventInput => ({
      type: 'status', flow, platform: 'twilio-sms', channel, contactId: 'ct_1', messageId: `msg_${channel}`, providerId: null, status: 'delivered', statusChangeTime: clock.toISOString(), error: null,
    });
    await Promise.all([hub.emit(execution('orders')), hub.emit(execution('billing')), hub.emit(status('sms', 'orders')), hub.emit(status('email', 'orders')), hub.emit(status('sms', null))]);
    const types = async (sub: string) => (await deliveriesOf(sub)).map((d) => d.eventType).sort();
    expect(await types('all')).toEqual(['execution', 'execution', 'status', 'status', 'status']);
    // channels narrow the events that have one; execution events have no channel and pass
    expect(await types('sms-only')).toEqual(['execution', 'execution', 'status', 'status']);
    // flows narrow the events that have one; a status whose flow is unknown passes
    expect(await types('orders-flow')).toEqual(['execution', 'status', 'status', 'status']);
    expect(await types('nothing')).toEqual([]);
  });

  it('stores an event id once: emitting it again adds no delivery and does not fail the writes it is committed with', async () => {
    const r = await receiver();
    configure([{ id: 'crm', url: r.url, events: ['execution'] }]);
    await Promise.all([hub.emit({ ...execution(), id: 'evt_same' }), hub.emit({ ...execution(), id: 'evt_same' }), hub.emit(execution())]);
    expect((await deliveriesOf('crm')).map((d) => d.eventId).filter((id) => id === 'evt_same')).toHaveLength(1);
    expect(await deliveriesOf('crm')).toHaveLength(2);
    await hub.worker.drain();
    expect(r.received).toHaveLength(2);
  });

  it('joins the store\'s group commit: an event emitted with a request\'s writes lands in the same transaction', async () => {
    const r = await receiver();
    configure([{ id: 'crm', url: r.url, events: ['execution'] }]);
    const before = store.stats.batches;
    await Promise.all([hub.emit(execution()), hub.emit(execution()), hub.emit(execution())]);
    expect(store.stats.batches - before).toBe(1);
    expect(await deliveriesOf('crm')).toHaveLength(3);
  });
});

describe('event delivery: failures, retries on schedule, dead letters and replay', () => {
  it('retries a receiver answering 500 on the default schedule (0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h), then dead-letters it; replay delivers it', async () => {
    const r = await receiver(() => ({ status: 500, body: 'database down' }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], secret: SECRET }]);
    await hub.emit(execution());
    const schedule = [0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];
    const expectedTimes: string[] = [];
    for (const [i, delay] of schedule.entries()) {
      if (delay > 0) {
        advance(delay - 1); // just before it is due: nothing goes
        await hub.worker.drain();
        expect(r.received).toHaveLength(i);
        advance(1);
      }
      await hub.worker.drain();
      expectedTimes.push(clock.toISOString());
      expect(r.received).toHaveLength(i + 1);
    }
    const [delivery] = await deliveriesOf('crm');
    expect(delivery.status).toBe('failed');
    expect(delivery.attempts).toBe(8);
    expect(delivery.lastStatus).toBe(500);
    const attempts = await store.eventAttempts(delivery.id);
    expect(attempts.map((a) => a.at)).toEqual(expectedTimes);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(attempts.every((a) => a.outcome === 'error' && a.status === 500 && a.body === 'database down')).toBe(true);
    // the same webhook-id on every attempt, each one signed
    expect(new Set(r.ids())).toEqual(new Set([delivery.eventId]));
    expect(r.received.every((g) => g.verified)).toBe(true);

    // a dead letter stays put
    advance(30 * 86_400_000 - 1);
    await hub.worker.drain();
    expect(r.received).toHaveLength(8);
    expect((await hub.deliveries('crm', { status: 'failed', limit: 10 })).map((d) => d.id)).toEqual([delivery.id]);

    // replay: the receiver is back, the dead letter goes again with the same id
    r.answer(() => ({ status: 200 }));
    expect(await hub.replay('crm', { since: new Date(T0.getTime() - 1).toISOString() })).toBe(1);
    await hub.worker.drain();
    expect(r.received).toHaveLength(9);
    expect(r.received[8].event.id).toBe(delivery.eventId);
    expect(r.received[8].verified).toBe(true);
    const [after] = await deliveriesOf('crm');
    expect(after).toMatchObject({ status: 'delivered', replays: 1, attempts: 1 });
  });

  it('replays only the dead letters created since the given time', async () => {
    const r = await receiver(() => ({ status: 503 }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], retrySchedule: ['0s'] }]);
    await hub.emit(execution());
    advance(HOUR);
    const since = clock.toISOString();
    await hub.emit(execution());
    await hub.worker.drain();
    expect((await deliveriesOf('crm')).map((d) => d.status)).toEqual(['failed', 'failed']);
    r.answer(() => ({ status: 200 }));
    expect(await hub.replay('crm', { since })).toBe(1);
    await hub.worker.drain();
    expect((await deliveriesOf('crm')).map((d) => d.status)).toEqual(['delivered', 'failed']); // newest first
  });

  it('counts a timeout and a refused connection as errors with no status, and keeps the last errors with status, body and time', async () => {
    const hang = await receiver(() => 'hang');
    const failing = await receiver(() => ({ status: 502, body: `<html>${'bad gateway '.repeat(200)}</html>` }));
    const refused = `http://127.0.0.1:${await closedPort()}/events`;
    configure([
      { id: 'slowpoke', url: hang.url, events: ['execution'], timeout: '300ms', retrySchedule: ['0s', '1m'] },
      { id: 'gone', url: refused, events: ['execution'], retrySchedule: ['0s', '1m'] },
      { id: 'gateway', url: failing.url, events: ['execution'], retrySchedule: ['0s', '1m'] },
    ]);
    await hub.emit(execution());
    await hub.worker.drain();
    expect(hang.received).toHaveLength(1);

    const [timeout] = await hub.errors('slowpoke');
    expect(timeout).toMatchObject({ outcome: 'error', status: null, attempt: 1, at: T0.toISOString() });
    expect(timeout.error).toMatch(/no complete answer .* within 300 ms/);
    expect(timeout.durationMs).toBeGreaterThanOrEqual(250);

    const [conn] = await hub.errors('gone');
    expect(conn).toMatchObject({ outcome: 'error', status: null });
    expect(conn.error).toMatch(/ECONNREFUSED|refused/i);

    const [bad] = await hub.errors('gateway');
    expect(bad).toMatchObject({ outcome: 'error', status: 502 });
    expect(bad.body!.length).toBeLessThanOrEqual(1_001);
    expect(bad.body).toMatch(/^<html>bad gateway/);

    // each is pending again, due in a minute
    for (const sub of ['slowpoke', 'gone', 'gateway']) {
      const [d] = await deliveriesOf(sub);
      expect(d).toMatchObject({ status: 'pending', attempts: 1, nextAt: new Date(T0.getTime() + MINUTE).toISOString() });
    }
  });

  it('keeps the last 50 errors, newest first', async () => {
    const r = await receiver((_e, i) => ({ status: 500, body: `failure ${i}` }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], retrySchedule: ['0s'], breaker: { failures: 1000 } }]);
    for (let i = 0; i < 60; i++) await hub.emit(execution());
    await hub.worker.drain();
    const errors = await hub.errors('crm');
    expect(errors).toHaveLength(50);
    const bodies = errors.map((e) => Number(e.body!.split(' ')[1]));
    expect(bodies).toHaveLength(50);
    expect(new Set(bodies).size).toBe(50);
    expect(Math.min(...bodies)).toBe(11); // the first ten are older than the last fifty
  });

  it('refuses private addresses unless the http policy allows them', async () => {
    const r = await receiver();
    configure([{ id: 'crm', url: r.url, events: ['execution'] }], { allowPrivateNetworks: false });
    await hub.emit(execution());
    await hub.worker.drain();
    expect(r.received).toHaveLength(0);
    const [error] = await hub.errors('crm');
    expect(error.error).toMatch(/private|loopback|not allowed|refused/i);
  });
});

describe('event delivery: circuit breaker', () => {
  it('opens after more than `failures` failures in the window, holds deliveries as rejected, and after the cool-down delivers every event', async () => {
    const r = await receiver(() => ({ status: 500 }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], secret: SECRET, breaker: { failures: 3, window: '1m', cooldown: '10m' } }]);
    for (let i = 0; i < 3; i++) await hub.emit(execution());
    await hub.worker.drain();
    expect(hub.worker.breakerState('crm').state).toBe('closed'); // 3 failures: not over 3
    await hub.emit(execution());
    await hub.worker.drain();
    expect(r.received).toHaveLength(4);
    const opened = hub.worker.breakerState('crm');
    expect(opened).toMatchObject({ state: 'open', openUntil: new Date(T0.getTime() + 10 * MINUTE).toISOString() });

    // while open: new events are stored and held; the failed ones' retries come due and are held too
    for (let i = 0; i < 6; i++) await hub.emit(execution());
    await hub.worker.drain();
    advance(5 * SECOND);
    await hub.worker.drain();
    advance(4 * MINUTE);
    await hub.worker.drain();
    expect(r.received).toHaveLength(4); // nothing sent while open
    let health = await hub.health('crm');
    expect(health.counts).toEqual({ success: 0, slow: 0, error: 4, rejected: 10 });
    expect((await store.eventBreakers())[0]).toMatchObject({ subscriptionId: 'crm', openUntil: opened.openUntil });

    // the receiver recovers; the cool-down ends; a probe goes, succeeds, and the rest follow
    r.answer(() => ({ status: 200 }));
    clock = new Date(Date.parse(opened.openUntil!) - 1);
    await hub.worker.drain();
    expect(r.received).toHaveLength(4);
    advance(1);
    await hub.worker.drain();
    expect(hub.worker.breakerState('crm').state).toBe('closed');
    const delivered = await deliveriesOf('crm');
    expect(delivered).toHaveLength(10);
    expect(delivered.every((d) => d.status === 'delivered')).toBe(true);
    const ids = new Set(r.received.filter((g) => g.verified).map((g) => g.event.id));
    expect(ids).toEqual(new Set(delivered.map((d) => d.eventId))); // every event reached the receiver; none dropped
    health = await hub.health('crm');
    expect(health.counts).toEqual({ success: 10, slow: 0, error: 4, rejected: 10 });
  });

  it('opens again when the probe after the cool-down fails, and never drops the held events', async () => {
    const r = await receiver(() => ({ status: 500 }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], breaker: { failures: 1, window: '1m', cooldown: '1m' } }]);
    await hub.emit(execution());
    await hub.emit(execution());
    await hub.worker.drain();
    expect(hub.worker.breakerState('crm').state).toBe('open');
    advance(MINUTE);
    const sent = r.received.length;
    await hub.worker.drain();
    expect(r.received.length).toBe(sent + 1); // one probe only
    expect(hub.worker.breakerState('crm')).toMatchObject({ state: 'open', openUntil: new Date(clock.getTime() + MINUTE).toISOString() });
    expect((await deliveriesOf('crm')).every((d) => d.status === 'pending')).toBe(true);
    r.answer(() => ({ status: 200 }));
    advance(MINUTE); // the second cool-down ends: the held event goes as the probe, and closes the breaker
    await hub.worker.drain();
    expect(hub.worker.breakerState('crm').state).toBe('closed');
    expect((await deliveriesOf('crm')).map((d) => d.status).sort()).toEqual(['delivered', 'pending']);
    advance(4 * MINUTE); // the failed probe's own retry (5 minutes after its second attempt) comes due
    await hub.worker.drain();
    expect((await deliveriesOf('crm')).every((d) => d.status === 'delivered')).toBe(true);
  });

  it('a restarted worker takes the open period back from storage', async () => {
    const r = await receiver(() => ({ status: 500 }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], breaker: { failures: 1, cooldown: '10m' } }]);
    await hub.emit(execution());
    await hub.emit(execution());
    await hub.worker.drain();
    const { openUntil } = hub.worker.breakerState('crm');
    expect(openUntil).not.toBeNull();
    r.answer(() => ({ status: 200 }));
    configure(config.subscriptions); // a new hub on the same store, as after a restart
    await hub.worker.restoreBreakers();
    expect(hub.worker.breakerState('crm')).toMatchObject({ state: 'open', openUntil });
    advance(5 * SECOND);
    await hub.worker.drain();
    expect(r.received).toHaveLength(2);
  });
});

describe('event delivery: order, enabled, health', () => {
  it('keeps a subscription\'s order when it is `ordered`: a later event waits while an earlier one is retried', async () => {
    // each receiver fails the first attempt of the first event
    const failOnce = () => {
      let failed = false;
      return (event: Received['event']): Answer => (event.executionId === 'first' && !failed ? ((failed = true), { status: 500 }) : { status: 200 });
    };
    const ordered = await receiver(failOnce());
    const unordered = await receiver(failOnce());
    configure([
      { id: 'ordered', url: ordered.url, events: ['execution'], ordered: true },
      { id: 'unordered', url: unordered.url, events: ['execution'] },
    ]);
    await hub.emit(execution('orders', { executionId: 'first' }));
    await hub.emit(execution('orders', { executionId: 'second' }));
    await hub.emit(execution('orders', { executionId: 'third' }));
    await hub.worker.drain();
    const sequence = (r: typeof ordered) => r.received.map((g) => g.event.executionId);
    expect(sequence(ordered)).toEqual(['first']);
    expect(sequence(unordered).sort()).toEqual(['first', 'second', 'third']);
    advance(5 * SECOND);
    await hub.worker.drain();
    expect(sequence(ordered)).toEqual(['first', 'first', 'second', 'third']);
  });

  it('a disabled subscription stores its events and sends nothing; enabled again, it delivers them all', async () => {
    const r = await receiver();
    const sub: Subscription = { id: 'crm', url: r.url, events: ['execution'], enabled: false };
    configure([sub]);
    for (let i = 0; i < 3; i++) await hub.emit(execution());
    advance(HOUR);
    await hub.worker.drain();
    expect(r.received).toHaveLength(0);
    expect(await store.eventDeliveryCounts('crm')).toEqual({ pending: 3, delivered: 0, failed: 0 });
    config.subscriptions = [{ ...sub, enabled: true }]; // what a config reload does
    await hub.worker.drain();
    expect(r.received).toHaveLength(3);
    expect(await store.eventDeliveryCounts('crm')).toEqual({ pending: 0, delivered: 3, failed: 0 });
  });

  it('health: success, slow, error and rejected by minute over the last 30 minutes, with fastest, average and slowest time', async () => {
    const seen: { flow: string; status: number; at: string }[] = [];
    const r = await receiver((event) => {
      const a: Answer = event.flow === 'slow' ? { status: 200, delayMs: 250 } : event.flow === 'fail' ? { status: 500, body: 'no' } : { status: 204 };
      seen.push({ flow: event.flow!, status: a.status, at: clock.toISOString().slice(0, 16) });
      return a;
    });
    configure([{ id: 'crm', url: r.url, events: ['execution'], slowThreshold: '150ms', retrySchedule: ['0s'] }]);
    const batch = async (flows: string[]) => {
      for (const flow of flows) await hub.emit(execution(flow));
      await hub.worker.drain();
    };
    clock = new Date('2026-03-02T10:00:10.000Z');
    await batch(['ok', 'ok', 'ok', 'slow', 'fail', 'fail']);
    clock = new Date('2026-03-02T10:01:30.000Z');
    await batch(['ok', 'ok', 'fail']);
    clock = new Date('2026-03-02T10:05:59.000Z');
    await batch(['slow']);
    // an hour earlier than the window: not counted
    clock = new Date('2026-03-02T09:20:00.000Z');
    await batch(['ok']);

    clock = new Date('2026-03-02T10:06:00.000Z');
    const health = await hub.health('crm');
    expect(health.counts).toEqual({ success: 5, slow: 2, error: 3, rejected: 0 });
    expect(health.histogram).toHaveLength(30);
    expect(health.from).toBe('2026-03-02T09:37:00.000Z');
    const busy = health.histogram.filter((m) => m.success + m.slow + m.error + m.rejected > 0);
    expect(busy).toEqual([
      { minute: '2026-03-02T10:00:00.000Z', success: 3, slow: 1, error: 2, rejected: 0 },
      { minute: '2026-03-02T10:01:00.000Z', success: 2, slow: 0, error: 1, rejected: 0 },
      { minute: '2026-03-02T10:05:00.000Z', success: 0, slow: 1, error: 0, rejected: 0 },
    ]);
    // what the receiver answered, minute by minute, is what the histogram shows
    const fromReceiver = new Map<string, { ok: number; error: number }>();
    for (const s of seen.filter((s) => s.at >= '2026-03-02T09:37')) {
      const m = fromReceiver.get(s.at) ?? { ok: 0, error: 0 };
      if (s.status < 300) m.ok++;
      else m.error++;
      fromReceiver.set(s.at, m);
    }
    for (const m of busy) expect(fromReceiver.get(m.minute.slice(0, 16))).toEqual({ ok: m.success + m.slow, error: m.error });
    // times: the slow answers are the slowest, and every answered attempt (500s included) is in the average
    expect(health.slowestMs!).toBeGreaterThanOrEqual(250);
    expect(health.fastestMs!).toBeLessThan(150);
    expect(health.averageMs!).toBeGreaterThan(health.fastestMs!);
    expect(health.averageMs!).toBeLessThan(health.slowestMs!);
    // the figures move with the window: half an hour later the 10:00 minute is out
    clock = new Date('2026-03-02T10:30:00.000Z');
    expect((await hub.health('crm')).counts).toEqual({ success: 2, slow: 1, error: 1, rejected: 0 });
  });

  it('stops on stop(): in-flight deliveries finish, nothing pending is lost, and a new worker delivers the rest', async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 100 }));
    configure([{ id: 'crm', url: r.url, events: ['execution'], ordered: true }]);
    for (let i = 0; i < 5; i++) await hub.emit(execution());
    hub.worker.start();
    for (let waited = 0; r.received.length === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    await hub.stop(); // the first delivery is in flight (its answer takes 100 ms): stop waits for it
    const got = r.received.length;
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(5);
    const counts = await store.eventDeliveryCounts('crm');
    expect(counts.pending + counts.delivered).toBe(5);
    configure(config.subscriptions);
    await hub.worker.drain();
    expect(new Set(r.ids()).size).toBe(5);
  });
});

describe('event payloads: schemas/event.schema.json', () => {
  /** every property, at any depth, explains itself */
  function undescribed(node: unknown, path = '#'): string[] {
    if (node === null || typeof node !== 'object') return [];
    const missing: string[] = [];
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'properties') {
        for (const [name, prop] of Object.entries(child as Record<string, Record<string, unknown>>)) {
          if (!prop.description) missing.push(`${path}/properties/${name}`);
          missing.push(...undescribed(prop, `${path}/properties/${name}`));
        }
      } else missing.push(...undescribed(child, `${path}/${key}`));
    }
    return missing;
  }

  it('is draft 2020-12, one definition per event type with unknown properties refused, every property described', () => {
    expect(eventSchema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(eventSchema.oneOf.map((o: { $ref: string }) => o.$ref)).toEqual(EVENT_TYPES.map((t) => `#/$defs/${t}`));
    for (const type of EVENT_TYPES) {
      expect(eventSchema.$defs[type].additionalProperties).toBe(false);
      expect(eventSchema.$defs[type].properties.type.const).toBe(type);
    }
    expect(undescribed(eventSchema)).toEqual([]);
  });

  it.each(EVENT_TYPES)('the sample %s event is valid, and a wrong or missing property is refused', (type) => {
    const event = sampleEvent(type, 'evt_1', T0) as unknown as Record<string, unknown>;
    expect(validEvent(event), JSON.stringify(validEvent.errors)).toBe(true);
    expect(validEvent({ ...event, v: '2.0' })).toBe(false);
    expect(validEvent({ ...event, extra: 1 })).toBe(false);
    const { time: _time, ...withoutTime } = event;
    expect(validEvent(withoutTime)).toBe(false);
  });
});
