// Outbound events through a real engine: flows emit execution and variables events, the engine delivers them to a
// real receiver (signatures checked by the standardwebhooks library), the admin API and `hooks subscriptions` report
// on them, and a restart in the middle of the deliveries keeps every pending event.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import twilio from 'twilio';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { runHooks } from './support/cli.ts';
import { startSubscriber } from './support/subscriber.ts';
import { loadConfig } from '../engine/config/load.ts';
import { startEngine, type Engine } from '../engine/server/engine.ts';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import { migrate, migrations } from '../engine/store/sqlite/migrations.ts';
import { loadFlowFile } from '../engine/flow/load.ts';
import { createHarness } from '../engine/testing/harness.ts';
import { handleWebhook } from '../engine/request/handle.ts';

const require = createRequire(import.meta.url);
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
(require('ajv-formats') as (a: Ajv2020) => void)(ajv);
const validEvent = ajv.compile(require('../schemas/event.schema.json'));

const SECRET = `whsec_${Buffer.from('another secret, thirty-two bytes').toString('base64')}`;

/** Waits (generously) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const FLOWS = {
  'signup.yaml': `version: 1
id: signup
trigger: { path: /signup }
identify: { phone: body.phone, defaultCountry: US }
map:
  first_name: body.name
  plan: body.plan
steps:
  - id: note
    set: { greeting: "{{ 'hi ' & body.name }}" }
`,
  'ping.yaml': `version: 1
id: ping
trigger: { path: /ping }
steps:
  - id: note
    set: { seen: true }
`,
  'quote.yaml': `version: 1
id: quote
trigger: { path: /quote }
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { price: 42 } }
`,
  'broken.yaml': `version: 1
id: broken
trigger: { path: /broken }
mode: sync
steps:
  - id: convert
    set: { n: "{{ $number(body.value) }}" }
`,
};

const subscriptionsYaml = (crm: string, flaky: string) => `http: { allowPrivateNetworks: true }
fields: { first_name: text, plan: text }
subscriptions:
  - id: crm
    url: ${crm}
    events: [execution, variables]
    secret: "${SECRET}"
  - id: flaky
    url: ${flaky}
    events: [execution]
    flows: [quote]
    secret: "${SECRET}"
    retrySchedule: [0s]
`;

async function post(engine: TestEngine, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${engine.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

describe('events from a running engine', () => {
  let engine: TestEngine;
  let crm: Awaited<ReturnType<typeof startSubscriber>>;
  let flaky: Awaited<ReturnType<typeof startSubscriber>>;

  beforeAll(async () => {
    crm = await startSubscriber(SECRET);
    flaky = await startSubscriber(SECRET, () => 500);
    engine = await startTestEngine(FLOWS, subscriptionsYaml(crm.url, flaky.url));
  });
  afterAll(async () => {
    await engine?.stop();
    await crm?.close();
    await flaky?.close();
  });

  it('delivers execution (async and sync) and variables events, signed and valid against schemas/event.schema.json', async () => {
    const signup = await engine.request('/hooks/signup', { json: { phone: '+1 415 555 0100', name: 'Ann', plan: 'pro' } });
    expect(signup.status).toBe(200);
    const quote = await engine.request('/hooks/quote', { json: {} });
    expect(quote.body).toEqual({ price: 42 });
    const broken = await engine.request('/hooks/broken', { json: { value: 'x' } });
    expect(broken.status).toBe(500);
    await until(() => crm.received.length >= 4, 'four events at the crm receiver');
    await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more should come
    expect(crm.received).toHaveLength(4);
    for (const got of crm.received) {
      expect(got.verified).toBe(true);
      expect(validEvent(got.event), JSON.stringify(validEvent.errors)).toBe(true);
    }
    const byFlow = (type: string, flow: string) => crm.received.find((g) => g.event.type === type && g.event.flow === flow)?.event;
    const variables = byFlow('variables', 'signup')!;
    expect(variables).toMatchObject({ v: '1.1', variables: { first_name: 'Ann', plan: 'pro' } });
    expect(variables.changes).toEqual([
      { field: 'first_name', oldValue: null, newValue: 'Ann' },
      { field: 'plan', oldValue: null, newValue: 'pro' },
    ]);
    const asyncRun = byFlow('execution', 'signup')!;
    expect(asyncRun).toMatchObject({ mode: 'async', outcome: 'completed', contactId: variables.contactId, error: null });
    expect(asyncRun.executionId).toBe(variables.executionId);
    const log = await engine.store.getLog(asyncRun.logId);
    expect(log?.executionId).toBe(asyncRun.executionId);
    expect(byFlow('execution', 'quote')).toMatchObject({ mode: 'sync', outcome: 'completed' });
    expect(byFlow('execution', 'broken')).toMatchObject({ mode: 'sync', outcome: 'failed' });
    expect(byFlow('execution', 'broken')!.error).toMatch(/number/i);

    // the same values again change nothing: no variables event
    await engine.request('/hooks/signup', { json: { phone: '+1 415 555 0100', name: 'Ann', plan: 'pro' } });
    await until(() => crm.received.length >= 5, 'the second execution event');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(crm.received.slice(4).map((g) => g.event.type)).toEqual(['execution']);
  });

  it('reports subscriptions, health and errors on the admin API; test sends a sample now; replay sends the dead letters', async () => {
    await until(async () => (await engine.store.eventDeliveryCounts('flaky')).failed >= 1, 'a dead letter for flaky');
    const list = await engine.admin('/api/subscriptions');
    expect(list.status).toBe(200);
    const byId = Object.fromEntries(list.body.subscriptions.map((s: any) => [s.id, s]));
    expect(byId.crm).toMatchObject({ enabled: true, signed: true, events: ['execution', 'variables'], breaker: { state: 'closed', failures: 100 } });
    expect(byId.crm.deliveries.delivered).toBe(crm.received.length);
    expect(byId.crm.last30m).toEqual({ success: crm.received.length, slow: 0, error: 0, rejected: 0 });
    expect(JSON.stringify(list.body)).not.toContain(SECRET);
    expect(byId.flaky.deliveries).toMatchObject({ pending: 0, failed: 1 });

    const health = await engine.admin('/api/subscriptions/crm/health');
    expect(health.body.counts.success).toBe(crm.received.length);
    expect(health.body.histogram).toHaveLength(30);
    expect(health.body.histogram.reduce((sum: number, m: any) => sum + m.success, 0)).toBe(crm.received.length);
    expect(health.body.fastestMs).toBeLessThanOrEqual(health.body.slowestMs);

    const errors = await engine.admin('/api/subscriptions/flaky/errors');
    expect(errors.body.errors).toHaveLength(1);
    expect(errors.body.errors[0]).toMatchObject({ status: 500, outcome: 'error', eventType: 'execution' });
    expect(errors.body.errors[0].body).toBe(`refused ${errors.body.errors[0].eventId}`);
    const dead = await engine.admin('/api/subscriptions/flaky/deliveries?status=failed');
    expect(dead.body.deliveries).toHaveLength(1);

    const test = await post(engine, '/api/subscriptions/crm/test?type=variables');
    expect(test.status).toBe(200);
    expect(test.body).toMatchObject({ subscription: 'crm', ok: true, status: 200, outcome: 'success', body: 'ok' });
    const sample = crm.received.at(-1)!;
    expect(sample.verified).toBe(true);
    expect(sample.event).toMatchObject({ type: 'variables', test: true, id: test.body.event.id });
    expect(validEvent(sample.event), JSON.stringify(validEvent.errors)).toBe(true);
    expect((await post(engine, '/api/subscriptions/nope/test')).status).toBe(404);

    flaky.setStatus(() => 200);
    const replay = await post(engine, `/api/subscriptions/flaky/replay?since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    expect(replay.body).toMatchObject({ replayed: 1 });
    await until(() => flaky.received.filter((g) => g.event.id === dead.body.deliveries[0].eventId).length === 2, 'the replayed dead letter');
    await until(async () => (await engine.store.eventDeliveryCounts('flaky')).delivered === 1, 'the replay recorded');
    const after = await engine.admin('/api/subscriptions/flaky/health');
    expect(after.body.counts).toMatchObject({ success: 1, error: 1 });
    expect((await post(engine, '/api/subscriptions/flaky/replay?since=yesterday')).status).toBe(400);

    const metrics = await engine.request('/metrics');
    expect(metrics.text).toContain('hooks_event_deliveries{subscription="flaky",status="failed"} 0');
    expect(metrics.text).toContain('hooks_subscription_breaker_open{subscription="crm"} 0');
  });

  it('`hooks subscriptions` shows the same figures from storage', async () => {
    const config = `${engine.dir}/hooks.config.yaml`;
    const table = await runHooks(['subscriptions', '--config', config]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^crm\s+on\s+0\s+0\s+\d+\/0\/0\/0/m);
    expect(table.out).toMatch(/^flaky\s+on\s+0\s+0\s+1\/0\/1\/0/m);
    const one = await runHooks(['subscriptions', 'flaky', '--config', config]);
    expect(one.out).toContain('1 success, 0 slow (over 3000 ms), 1 error, 0 rejected');
    expect(one.out).toMatch(/500\s+execution evt_\w+ attempt 1: server answered 500/);
    const json = await runHooks(['subscriptions', 'crm', '--config', config, '--format', 'json']);
    expect(JSON.parse(json.out)).toMatchObject({ id: 'crm', health: { histogram: expect.any(Array) } });
    const sent = await runHooks(['subscriptions', 'crm', '--test', '--type', 'execution', '--config', config]);
    expect(sent.code).toBe(0);
    expect(sent.out).toMatch(/execution sample event evt_\w+ to crm: success 200/);
    expect(crm.received.at(-1)!.event).toMatchObject({ type: 'execution', test: true });
    expect((await runHooks(['subscriptions', 'nope', '--config', config])).code).toBe(1);
    expect((await runHooks(['subscriptions', '--replay', '--config', config])).code).toBe(2);
  });
});

describe('message and status events from the message store', () => {
  const TOKEN = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
  const PUBLIC = 'https://hooks.example.test';
  let engine: TestEngine;
  let receiver: Awaited<ReturnType<typeof startSubscriber>>;

  beforeAll(async () => {
    receiver = await startSubscriber(SECRET);
    engine = await startTestEngine(
      {
        'notify.yaml': `version: 1
id: notify
trigger: { path: /notify }
identify: { phone: body.phone, defaultCountry: US }
map: { first_name: body.name }
mode: sync
steps:
  - id: text
    send: { channel: sms, to: "{{ contact.phone }}", text: "Hi {{ contact.fields.first_name }}", mediaUrl: "https://cdn.example.com/ticket.png" }
`,
        'incoming.yaml': `version: 1
id: incoming
trigger:
  path: /incoming
  accept: [form]
  inbound: { channel: sms, from: body.From, text: body.Body }
`,
      },
      `server: { publicUrl: "${PUBLIC}" }
http: { allowPrivateNetworks: true }
fields: { first_name: text }
channels:
  sms: { driver: outbox }
  twilio: { driver: twilio-sms, accountSid: AC0123456789abcdef0123456789abcdef, authToken: "${TOKEN}", from: "+15005550006" }
subscriptions:
  - { id: crm, url: "${receiver.url}", events: [message, status], secret: "${SECRET}" }
`,
    );
  });
  afterAll(async () => {
    await engine?.stop();
    await receiver?.close();
  });

  it('a sent message, its provider status, a status callback and an inbound message each become an event', async () => {
    const sent = await engine.request('/hooks/notify', { json: { phone: '+1 415 555 0111', name: 'Ann' } });
    expect(sent.status).toBe(200);
    await until(() => receiver.received.length >= 2, 'the message and its status');
    const message = receiver.received.find((g) => g.event.type === 'message')!.event;
    expect(message).toMatchObject({ flow: 'notify', platform: 'outbox', channel: 'sms', firstName: 'Ann', fullName: 'Ann' });
    expect(message.messages).toEqual([
      { id: expect.stringMatching(/^msg_/), date: expect.any(String), text: 'Hi Ann', subject: null, from: 'bot', attachments: [{ type: 'image', url: 'https://cdn.example.com/ticket.png' }] },
    ]);
    const stored = receiver.received.find((g) => g.event.type === 'status')!.event;
    expect(stored).toMatchObject({ messageId: message.messages[0].id, status: 'stored', contactId: message.contactId, error: null });
    expect(stored.providerId).toMatch(/^outbox-/);

    // Twilio's callback, signed with the twilio library's own signer
    const params = { MessageSid: stored.providerId, MessageStatus: 'delivered' };
    const callback = () =>
      engine.request('/hooks/_status/twilio', { form: params, headers: { 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, `${PUBLIC}/hooks/_status/twilio`, params) } });
    expect((await callback()).status).toBe(200);
    await until(() => receiver.received.length >= 3, 'the delivered status');
    expect(receiver.received[2].event).toMatchObject({ type: 'status', status: 'delivered', messageId: stored.messageId });
    expect((await callback()).status).toBe(200); // the same callback again: the status did not change, no event

    const inbound = await engine.request('/hooks/incoming', { form: { From: '+14155550111', Body: 'Thanks!' } });
    expect(inbound.status).toBe(200);
    await until(() => receiver.received.length >= 4, 'the inbound message');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received[3].event).toMatchObject({ type: 'message', flow: 'incoming', contactId: message.contactId, firstName: 'Ann' });
    expect(receiver.received[3].event.messages[0]).toMatchObject({ from: 'user', text: 'Thanks!', attachments: [] });
    for (const got of receiver.received) {
      expect(got.verified).toBe(true);
      expect(validEvent(got.event), JSON.stringify(validEvent.errors)).toBe(true);
    }
  });
});

describe('pending events across a restart', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function engineOn(dir: string): Promise<Engine> {
    const loaded = await loadConfig(`${dir}/hooks.config.yaml`, {}, dir);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    return startEngine(loaded.config, { port: 0, host: '127.0.0.1', logger: false, watch: false });
  }

  it('an engine stopped in the middle of its deliveries leaves the rest pending; the next one delivers every event', async () => {
    const receiver = await startSubscriber(SECRET, () => 200, 40);
    cleanups.push(receiver.close);
    const scratch = await scratchDir('hooks-events-restart-');
    cleanups.push(scratch.remove);
    await scratch.write('flows/ping.yaml', FLOWS['ping.yaml']);
    await scratch.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }
http: { allowPrivateNetworks: true }
fields: { first_name: text, plan: text }
subscriptions:
  - { id: crm, url: "${receiver.url}", events: [execution], secret: "${SECRET}", ordered: true }
`);
    let engine = await engineOn(scratch.dir);
    const total = 20;
    for (let i = 0; i < total; i++) {
      const res = await fetch(`${engine.url}/hooks/ping`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: i }) });
      expect(res.status).toBe(200);
    }
    await until(() => receiver.received.length >= 3, 'the first deliveries');
    await engine.close(); // in the middle: ordered, 40 ms per answer
    const first = receiver.received.length;
    expect(first).toBeLessThan(total);
    const store = await openSqliteStore(`${scratch.dir}/data/hooks.db`);
    const counts = await store.eventDeliveryCounts('crm');
    await store.close();
    expect(counts).toEqual({ pending: total - first, delivered: first, failed: 0 });

    engine = await engineOn(scratch.dir);
    cleanups.push(() => engine.close());
    await until(() => receiver.received.length >= total, 'every event after the restart');
    const ids = receiver.received.map((g) => g.event.id);
    expect(new Set(ids).size).toBe(total);
    expect(ids).toHaveLength(total); // a clean stop finishes what is in flight: nothing is sent twice
    expect(receiver.received.every((g) => g.verified)).toBe(true);
    // ordered: the receiver saw the events in the order they were stored, across the restart
    const stored = (await engine.store.listEventDeliveries({ subscriptionId: 'crm', limit: 100 })).reverse();
    expect(ids).toEqual(stored.map((d) => d.eventId));
  });

  it('a delivery claimed by a process that died is taken over once its lease runs out', async () => {
    const receiver = await startSubscriber(SECRET);
    cleanups.push(receiver.close);
    const scratch = await scratchDir('hooks-events-lease-');
    cleanups.push(scratch.remove);
    await scratch.write('flows/ping.yaml', FLOWS['ping.yaml']);
    await scratch.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }
http: { allowPrivateNetworks: true }
subscriptions:
  - { id: crm, url: "${receiver.url}", events: [execution], secret: "${SECRET}", enabled: false }
`);
    let engine = await engineOn(scratch.dir);
    await fetch(`${engine.url}/hooks/ping`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await until(async () => (await engine.store.eventDeliveryCounts('crm')).pending === 1, 'the stored event');
    await engine.close();
    // another process claims it (a short lease) and dies before sending
    const store = await openSqliteStore(`${scratch.dir}/data/hooks.db`);
    const [claimed] = await store.claimEventDeliveries('crm', 1, 500, new Date(), false);
    expect(claimed).toBeDefined();
    await store.close();

    const configText = await readFile(`${scratch.dir}/hooks.config.yaml`, 'utf8');
    await scratch.write('hooks.config.yaml', configText.replace('enabled: false', 'enabled: true'));
    engine = await engineOn(scratch.dir);
    cleanups.push(() => engine.close());
    await until(() => receiver.received.length === 1, 'the delivery taken over');
    expect(receiver.received[0].event.id).toBe(claimed.eventId);
  });
});

describe('events: storage and the test harness', () => {
  it('migration 5 applies on a database that lacks an earlier version (a gap), in order, once', async () => {
    const scratch = await scratchDir('hooks-events-migrate-');
    try {
      const file = `${scratch.dir}/hooks.db`;
      (await openSqliteStore(file)).close();
      const db = new Database(file);
      const versions = () => db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
      expect(versions()).toEqual(migrations.map((m) => m.version));
      expect(migrations.some((m) => m.version === 5)).toBe(true);
      // a database that got 5 before an earlier version existed: that version is applied now, the others are not
      const earlier = migrations.filter((m) => m.version < 5).at(-1)!;
      db.prepare('DELETE FROM schema_migrations WHERE version = ?').run(earlier.version);
      for (const table of [...earlier.sql.matchAll(/CREATE TABLE (\w+)/g)].map((m) => m[1]).reverse()) db.exec(`DROP TABLE ${table}`);
      expect(migrate(db)).toEqual([earlier.version]);
      expect(versions()).toEqual(migrations.map((m) => m.version));
      db.close();
    } finally {
      await scratch.remove();
    }
  });

  it('`hooks test` harness captures the events a run emits instead of storing them', async () => {
    const scratch = await scratchDir('hooks-events-harness-');
    try {
      const file = await scratch.write('flows/signup.yaml', FLOWS['signup.yaml']);
      await scratch.write('hooks.config.yaml', 'fields: { first_name: text, plan: text }\n');
      const loaded = await loadConfig(`${scratch.dir}/hooks.config.yaml`, {}, scratch.dir);
      if (!loaded.ok) throw new Error('config');
      const flow = await loadFlowFile(file, 'signup.yaml', loaded.config);
      if (!flow.ok) throw new Error(JSON.stringify(flow.problems));
      const harness = await createHarness(loaded.config, flow.flow, { name: 't' } as never);
      const answer = await handleWebhook(harness.ctx, flow.flow, {
        method: 'POST', path: '/signup', url: 'http://localhost/hooks/signup', headers: { 'content-type': 'application/json' }, query: {},
        rawBody: Buffer.from(JSON.stringify({ phone: '+14155550100', name: 'Ann' })), ip: '127.0.0.1', receivedAt: harness.ctx.now(),
      });
      expect(answer.status).toBe(200);
      expect(harness.events).toEqual([expect.objectContaining({ type: 'variables', variables: { first_name: 'Ann' }, flow: 'signup' })]);
      await harness.store.close();
    } finally {
      await scratch.remove();
    }
  });
});
