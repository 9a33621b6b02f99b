/**
 * Events commit with their cause (an outbox): a send step's `message` and `status` with its journal entry, `execution`
 * with the finish (or with the log row of a sync run that ended before its answer), `variables` with the contact's
 * field changes, an inbound `message` with its request's log row. Through a real engine on SQLite, the outbox channel
 * and a real subscriber verifying signatures with the standardwebhooks library; then a `hooks serve` killed with
 * SIGKILL right after a send step's journal commit, and started again.
 */
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionEventId } from '../engine/events/producers.ts';
import { messageEventId, statusEventId } from '../engine/messages/events.ts';
import { openStore } from '../engine/store/open.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';
import { startSubscriber, type ReceivedEvent } from './support/subscriber.ts';
import { eventually } from './support/twilio-faults.ts';

const SECRET = `whsec_${Buffer.from('outbox test key, thirty-two byte').toString('base64')}`;

/** The event ids a subscriber received, each as often as it was received; every one signed, under its own webhook-id. */
function receivedIds(received: ReceivedEvent[]): string[] {
  return received.map((got) => {
    expect(got.verified).toBe(true);
    expect(got.headers['webhook-id']).toBe(got.event.id);
    return got.event.id as string;
  });
}

const count = (ids: string[], id: string) => ids.filter((each) => each === id).length;

describe('events from a running engine, each committed with its cause', () => {
  let engine: TestEngine;
  let subscriber: Awaited<ReturnType<typeof startSubscriber>>;

  beforeAll(async () => {
    subscriber = await startSubscriber(SECRET);
    engine = await startTestEngine(
      {
        'notify.yaml': `version: 1
id: notify
trigger: { path: /notify }
identify: { phone: body.phone, defaultCountry: US }
map: { first_name: body.name }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: text
    send: { channel: sms, to: "{{ contact.phone }}", text: "Hi {{ contact.fields.first_name }}" }
  - id: after
    set: { done: true }
`,
        'quote.yaml': `version: 1
id: quote
trigger: { path: /quote }
mode: sync
steps:
  - id: text
    send: { channel: sms, to: "+14155550123", text: "Your quote is ready" }
`,
        'incoming.yaml': `version: 1
id: incoming
trigger:
  path: /incoming
  accept: [form]
  inbound: { channel: sms, from: body.From, text: body.Body }
`,
      },
      `fields: { first_name: text }
http: { allowPrivateNetworks: true }
channels:
  sms: { driver: outbox }
subscriptions:
  - { id: crm, url: "${subscriber.url}", events: [message, status, variables, execution], secret: "${SECRET}" }
`,
    );
  });
  afterAll(async () => {
    await engine?.stop();
    await subscriber?.close();
  });

  /** Waits until the subscription has nothing pending, then a little longer: nothing more is coming. */
  async function settled(): Promise<string[]> {
    await eventually(async () => (await engine.store.eventDeliveryCounts('crm')).pending === 0, 15_000, 'the deliveries');
    await new Promise((resolve) => setTimeout(resolve, 300));
    return receivedIds(subscriber.received);
  }

  it('an async run: its variables, its send step\'s message and status, and its execution event are each delivered once', async () => {
    const res = await engine.request('/hooks/notify', { json: { phone: '+1 415 555 0100', name: 'Ann' } });
    expect(res.status).toBe(202);
    const executionId = (res.body as { execution: string }).execution;
    await eventually(async () => (await engine.store.getExecution(executionId))?.status === 'completed', 15_000, 'the execution');
    const messageId = (await engine.store.messageForStep(executionId, 'text'))!.id;
    await eventually(async () => subscriber.received.length >= 4 || undefined, 15_000, 'four events');

    const ids = await settled();
    const variables = subscriber.received.find((got) => got.event.type === 'variables')!.event;
    expect(variables).toMatchObject({ executionId, variables: { first_name: 'Ann' } });
    for (const id of [messageEventId(messageId), statusEventId(messageId, 'stored'), executionEventId(executionId), variables.id]) expect(count(ids, id)).toBe(1);
    expect(ids).toHaveLength(4);
    const byType = Object.fromEntries(subscriber.received.map((got) => [got.event.type, got.event]));
    expect(byType.message).toMatchObject({ id: messageEventId(messageId), executionId, variables: { first_name: 'Ann' }, firstName: 'Ann' });
    expect(byType.status).toMatchObject({ messageId, status: 'stored' });
    expect(byType.execution).toMatchObject({ executionId, mode: 'async', outcome: 'completed' });
    // one delivery each, recorded as delivered
    const deliveries = await engine.store.listEventDeliveries({ subscriptionId: 'crm', limit: 100 });
    expect(deliveries.map((d) => [d.eventId, d.status]).sort()).toEqual(ids.map((id) => [id, 'delivered']).sort());
  });

  it('a sync run that ends before its answer: its message, status and execution events come with its one commit', async () => {
    const before = subscriber.received.length;
    const res = await engine.request('/hooks/quote', { json: {} });
    expect(res.status).toBe(200);
    const executionId = (res.body as { execution: string }).execution;
    const messageId = (await engine.store.messageForStep(executionId, 'text'))!.id;
    await eventually(async () => subscriber.received.length >= before + 3 || undefined, 15_000, 'three events');

    const ids = (await settled()).slice(before);
    expect(ids.sort()).toEqual([executionEventId(executionId), messageEventId(messageId), statusEventId(messageId, 'stored')].sort());
    expect(subscriber.received.find((got) => got.event.id === executionEventId(executionId))!.event).toMatchObject({ mode: 'sync', outcome: 'completed' });
  });

  it('an inbound message is one event, also when its webhook comes again', async () => {
    const before = subscriber.received.length;
    const form = { From: '+14155550100', Body: 'Thanks!', MessageSid: 'SM0123456789abcdef0123456789abcdef' };
    expect((await engine.request('/hooks/incoming', { form })).status).toBe(200);
    // the sender's retry: it finds the message its first copy stored, and its event (the same id) is ignored
    expect((await engine.request('/hooks/incoming', { form })).status).toBe(200);
    await eventually(async () => subscriber.received.length > before || undefined, 15_000, 'the inbound message');

    await settled();
    // each request ran its own execution (an execution event each); the message is one
    const got = subscriber.received.slice(before).map((r) => r.event);
    expect(got.map((event) => event.type).sort()).toEqual(['execution', 'execution', 'message']);
    expect(got.find((event) => event.type === 'message')).toMatchObject({ flow: 'incoming', messages: [{ from: 'user', text: 'Thanks!' }] });
  });
});

