// The botmaker-1.1 event format, what the subscription rules refuse, and the breaker's rejected count:
// - a running engine delivers its events to a real subscriber in botmaker-1.1 beside hooks-1.1, each checked against
//   its schema, field for field (outbound messages carry the fields their request changed and its clientPayload);
// - the pure mapping of each event type;
// - `events.onePerChannel` refused at config load with file:line:col (the real CLI prints it);
// - `--test` / POST .../test refused for a disabled subscription and for a type it does not take;
// - a delivery held again while the breaker stays open (a failed probe) counts as rejected once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from './support/engine.ts';
import { startSubscriber, type ReceivedEvent } from './support/subscriber.ts';
import { scratchDir } from './support/files.ts';
import { runHooks } from './support/cli.ts';
import { loadConfig, type EngineConfig } from '../engine/config/load.ts';
import { formatProblem } from '../engine/schema/problem.ts';
import { openSqliteStore, type SqliteStore } from '../engine/store/sqlite/store.ts';
import { EventHub } from '../engine/events/service.ts';
import { EVENT_TYPES, type EventInput } from '../engine/events/types.ts';
import { sampleEvent } from '../engine/events/samples.ts';
import { botmakerEvent, botmakerMessage } from '../engine/events/botmaker.ts';

const require = createRequire(import.meta.url);
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
(require('ajv-formats') as (a: Ajv2020) => void)(ajv);
const botmakerSchema = require('../schemas/event-botmaker-1.1.schema.json');
const validBotmaker = ajv.compile(botmakerSchema);
const validHooks = ajv.compile(require('../schemas/event.schema.json'));

const SECRET = `whsec_${Buffer.from('the format test secret, 32 bytes').toString('base64')}`;

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sendSteps = `steps:
  - id: text
    send: { channel: sms, to: "{{ contact.phone }}", text: "Hi {{ contact.fields.first_name }}", mediaUrl: "https://cdn.example.com/ticket.png" }
`;

const FLOWS = {
  'notify.yaml': `version: 1
id: notify
trigger: { path: /notify }
identify: { phone: body.phone, defaultCountry: US }
map: { first_name: body.name, last_name: body.surname }
${sendSteps}`,
  'notify-now.yaml': `version: 1
id: notify-now
trigger: { path: /notify-now }
mode: sync
identify: { phone: body.phone, defaultCountry: US }
map: { first_name: body.name }
${sendSteps}`,
  'incoming.yaml': `version: 1
id: incoming
trigger:
  path: /incoming
  accept: [form]
  inbound: { channel: sms, from: body.From, text: body.Body }
`,
};

describe('botmaker-1.1 from a running engine, beside hooks-1.1', () => {
  let engine: TestEngine;
  let botmaker: Awaited<ReturnType<typeof startSubscriber>>;
  let own: Awaited<ReturnType<typeof startSubscriber>>;
  const all = '[message, status, variables, execution]';

  beforeAll(async () => {
    botmaker = await startSubscriber(SECRET);
    own = await startSubscriber(SECRET);
    engine = await startTestEngine(
      FLOWS,
      `http: { allowPrivateNetworks: true }
fields: { first_name: text, last_name: text }
events: { businessId: acme-support }
subscriptions:
  - { id: bm, url: "${botmaker.url}", events: ${all}, format: botmaker-1.1, secret: "${SECRET}" }
  - { id: own, url: "${own.url}", events: ${all}, secret: "${SECRET}" }
`,
    );
  });
  afterAll(async () => {
    await engine?.stop();
    await botmaker?.close();
    await own?.close();
  });

  /** the event with this webhook-id at a receiver */
  const byId = (at: ReceivedEvent[], id: string) => at.find((g) => g.event.id === id)!.event;
  const ofFlow = (at: ReceivedEvent[], type: string, flow: string) => at.filter((g) => g.event.type === type && g.event.flow === flow).map((g) => g.event);

  it('maps every field of a sent message, its status, its variables and its execution; each valid against the schema of its format', async () => {
    const clientPayload = { order: 'A-42', tags: ['vip'] };
    const res = await engine.request('/hooks/notify', { json: { phone: '+1 415 555 0122', name: 'Ann', surname: 'Lee', clientPayload } });
    expect(res.status).toBe(200);
    await until(() => botmaker.received.length >= 4 && own.received.length >= 4, 'four events at each receiver');
    for (const got of [...botmaker.received, ...own.received]) expect(got.verified).toBe(true);
    for (const got of botmaker.received) expect(validBotmaker(got.event), JSON.stringify(validBotmaker.errors)).toBe(true);
    for (const got of own.received) expect(validHooks(got.event), JSON.stringify(validHooks.errors)).toBe(true);
    // one event, two bodies, one webhook-id
    expect(botmaker.received.map((g) => g.headers['webhook-id']).sort()).toEqual(own.received.map((g) => g.headers['webhook-id']).sort());

    const [hooks] = ofFlow(own.received, 'message', 'notify');
    const [bm] = ofFlow(botmaker.received, 'message', 'notify');
    expect(bm.id).toBe(hooks.id);
    const [contact] = (await engine.admin('/api/contacts?phone=%2B14155550122')).body.contacts;
    expect(hooks).toMatchObject({ contactId: contact.id, contactAddress: '+14155550122', contactCreatedAt: contact.createdAt, clientPayload });
    // the outbound message carries the fields its request changed (it used to be {})
    expect(hooks.variables).toEqual({ first_name: 'Ann', last_name: 'Lee' });
    expect(bm).toEqual({
      v: '1.1',
      id: hooks.id,
      type: 'message',
      time: hooks.time,
      flow: 'notify',
      businessId: 'acme-support',
      chatPlatform: 'outbox',
      channel: 'sms',
      customerId: contact.id,
      contactId: '+14155550122',
      firstName: 'Ann',
      lastName: 'Lee',
      fullName: 'Ann Lee',
      customerCreationTime: contact.createdAt,
      sessionTime: hooks.sessionTime,
      messages: [
        {
          _id_: hooks.messages[0].id,
          date: hooks.messages[0].date,
          message: 'Hi Ann',
          subject: null,
          from: 'bot',
          fromName: 'Bot',
          fromCustomer: false,
          isButton: false,
          hasAttachment: true,
          imageUrl: 'https://cdn.example.com/ticket.png',
          audioUrl: null,
          videoUrl: null,
          fileUrl: null,
          attachments: [{ type: 'image', url: 'https://cdn.example.com/ticket.png' }],
        },
      ],
      variables: { first_name: 'Ann', last_name: 'Lee' },
      clientPayload,
      executionId: hooks.executionId,
    });

    const status = ofFlow(botmaker.received, 'status', 'notify')[0];
    const { platform, contactId, ...sameStatus } = byId(own.received, status.id);
    expect(status).toEqual({ ...sameStatus, businessId: 'acme-support', chatPlatform: platform, customerId: contactId });
    for (const type of ['variables', 'execution']) {
      const event = ofFlow(botmaker.received, type, 'notify')[0];
      const { contactId: ownContact, ...same } = byId(own.received, event.id);
      expect(event).toEqual({ ...same, businessId: 'acme-support', customerId: ownContact });
      expect(event.customerId).toBe(contact.id);
    }
  });

  it('a sync run\'s message carries its request\'s changes too; an inbound message is from the customer, named by the contact', async () => {
    const sync = await engine.request('/hooks/notify-now', { json: { phone: '+1 415 555 0133', name: 'Bo' } });
    expect(sync.status).toBe(200);
    await until(() => ofFlow(botmaker.received, 'message', 'notify-now').length === 1, 'the sync run\'s message');
    const [now] = ofFlow(botmaker.received, 'message', 'notify-now');
    expect(now).toMatchObject({ variables: { first_name: 'Bo' }, clientPayload: null, contactId: '+14155550133' });

    const inbound = await engine.request('/hooks/incoming', { form: { From: '+14155550122', Body: 'Thanks!' } });
    expect(inbound.status).toBe(200);
    await until(() => ofFlow(botmaker.received, 'message', 'incoming').length === 1, 'the inbound message');
    const [reply] = ofFlow(botmaker.received, 'message', 'incoming');
    expect(validBotmaker(reply), JSON.stringify(validBotmaker.errors)).toBe(true);
    const [contact] = (await engine.admin('/api/contacts?phone=%2B14155550122')).body.contacts;
    expect(reply).toMatchObject({ customerId: contact.id, contactId: '+14155550122', customerCreationTime: contact.createdAt, clientPayload: null, businessId: 'acme-support' });
    expect(reply.messages).toEqual([
      expect.objectContaining({ message: 'Thanks!', from: 'user', fromCustomer: true, fromName: 'Ann Lee', hasAttachment: false, imageUrl: null, isButton: false }),
    ]);
  });

  it('a test send goes in the subscription\'s format', async () => {
    const res = await fetch(`${engine.url}/api/subscriptions/bm/test?type=message`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const answer = await res.json();
    const got = botmaker.received.at(-1)!;
    expect(got.event).toMatchObject({ id: answer.event.id, test: true, businessId: 'acme-support', chatPlatform: 'twilio-sms', customerId: 'ct_sample' });
    expect(validBotmaker(got.event), JSON.stringify(validBotmaker.errors)).toBe(true);
    expect((await engine.admin('/api/subscriptions/bm')).body.format).toBe('botmaker-1.1');
    expect((await engine.admin('/api/subscriptions/own')).body.format).toBe('hooks-1.1');
  });
});

describe('the botmaker-1.1 mapping, one pure function per event type', () => {
  const now = new Date('2026-03-02T10:00:00.000Z');

  it('maps a sample of every type to a valid botmaker-1.1 event, with businessId or null', () => {
    for (const type of EVENT_TYPES) {
      for (const businessId of ['acme', null]) {
        const mapped = botmakerEvent(sampleEvent(type, `evt_${type}`, now), { businessId });
        expect(validBotmaker(mapped), `${type}: ${JSON.stringify(validBotmaker.errors)}`).toBe(true);
        expect(mapped).toMatchObject({ id: `evt_${type}`, type, businessId });
        expect(mapped).not.toHaveProperty('contactAddress');
      }
    }
  });

  it('derives the sender, the attachment flags and the media URLs; an event stored before the new fields maps them to null', () => {
    const sample = sampleEvent('message', 'evt_1', now);
    if (sample.type !== 'message') throw new Error('a message sample');
    const attachments = [
      { type: 'audio' as const, url: 'https://cdn.example.com/a.mp3' },
      { type: 'file' as const, url: 'https://cdn.example.com/b.pdf' },
      { type: 'audio' as const, url: 'https://cdn.example.com/c.ogg' },
    ];
    const fromUser = { ...sample, fullName: null, messages: [{ ...sample.messages[0], from: 'user' as const, attachments }] };
    const [item] = botmakerMessage(fromUser, { businessId: null }).messages;
    expect(item).toMatchObject({ fromName: '+14155550100', fromCustomer: true, hasAttachment: true, audioUrl: 'https://cdn.example.com/a.mp3', fileUrl: 'https://cdn.example.com/b.pdf', imageUrl: null, videoUrl: null });
    const operator = botmakerMessage({ ...sample, messages: [{ ...sample.messages[0], from: 'operator' }] }, { businessId: null });
    expect(operator.messages[0]).toMatchObject({ fromName: 'Operator', fromCustomer: false, hasAttachment: false });
    const { contactAddress: _a, contactCreatedAt: _c, clientPayload: _p, ...older } = sample;
    const mapped = botmakerMessage(older as typeof sample, { businessId: null });
    expect(mapped).toMatchObject({ contactId: null, customerCreationTime: null, clientPayload: null });
    expect(validBotmaker(mapped), JSON.stringify(validBotmaker.errors)).toBe(true);
  });

  it('the schema describes every property', () => {
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node === null || typeof node !== 'object') return;
      for (const [name, prop] of Object.entries(((node as Record<string, unknown>).properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (!prop.description) undescribed.push(`${path}.${name}`);
      }
      for (const [key, child] of Object.entries(node)) walk(child, `${path}.${key}`);
    };
    walk(botmakerSchema, '#');
    expect(undescribed).toEqual([]);
  });
});

describe('events.onePerChannel, checked when the config loads', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('hooks-one-per-channel-');
  });
  afterAll(async () => {
    await scratch?.remove();
  });

  async function problemsOf(yaml: string): Promise<string[]> {
    await scratch.write('hooks.config.yaml', yaml);
    const loaded = await loadConfig(`${scratch.dir}/hooks.config.yaml`, {}, scratch.dir);
    return loaded.ok ? [] : loaded.problems.map((p) => formatProblem({ ...p, file: 'hooks.config.yaml' }));
  }

  const subs = `subscriptions:
  - { id: crm, url: "https://crm.example.com/e", events: [message, status], channels: [sms] }
  - id: helpdesk
    url: "https://help.example.com/e"
    events: [message]
    channels: [email, sms]
  - { id: audit, url: "https://audit.example.com/e", events: [variables, execution] }
  - { id: old, url: "https://old.example.com/e", events: [message], channels: [sms], enabled: false }
`;

  it('names the second subscription of a channel, at its line and column, through the real CLI too', async () => {
    expect(await problemsOf(subs)).toEqual([]); // the rule is off by default
    const on = `events: { onePerChannel: true }\n${subs}`;
    const expected = 'hooks.config.yaml:7:23 subscriptions[1].channels[1]: channel "sms" has subscription "crm" (subscriptions[0]) already: events.onePerChannel allows one subscription per channel; remove it here or there, or disable one';
    expect(await problemsOf(on)).toEqual([expected]);
    const cli = await runHooks(['validate', '--config', `${scratch.dir}/hooks.config.yaml`]);
    expect(cli.code).toBe(2);
    expect(cli.err).toContain(expected.replace('hooks.config.yaml', `${scratch.dir}/hooks.config.yaml`));
  });

  it('a subscription without channels: takes every channel; disabled ones and those without channel events do not count', async () => {
    const everything = `events: { onePerChannel: true }
subscriptions:
  - { id: crm, url: "https://crm.example.com/e", events: [status], channels: [sms] }
  - { id: all, url: "https://all.example.com/e", events: [message] }
`;
    expect(await problemsOf(everything)).toEqual([
      'hooks.config.yaml:4:5 subscriptions[1]: subscription "all" takes every channel (it has no channels:), and subscription "crm" (subscriptions[0]) takes channel "sms" already: events.onePerChannel allows one subscription per channel; give it channels: that no other subscription has, or disable one',
    ]);
    const apart = `events: { onePerChannel: true }
subscriptions:
  - { id: crm, url: "https://crm.example.com/e", events: [message, status], channels: [sms] }
  - { id: mail, url: "https://mail.example.com/e", events: [message], channels: [email] }
  - { id: audit, url: "https://audit.example.com/e", events: [variables, execution] }
  - { id: old, url: "https://old.example.com/e", events: [message], enabled: false }
`;
    expect(await problemsOf(apart)).toEqual([]);
  });
});