/**
 * A receiver for the flow's http step that never answers the first call of each Idempotency-Key (the engine dies
 * waiting for it) and answers the others; `onFirst` runs as the first call arrives.
 */
async function holdingReceiver(onFirst: (key: string) => void) {
  const calls = new Map<string, number>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      if (calls.get(key) === 1) return onFirst(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('hooks serve killed with SIGKILL right after a send step\'s journal commit', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let child: ChildProcess | undefined;
  let subscriber: Awaited<ReturnType<typeof startSubscriber>>;
  let receiver: Awaited<ReturnType<typeof holdingReceiver>>;
  let firstCall: Promise<string>;

  beforeAll(async () => {
    dir = await scratchDir('hooks-outbox-crash-');
    subscriber = await startSubscriber(SECRET);
    let called: (key: string) => void = () => undefined;
    firstCall = new Promise((resolve) => (called = resolve));
    // killed the moment the http step calls: the send step before it has its journal entry committed, with its events
    receiver = await holdingReceiver((key) => {
      child?.kill('SIGKILL');
      called(key);
    });
    await dir.write('flows/notify.yaml', `version: 1
id: notify
trigger: { path: /notify }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: text
    send: { channel: sms, to: "+14155550100", text: "Your order shipped" }
  - id: call
    http: { method: POST, url: "${receiver.url}/crm", body: { execution: "{{ $execution.id }}" } }
`);
    // the first attempt of a delivery 2 s after its event: none is sent before the kill, so none is in flight at it
    await dir.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }
queue: { lease: 1s }
http: { allowList: ["127.0.0.1"] }
channels:
  sms: { driver: outbox }
subscriptions:
  - { id: crm, url: "${subscriber.url}", events: [message, status, execution], secret: "${SECRET}", retrySchedule: [2s, 1s] }
`);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await receiver?.close();
    await subscriber?.close();
    await dir?.remove();
  });

  it('loses no event and duplicates none after the restart: the resumed run replays the step without emitting again', { timeout: 60_000 }, async () => {
    const config = `${dir.dir}/hooks.config.yaml`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawnServe(config, port);
    await waitReady(url);
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    const res = await fetch(`${url}/hooks/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(202);
    const executionId = ((await res.json()) as { execution: string }).execution;
    expect(await firstCall).toBe(`${executionId}:call`);
    await exited;

    // what the killed process left: the step's journal entry and its two events, committed together; no execution
    // event (the run did not end), no attempt yet
    const db = new Database(`${dir.dir}/data/hooks.db`, { readonly: true });
    let messageId: string;
    try {
      expect(db.prepare('SELECT step_id FROM journal WHERE execution_id = ?').pluck().all(executionId)).toEqual(['text']);
      messageId = db.prepare('SELECT id FROM messages WHERE execution_id = ?').pluck().get(executionId) as string;
      expect(db.prepare('SELECT id FROM events ORDER BY id').pluck().all()).toEqual([messageEventId(messageId), statusEventId(messageId, 'stored')].sort());
      expect(db.prepare('SELECT count(*) FROM event_attempts').pluck().get()).toBe(0);
    } finally {
      db.close();
    }
    expect(subscriber.received).toEqual([]);

    child = spawnServe(config, port);
    await waitReady(url);
    const expected = [messageEventId(messageId), statusEventId(messageId, 'stored'), executionEventId(executionId)].sort();
    await eventually(async () => subscriber.received.length >= 3 || undefined, 20_000, 'the three events');
    const store = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
    try {
      await eventually(async () => (await store.eventDeliveryCounts('crm')).delivered === 3 || undefined, 10_000, 'the deliveries recorded');
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more comes
      expect(receivedIds(subscriber.received).sort()).toEqual(expected);
      expect(await store.eventDeliveryCounts('crm')).toEqual({ pending: 0, delivered: 3, failed: 0 });
      // resumed at the call, once: the send step was replayed from its journal entry
      expect(await store.getExecution(executionId)).toMatchObject({ status: 'completed', attempts: 2 });
      expect((await store.journal(executionId)).map((e) => e.stepId)).toEqual(['text', 'call']);
      expect(receiver.calls.get(`${executionId}:call`)).toBe(2);
      expect((await store.listMessages({ limit: 10 })).map((m) => m.id)).toEqual([messageId]);
    } finally {
      await store.close();
    }
    expect(subscriber.received.find((got) => got.event.type === 'execution')!.event).toMatchObject({ executionId, outcome: 'completed' });
  });
});