describe('test sends refused for a disabled subscription and for types it does not take', () => {
  let engine: TestEngine;
  let receiver: Awaited<ReturnType<typeof startSubscriber>>;

  beforeAll(async () => {
    receiver = await startSubscriber(SECRET);
    engine = await startTestEngine(
      { 'ping.yaml': 'version: 1\nid: ping\ntrigger: { path: /ping }\nsteps:\n  - id: note\n    set: { seen: true }\n' },
      `http: { allowPrivateNetworks: true }
subscriptions:
  - { id: crm, url: "${receiver.url}", events: [execution, variables], secret: "${SECRET}" }
  - { id: paused, url: "${receiver.url}", events: [message], secret: "${SECRET}", enabled: false }
`,
    );
  });
  afterAll(async () => {
    await engine?.stop();
    await receiver?.close();
  });

  const post = async (path: string) => {
    const res = await fetch(`${engine.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: res.status, body: await res.json() };
  };

  it('answers 409 and 422 with the reason, and sends nothing', async () => {
    expect(await post('/api/subscriptions/paused/test')).toEqual({
      status: 409,
      body: { error: 'subscription paused is disabled: nothing sent; enable it, or give ?type= with a type it takes (it takes message) to send a sample anyway' },
    });
    expect(await post('/api/subscriptions/crm/test?type=status')).toEqual({
      status: 422,
      body: { error: 'subscription crm does not take status events (it takes execution, variables): nothing sent' },
    });
    expect((await post('/api/subscriptions/paused/test?type=status')).status).toBe(422);
    expect(receiver.received).toHaveLength(0);
    // an explicit type it takes: sent, also to the disabled one
    expect(await post('/api/subscriptions/paused/test?type=message')).toMatchObject({ status: 200, body: { ok: true, event: { type: 'message', test: true } } });
    expect(await post('/api/subscriptions/crm/test')).toMatchObject({ status: 200, body: { ok: true, event: { type: 'execution' } } });
    expect(receiver.received.map((g) => g.event.type)).toEqual(['message', 'execution']);
  });

  it('the CLI exits 1 with the same reason', async () => {
    const config = `${engine.dir}/hooks.config.yaml`;
    const before = receiver.received.length;
    const disabled = await runHooks(['subscriptions', 'paused', '--test', '--config', config]);
    expect(disabled).toMatchObject({ code: 1, out: '' });
    expect(disabled.err).toBe('hooks subscriptions: subscription paused is disabled: nothing sent; enable it, or give --type with a type it takes (it takes message) to send a sample anyway');
    const untaken = await runHooks(['subscriptions', 'crm', '--test', '--type', 'message', '--config', config]);
    expect(untaken).toMatchObject({ code: 1, out: '', err: 'hooks subscriptions: subscription crm does not take message events (it takes execution, variables): nothing sent' });
    expect(receiver.received).toHaveLength(before);
    const explicit = await runHooks(['subscriptions', 'paused', '--test', '--type', 'message', '--config', config]);
    expect(explicit.code).toBe(0);
    expect(explicit.out).toMatch(/^message sample event evt_\w+ to paused: success 200/);
    expect(receiver.received).toHaveLength(before + 1);
  });
});

describe('health: a delivery held again while the breaker stays open counts as rejected once', () => {
  const T0 = new Date('2026-03-02T10:00:00.000Z');
  let clock = T0;
  let store: SqliteStore;
  let hub: EventHub;
  let receiver: Awaited<ReturnType<typeof startSubscriber>>;
  afterEach(async () => {
    await hub?.stop();
    await store?.close();
    await receiver?.close();
  });

  let n = 0;
  const execution = (): EventInput => ({
    type: 'execution', flow: 'orders', executionId: `ex_${++n}`, mode: 'async', outcome: 'completed', durationMs: 5,
    startedAt: clock.toISOString(), finishedAt: clock.toISOString(), logId: `log_${n}`, contactId: null, error: null,
  });

  it('14 held deliveries, re-held after a failed probe, are 14 rejections; all are delivered once the receiver recovers', async () => {
    receiver = await startSubscriber(SECRET, () => 500);
    store = await openSqliteStore(':memory:', { now: () => clock });
    const config: Pick<EngineConfig, 'subscriptions' | 'http' | 'storage'> = {
      subscriptions: [{ id: 'crm', url: receiver.url, events: ['execution'], secret: SECRET, breaker: { failures: 1, window: '1m', cooldown: '1m' } }],
      http: { timeoutMs: 15_000, allowPrivateNetworks: true, allowList: [], maxResponseBytes: 1024 * 1024, maxRedirects: 5 },
      storage: { url: 'sqlite://:memory:', retentionMs: 30 * 86_400_000 },
    };
    hub = new EventHub({ config, store, now: () => clock });
    const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));
    const rejected = async () => (await hub.health('crm')).counts.rejected;

    await hub.emit(execution());
    await hub.emit(execution());
    await hub.worker.drain(); // two failures: over 1, the breaker opens
    expect(hub.worker.breakerState('crm').state).toBe('open');
    for (let i = 0; i < 12; i++) await hub.emit(execution());
    await hub.worker.drain();
    advance(5_000); // the two failed ones' retries come due: held too
    await hub.worker.drain();
    expect(receiver.received).toHaveLength(2);
    expect(await rejected()).toBe(14);

    advance(55_000); // the cool-down ends: one probe goes, fails, and the breaker opens again over the 13 others
    await hub.worker.drain();
    expect(receiver.received).toHaveLength(3);
    expect(hub.worker.breakerState('crm').state).toBe('open');
    advance(5_000);
    await hub.worker.drain(); // while it stays open, nothing more is counted
    expect(await rejected()).toBe(14);
    const overview = await hub.overview(hub.subscription('crm')!);
    expect(overview.last30m.rejected).toBe(14);

    receiver.setStatus(() => 200);
    advance(60_000); // the second cool-down ends: the probe succeeds, and the rest follow
    await hub.worker.drain();
    advance(5 * 60_000); // the retries scheduled after the failed probe
    await hub.worker.drain();
    expect(hub.worker.breakerState('crm').state).toBe('closed');
    expect(await store.eventDeliveryCounts('crm')).toEqual({ pending: 0, delivered: 14, failed: 0 });
    expect(await rejected()).toBe(14);
  });
});
