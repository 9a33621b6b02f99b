/**
 * Messages through a real engine: send steps through the real twilio client to Prism mocking Twilio's own OpenAPI
 * spec (behind a recording proxy), and through nodemailer to a real SMTP server parsed with mailparser; a tiny real
 * HTTP server answering Twilio-style errors for retries; status callbacks and inbound SMS signed with the twilio
 * library's own signer; the admin API over what was stored.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import { createDriver } from '../channels/index.ts';
import { MessageFailed, sendMessage } from '../engine/messages/outbound.ts';
import { newId } from '../engine/common/ids.ts';
import { startPrism, startRecordingProxy, type Prism, type RecordingProxy } from './support/prism.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { eventually, startFaultyTwilio, type FaultyTwilio } from './support/twilio-faults.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const OTHER_TOKEN = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const FROM = '+15005550006';
const PUBLIC_URL = 'https://hooks.example.test';
const STATUS_URL = `${PUBLIC_URL}/hooks/_status/twilio`;
const SMTP_AUTH = { user: 'mailer@example.com', pass: 'smtp-p@ss:w0rd/s3cret' };
const PARTNER_KEY = 'pk_live_5e5e5e5e5e5e';

const sign = (url: string, params: Record<string, string>, token = AUTH_TOKEN) => twilio.getExpectedTwilioSignature(token, url, params);

const flows: Record<string, string> = {
  'sms.yaml': `version: 1
id: sms-out
trigger: { path: /out/sms }
identify: { phone: body.to, onUnidentified: continue }
mode: sync
steps:
  - id: text
    send: { channel: sms, to: "{{ body.to }}", text: "{{ body.text }}" }
`,
  'call.yaml': `version: 1
id: call-out
trigger: { path: /out/call }
identify: { phone: body.to, onUnidentified: continue }
mode: sync
steps:
  - id: call
    send: { channel: voice, to: "{{ body.to }}", say: "{{ body.say }}", voice: Polly.Joanna }
`,
  ...Object.fromEntries(['email', 'badmail'].map((channel) => [`${channel}.yaml`, `version: 1
id: ${channel}-out
trigger: { path: /out/${channel} }
identify: { email: body.to, onUnidentified: continue }
mode: sync
steps:
  - id: mail
    send:
      channel: ${channel}
      to: "{{ body.to }}"
      subject: "{{ body.subject }}"
      text: "{{ body.text }} (partner key \${env:PARTNER_KEY})"
      html: "<p>{{ body.text }}</p>"
`])),
  'flaky.yaml': `version: 1
id: flaky-out
trigger: { path: /out/flaky }
mode: sync
steps:
  - id: text
    send: { channel: flaky, to: "{{ body.to }}", text: "{{ body.text }}" }
`,
  'reply.yaml': `version: 1
id: reply-out
trigger: { path: /out/reply }
identify: { phone: body.to, onUnidentified: continue }
mode: sync
steps:
  - id: reply
    send: { channel: replies, to: "{{ body.to }}", text: "{{ body.text }}" }
`,
  'inbound.yaml': `version: 1
id: sms-in
trigger:
  path: /in/sms
  accept: [form]
  auth: { signature: { preset: twilio, secret: "\${env:TWILIO_AUTH_TOKEN}" } }
  inbound: { channel: replies, from: body.From, text: body.Body }
mode: sync
steps:
  - id: answer
    send: { channel: replies, to: "{{ contact.phone }}", text: "Got it: {{ body.Body }}" }
`,
};

let prism: Prism;
let proxy: RecordingProxy;
let faulty: FaultyTwilio;
let smtp: TestSmtpServer;
let engine: TestEngine;

function twilioChannel(driver: 'twilio-sms' | 'twilio-voice', baseUrl: string, extra = '') {
  return `{ driver: ${driver}, accountSid: ${ACCOUNT_SID}, authToken: "\${env:TWILIO_AUTH_TOKEN}", from: "${FROM}", baseUrl: "${baseUrl}"${extra} }`;
}

beforeAll(async () => {
  prism = await startPrism(twilioSpec);
  proxy = await startRecordingProxy(prism.url, '/twilio');
  faulty = await startFaultyTwilio(prism.url);
  smtp = await startSmtpServer({ auth: SMTP_AUTH });
  const wrong = { user: SMTP_AUTH.user, pass: 'Wr0ng-Passw0rd!' };
  engine = await startTestEngine(
    flows,
    `server: { publicUrl: "${PUBLIC_URL}" }
channels:
  sms: ${twilioChannel('twilio-sms', proxy.url)}
  voice: ${twilioChannel('twilio-voice', proxy.url)}
  flaky: ${twilioChannel('twilio-sms', faulty.url)}
  replies: ${twilioChannel('twilio-sms', proxy.url, ', canInitiate: false')}
  email: { driver: smtp, url: "${smtp.url(SMTP_AUTH)}", from: "Bookings <bookings@example.com>" }
  badmail: { driver: smtp, url: "${smtp.url(wrong)}", from: "bookings@example.com" }
`,
    { TWILIO_AUTH_TOKEN: AUTH_TOKEN, PARTNER_KEY },
  );
}, 90_000);

afterAll(async () => {
  await engine?.stop();
  await smtp?.close();
  await faulty?.close();
  await proxy?.close();
  await prism?.stop();
});

type StepResult = { ok: boolean; messageId: string | null; providerId: string | null; status: string; error: null | { message: string; code?: string | number; transient?: boolean } };

async function run(route: string, body: Record<string, string>, step: string): Promise<StepResult> {
  const res = await engine.request(`/hooks${route}`, { json: body });
  expect(res.status).toBe(200);
  return (res.body as { steps: Record<string, StepResult> }).steps[step];
}

async function message(id: string) {
  const res = await engine.admin(`/api/messages/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

const lastRequest = (kind: 'Messages' | 'Calls') => [...proxy.requests].reverse().find((r) => r.path.endsWith(`/${kind}.json`))!;

describe('send steps store every message and send it through the real drivers', () => {
  it('an SMS goes to Prism with E.164 recipient and the status callback URL, and is stored with its SID and status', async () => {
    const before = proxy.requests.length;
    const result = await run('/out/sms', { to: '+1 (415) 555-2345', text: 'Your table is ready' }, 'text');

    expect(proxy.requests.length).toBe(before + 1);
    const exchange = lastRequest('Messages');
    expect(exchange.status).toBe(201); // Prism validated the request against Twilio's spec
    expect(Object.fromEntries(exchange.form)).toEqual({ To: '+14155552345', From: FROM, Body: 'Your table is ready', StatusCallback: STATUS_URL });
    const answer = JSON.parse(exchange.responseBody);
    expect(result).toEqual({ ok: true, messageId: expect.stringMatching(/^msg_/), providerId: answer.sid, status: answer.status, error: null });

    const stored = await message(result.messageId!);
    expect(stored).toMatchObject({
      direction: 'outbound', channel: 'sms', driver: 'twilio-sms', to: '+14155552345', content: { text: 'Your table is ready' },
      providerId: answer.sid, status: 'queued', error: null, attempts: 1, flowId: 'sms-out', stepId: 'text',
    });
    expect(stored.contactId).toMatch(/^ct_/); // the contact the flow identified by phone
    expect(stored.statusChanges.map((c: { status: string }) => c.status)).toEqual(['sending', 'queued']);
  });

  it('an invalid number fails the step with a clear error before any provider call, and is stored as failed', async () => {
    const before = proxy.requests.length;
    const result = await run('/out/sms', { to: '12345', text: 'hi' }, 'text');
    expect(proxy.requests.length).toBe(before);
    expect(result).toMatchObject({ ok: false, providerId: null, status: 'failed', error: { code: 'invalid-recipient', transient: false } });
    expect(result.error!.message).toBe('channel sms: invalid recipient: "12345" is not a phone number (national formats need identify.defaultCountry)');
    const stored = await message(result.messageId!);
    expect(stored).toMatchObject({ to: '12345', status: 'failed', providerId: null, attempts: 0, error: result.error!.message });
  });

  it('a call goes to Prism with the TwiML <Say> and the status callback, and is stored', async () => {
    const result = await run('/out/call', { to: '+14155552346', say: 'Your booking is confirmed' }, 'call');
    const exchange = lastRequest('Calls');
    expect(exchange.status).toBe(201);
    expect(exchange.form.get('To')).toBe('+14155552346');
    expect(exchange.form.get('Twiml')).toBe('<Response><Say voice="Polly.Joanna">Your booking is confirmed</Say></Response>');
    expect(exchange.form.get('StatusCallback')).toBe(STATUS_URL);
    const answer = JSON.parse(exchange.responseBody);
    expect(result).toMatchObject({ ok: true, providerId: answer.sid, status: answer.status });
    expect(await message(result.messageId!)).toMatchObject({ channel: 'voice', driver: 'twilio-voice', to: '+14155552346', providerId: answer.sid, content: { say: 'Your booking is confirmed', voice: 'Polly.Joanna' } });
  });

  it('an e-mail reaches the SMTP server (recipients, subject, text, html) and is stored without the flow’s secrets', async () => {
    const result = await run('/out/email', { to: 'guest@example.com', subject: 'Booking b-7', text: 'See you Friday' }, 'mail');
    const mail = await smtp.nextMail();
    expect(mail.envelope).toEqual({ from: 'bookings@example.com', to: ['guest@example.com'] });
    expect(mail.user).toBe(SMTP_AUTH.user);
    const parsed = mail.parsed;
    expect(Array.isArray(parsed.to) ? parsed.to : [parsed.to]).toMatchObject([{ value: [{ address: 'guest@example.com' }] }]);
    expect(parsed.from?.value).toEqual([{ address: 'bookings@example.com', name: 'Bookings' }]);
    expect(parsed.subject).toBe('Booking b-7');
    expect(parsed.text?.trim()).toBe(`See you Friday (partner key ${PARTNER_KEY})`); // the guest gets the real text
    expect(parsed.html).toBe('<p>See you Friday</p>');
    expect(result).toEqual({ ok: true, messageId: expect.stringMatching(/^msg_/), providerId: parsed.messageId, status: 'sent', error: null });

    const stored = await message(result.messageId!);
    expect(stored).toMatchObject({ channel: 'email', driver: 'smtp', to: 'guest@example.com', status: 'sent', providerId: parsed.messageId });
    expect(stored.content).toEqual({ subject: 'Booking b-7', text: 'See you Friday (partner key [redacted])', html: '<p>See you Friday</p>' });
    expect(JSON.stringify(stored)).not.toContain(PARTNER_KEY);
  });

  it('an SMTP authentication failure fails the step at once and never stores or returns the password', async () => {
    const received = smtp.received.length;
    const result = await run('/out/badmail', { to: 'guest@example.com', subject: 'x', text: 'y' }, 'mail');
    expect(result).toMatchObject({ ok: false, status: 'failed', error: { code: 535, transient: false } });
    expect(result.error!.message).toContain('SMTP send failed: the server answered 535');
    const stored = await message(result.messageId!);
    expect(stored).toMatchObject({ status: 'failed', attempts: 1 });
    expect(smtp.received.length).toBe(received);
    const everything = JSON.stringify({ result, stored, logs: await engine.admin('/api/logs?flow=badmail-out') });
    for (const secret of ['Wr0ng-Passw0rd!', encodeURIComponent('Wr0ng-Passw0rd!'), SMTP_AUTH.pass, encodeURIComponent(SMTP_AUTH.pass), AUTH_TOKEN]) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('transient Twilio failures are retried, permanent ones are not (a real server answering Twilio errors)', () => {
  it.each([[[503, 503]], [[429]], [[500, 429]]])('%j then Prism: sent on the next attempt', async (plan) => {
    faulty.hits.length = 0;
    faulty.plan = [...plan];
    const result = await run('/out/flaky', { to: '+14155552347', text: 'retry me' }, 'text');
    expect(faulty.hits.map((h) => h.status)).toEqual([...plan, 201]);
    expect(result).toMatchObject({ ok: true, status: 'queued', providerId: expect.stringMatching(/^SM/) });
    const stored = await message(result.messageId!);
    expect(stored).toMatchObject({ status: 'queued', attempts: plan.length + 1, providerId: result.providerId });
    // a message that went out carries no error; the retries show in its attempts
    expect(stored.error).toBeNull();
    expect(stored.statusChanges.map((c: { status: string }) => c.status)).toEqual(['sending', 'queued']);
  });

  it('HTTP 400 (invalid number, Twilio error 21211) is not retried and fails the step', async () => {
    faulty.hits.length = 0;
    faulty.plan = [400];
    const result = await run('/out/flaky', { to: '+14155552347', text: 'no retry' }, 'text');
    expect(faulty.hits.map((h) => h.status)).toEqual([400]);
    expect(result).toMatchObject({ ok: false, status: 'failed', error: { code: 21211, transient: false } });
    expect(result.error!.message).toContain("HTTP 400 error 21211: The 'To' number is not a valid phone number.");
    expect(await message(result.messageId!)).toMatchObject({ status: 'failed', attempts: 1, providerId: null });
  });

  it('a provider that keeps failing is given up after 3 attempts, and the step says so', async () => {
    faulty.hits.length = 0;
    faulty.plan = [503, 503, 503, 503];
    const started = Date.now();
    const result = await run('/out/flaky', { to: '+14155552347', text: 'give up' }, 'text');
    expect(faulty.hits.map((h) => h.status)).toEqual([503, 503, 503]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result).toMatchObject({ ok: false, status: 'failed', error: { code: 20503, transient: true } });
    expect(result.error!.message).toMatch(/HTTP 503 error 20503: Service Unavailable.* \(after 3 attempts\)$/);
    expect(await message(result.messageId!)).toMatchObject({ status: 'failed', attempts: 3 });
    faulty.plan = [];
  });
});

describe('retries stay within the step’s patience', () => {
  it('a call that timed out is not repeated when another would end past the budget; with room it is', async () => {
    const store = await openSqliteStore(':memory:');
    const driver = createDriver('slow', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: faulty.url }, { timeoutMs: 300 });
    const send = (budgetMs: number, stepId: string) =>
      sendMessage(
        { store, channels: new Map([['slow', driver]]), newId, now: () => new Date(), retry: { attempts: 3, delaysMs: [50], budgetMs } },
        { flowId: 'f', executionId: 'ex_budget', stepId, contactId: null, channel: 'slow', message: { to: '+14155552345', text: 'hi' }, secrets: [] },
      );
    try {
      faulty.hits.length = 0;
      faulty.plan = ['hang', 'hang', 'hang'];
      const tight = await send(500, 'tight').catch((err) => err);
      expect(tight).toBeInstanceOf(MessageFailed);
      expect(tight).toMatchObject({ transient: true });
      const posts = () => faulty.hits.filter((h) => h.method === 'POST').map((h) => h.status);
      const lookups = () => faulty.hits.filter((h) => h.method === 'GET').length;
      expect(posts()).toEqual([0]); // 300 ms spent + 50 ms wait + another 300 ms call > 500 ms
      expect(lookups()).toBe(1); // before reporting it failed, Twilio is asked whether it took the message
      expect(await store.getMessage(tight.messageId)).toMatchObject({ status: 'failed', attempts: 1 });

      faulty.hits.length = 0;
      faulty.plan = ['hang', 'hang'];
      const roomy = await send(5_000, 'roomy');
      expect(posts()).toEqual([0, 0, 201]);
      expect(lookups()).toBe(2); // asked before each call made again
      expect(await store.getMessage(roomy.messageId)).toMatchObject({ status: 'queued', attempts: 3, providerId: roomy.providerId });
    } finally {
      faulty.plan = [];
      await store.close();
    }
  });
});

describe('Twilio status callbacks', () => {
  async function callback(params: Record<string, string>, headers: Record<string, string>) {
    return engine.request('/hooks/_status/twilio', { method: 'POST', form: params, headers });
  }

  it('signed callbacks move the message by SID; a late status is history only', async () => {
    const sent = await run('/out/sms', { to: '+14155552348', text: 'status please' }, 'text');
    const sid = sent.providerId!;
    for (const status of ['sent', 'delivered', 'sent']) {
      const params = { AccountSid: ACCOUNT_SID, MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, To: '+14155552348', From: FROM, ApiVersion: '2010-04-01' };
      const res = await callback(params, { 'x-twilio-signature': sign(STATUS_URL, params) });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sid, status });
    }
    const stored = await message(sent.messageId!);
    expect(stored.status).toBe('delivered'); // the late "sent" did not move it back
    expect(stored.statusChanges.map((c: { status: string; source: string }) => `${c.status}/${c.source}`)).toEqual([
      'sending/engine', 'queued/engine', 'sent/callback', 'delivered/callback', 'sent/callback',
    ]);

    const failed = { MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30003', AccountSid: ACCOUNT_SID };
    expect((await callback(failed, { 'x-twilio-signature': sign(STATUS_URL, failed) })).status).toBe(200);
    expect(await message(sent.messageId!)).toMatchObject({ status: 'undelivered', error: 'Twilio error 30003' });
    const read = { MessageSid: sid, MessageStatus: 'read', AccountSid: ACCOUNT_SID };
    expect((await callback(read, { 'x-twilio-signature': sign(STATUS_URL, read) })).status).toBe(200);
    expect((await message(sent.messageId!)).status).toBe('read');
  });

  it('call progress is recorded by CallSid, and a final status replaces the one Twilio answered with', async () => {
    const placed = await run('/out/call', { to: '+14155552349', say: 'hello' }, 'call');
    // Prism answers a new call with its spec example, already "completed"; Twilio would say "queued"
    expect(placed.status).toBe('completed');
    for (const status of ['ringing', 'in-progress', 'no-answer']) {
      const params = { AccountSid: ACCOUNT_SID, CallSid: placed.providerId!, CallStatus: status, To: '+14155552349', From: FROM, Direction: 'outbound-api' };
      const res = await callback(params, { 'x-twilio-signature': sign(STATUS_URL, params) });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sid: placed.providerId, status, messages: expect.arrayContaining([{ id: placed.messageId, status: expect.any(String) }]) });
    }
    const stored = await message(placed.messageId!);
    expect(stored.status).toBe('no-answer'); // ringing and in-progress came after a final status: history only
    expect(stored.statusChanges.map((c: { status: string; source: string }) => `${c.status}/${c.source}`)).toEqual([
      'sending/engine', 'completed/engine', 'ringing/callback', 'in-progress/callback', 'no-answer/callback',
    ]);
  });

  it('unsigned, wrongly signed or signed-for-another-URL callbacks get 401 and change nothing', async () => {
    const sent = await run('/out/sms', { to: '+14155550100', text: 'guarded' }, 'text');
    const params = { AccountSid: ACCOUNT_SID, MessageSid: sent.providerId!, MessageStatus: 'failed' };
    const attempts: Array<Record<string, string>> = [
      {},
      { 'x-twilio-signature': sign(STATUS_URL, params, OTHER_TOKEN) },
      { 'x-twilio-signature': sign(`${engine.url}/hooks/_status/twilio`, params) }, // not the public URL Twilio was given
      { 'x-twilio-signature': sign(STATUS_URL, { ...params, MessageStatus: 'delivered' }) }, // signed other parameters
    ];
    for (const headers of attempts) {
      const res = await callback(params, headers);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized' });
    }
    expect((await message(sent.messageId!)).status).not.toBe('failed');
    // a signed callback missing its status is refused as such
    const partial = { AccountSid: ACCOUNT_SID, MessageSid: sent.providerId! };
    const res = await callback(partial, { 'x-twilio-signature': sign(STATUS_URL, partial) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'no MessageStatus' });
  });

  it('the status route is not a flow route, and flows cannot claim paths under /_', async () => {
    expect((await engine.request('/hooks/_status/twilio')).status).toBe(404);
    const broken = await startTestEngine({ 'bad.yaml': 'version: 1\nid: bad\ntrigger: { path: /_status/twilio }\n' }, '', {}, { captureLogs: true });
    try {
      expect(broken.flows.list()).toHaveLength(0);
      expect(broken.logs.join('\n')).toContain("routes starting with /_ are the engine's own");
    } finally {
      await broken.stop();
    }
  });
});

describe('outbox channels (no credentials)', () => {
  it('an outbox message is checked like a real one and stored as "stored", nothing sent', async () => {
    const outbox = await startTestEngine({ 'sms.yaml': flows['sms.yaml'] }); // no channels: sms, voice, email are outbox
    try {
      const before = proxy.requests.length;
      const res = await outbox.request('/hooks/out/sms', { json: { to: '+1 415 555 2345', text: 'kept' } });
      const result = (res.body as { steps: Record<string, StepResult> }).steps.text;
      expect(result).toMatchObject({ ok: true, status: 'stored', providerId: expect.stringMatching(/^outbox-/) });
      expect((await outbox.admin(`/api/messages/${result.messageId}`)).body).toMatchObject({ driver: 'outbox', to: '+14155552345', status: 'stored', content: { text: 'kept' } });
      const invalid = await outbox.request('/hooks/out/sms', { json: { to: '12345', text: 'x' } });
      expect((invalid.body as { steps: Record<string, StepResult> }).steps.text).toMatchObject({ ok: false, error: { code: 'invalid-recipient' } });
      expect(proxy.requests.length).toBe(before);
    } finally {
      await outbox.stop();
    }
  });
});

describe('inbound messages and channels that cannot start a conversation', () => {
  it('a replies-only channel refuses someone who never wrote, then answers them once they have', async () => {
    const phone = '+14155550123';
    const before = proxy.requests.length;
    const refused = await run('/out/reply', { to: phone, text: 'Hello?' }, 'reply');
    expect(proxy.requests.length).toBe(before);
    expect(refused).toMatchObject({ ok: false, status: 'failed', error: { code: 'not-opened' } });
    expect(refused.error!.message).toBe(`channel replies cannot start a conversation (canInitiate: false) and ${phone} has not sent a message on it; it can only answer`);

    // Twilio's inbound SMS webhook: form-encoded, signed over the public URL
    const form = { MessageSid: 'SM0123456789abcdef0123456789abcdef', AccountSid: ACCOUNT_SID, From: phone, To: FROM, Body: 'Is my table ready?', NumMedia: '0' };
    const signature = sign(`${PUBLIC_URL}/hooks/in/sms`, form);
    const unsigned = await engine.request('/hooks/in/sms', { form });
    expect(unsigned.status).toBe(401);
    const res = await engine.request('/hooks/in/sms', { form, headers: { 'x-twilio-signature': signature } });
    expect(res.status).toBe(200);
    const answer = (res.body as { steps: Record<string, StepResult> }).steps.answer;
    expect(answer).toMatchObject({ ok: true, status: 'queued' });
    expect(Object.fromEntries(lastRequest('Messages').form)).toMatchObject({ To: phone, Body: 'Got it: Is my table ready?' });

    // the sender is the contact the refused send was for, now with the inbound message and the reply
    const contacts = await engine.admin(`/api/contacts?phone=${encodeURIComponent(phone)}`);
    expect(contacts.body.contacts).toHaveLength(1);
    const contact = await engine.admin(`/api/contacts/${contacts.body.contacts[0].id}`);
    expect(contact.body.messages.map((m: { direction: string; status: string; content: unknown }) => [m.direction, m.status, m.content])).toEqual([
      ['outbound', 'queued', { text: 'Got it: Is my table ready?' }],
      ['inbound', 'received', { text: 'Is my table ready?' }],
      ['outbound', 'failed', { text: 'Hello?' }],
    ]);
    expect(contact.body.messages[1]).toMatchObject({ channel: 'replies', from: phone, to: null, providerId: form.MessageSid, flowId: 'sms-in' });
    expect(contact.body.webhooks[0]).toMatchObject({ flowId: 'sms-in', identification: 'phone' });

    // now the channel is open for this contact from any flow
    const later = await run('/out/reply', { to: phone, text: 'Yes, it is.' }, 'reply');
    expect(later).toMatchObject({ ok: true, status: 'queued' });

    // Twilio redelivering the same message (same MessageSid) does not store it twice
    const again = await engine.request('/hooks/in/sms', { form, headers: { 'x-twilio-signature': signature } });
    expect(again.status).toBe(200);
    const inbound = await engine.admin(`/api/messages?contact=${contacts.body.contacts[0].id}&direction=inbound`);
    expect(inbound.body.messages).toHaveLength(1);
  });
});

describe('inbound messages from someone new', () => {
  it('the flow without identify: creates the contact from the sender and may answer on the replies-only channel', async () => {
    const phone = '+14155550188';
    const form = { MessageSid: 'SMfedcba9876543210fedcba9876543210', AccountSid: ACCOUNT_SID, From: phone, To: FROM, Body: 'STOP' };
    const res = await engine.request('/hooks/in/sms', { form, headers: { 'x-twilio-signature': sign(`${PUBLIC_URL}/hooks/in/sms`, form) } });
    expect(res.status).toBe(200);
    expect((res.body as { steps: Record<string, StepResult> }).steps.answer).toMatchObject({ ok: true });
    const contacts = await engine.admin(`/api/contacts?phone=${encodeURIComponent(phone)}`);
    expect(contacts.body.contacts).toEqual([expect.objectContaining({ phone, email: null })]);
    const contact = await engine.admin(`/api/contacts/${contacts.body.contacts[0].id}`);
    expect(contact.body.webhooks[0]).toMatchObject({ flowId: 'sms-in', identification: 'created', contactId: contacts.body.contacts[0].id });
    expect(contact.body.messages.map((m: { direction: string; to: string | null; from: string | null }) => [m.direction, m.from, m.to])).toEqual([
      ['outbound', null, phone],
      ['inbound', phone, null],
    ]);
  });
});

describe('admin API over messages', () => {
  it('lists messages newest first, filtered by contact, channel and status, paged with next', async () => {
    const to = '+14155552399';
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) ids.push((await run('/out/sms', { to, text }, 'text')).messageId!);
    const contactId = (await message(ids[0])).contactId;

    const first = await engine.admin(`/api/messages?contact=${contactId}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.messages.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next).toBe(ids[1]);
    const second = await engine.admin(`/api/messages?contact=${contactId}&limit=2&before=${first.body.next}`);
    expect(second.body).toEqual({ messages: [expect.objectContaining({ id: ids[0], content: { text: 'one' } })], next: null });

    const failed = await engine.admin('/api/messages?status=failed&channel=sms');
    expect(failed.body.messages.length).toBeGreaterThan(0);
    for (const m of failed.body.messages) expect(m).toMatchObject({ status: 'failed', channel: 'sms' });
    expect((await engine.admin('/api/messages?channel=email')).body.messages.every((m: { channel: string }) => m.channel === 'email')).toBe(true);
    expect((await engine.admin('/api/messages?direction=sideways')).status).toBe(400);
    expect((await engine.admin('/api/messages/msg_nope')).status).toBe(404);
    const res = await fetch(`${engine.url}/api/messages`);
    expect(res.status).toBe(401);

    const contact = await engine.admin(`/api/contacts/${contactId}`);
    expect(contact.body.messages.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[1], ids[0]]);
  });
});

describe('a resumed execution does not send a message twice', () => {
  it('a step whose message has a provider id returns it; one interrupted before the provider took it is sent again', async () => {
    const flow = `version: 1
id: resume
trigger: { path: /resume }
steps:
  - id: first
    send: { channel: sms, to: "+14155552345", text: "first" }
  - id: second
    send: { channel: sms, to: "+14155552345", text: "second" }
  - id: third
    send: { channel: sms, to: "+14155552345", text: "third" }
`;
    const at = new Date().toISOString();
    const resumed = await startTestEngine(
      { 'resume.yaml': flow },
      `channels:\n  sms: ${twilioChannel('twilio-sms', proxy.url)}\n`,
      { TWILIO_AUTH_TOKEN: AUTH_TOKEN },
      {
        // what a process that died mid-execution left: the execution, the first message sent, the second stored
        // as being sent when the process died (no provider id: it may or may not have reached Twilio)
        async setup(dir) {
          const store = await openSqliteStore(path.join(dir, 'data', 'hooks.db'));
          const request = { method: 'POST', path: '/resume', headers: {}, query: {}, body: {}, ip: '127.0.0.1', receivedAt: at };
          await store.commitLog(
            { id: 'log_1', receivedAt: at, flowId: 'resume', revision: 'old', method: 'POST', path: '/resume', headers: {}, query: {}, body: null, bodyTruncated: false, outcome: 'accepted', reason: null, status: 200, durationMs: 1, executionId: 'ex_1', contactId: null, identification: null, duplicateOf: null, replayOf: null },
            { id: 'ex_1', flowId: 'resume', revision: 'old', logId: 'log_1', mode: 'async', status: 'queued', input: { request, vars: {}, contactId: null }, attempts: 1, createdAt: at, startedAt: null, finishedAt: null, error: null },
          );
          const row = (id: string, step: string, providerId: string | null, status: string) => ({
            id, direction: 'outbound' as const, channel: 'sms', driver: 'twilio-sms', contactId: null, to: '+14155552345', from: null,
            content: { text: step }, providerId, status, statusRank: 1, error: null, flowId: 'resume', executionId: 'ex_1', stepId: step, logId: null,
          });
          await store.insertMessage(row('msg_first', 'first', 'SM11111111111111111111111111111111', 'sent'), at);
          await store.insertMessage({ ...row('msg_second', 'second', null, 'sending'), statusRank: 0 }, at);
          // the third had failed (Twilio down) but the process died before the step was journaled
          await store.insertMessage({ ...row('msg_third', 'third', null, 'failed'), statusRank: 5, error: 'channel sms: Twilio SMS failed: HTTP 503 (after 3 attempts)' }, at);
          await store.close();
        },
      },
    );
    try {
      const before = proxy.requests.length;
      const execution = await eventually(async () => {
        const res = await resumed.admin('/api/executions/ex_1');
        return res.body.status === 'completed' ? res.body : undefined;
      }, 15_000, 'the resumed execution');
      const sent = proxy.requests.slice(before).map((r) => [r.method, r.form.get('Body')]);
      // "first" had reached Twilio: not sent again; "second" was in flight: Twilio is asked first (it has nothing
      // of it), then it is sent; "third" had failed: sent again
      expect(sent).toEqual([['GET', null], ['POST', 'second'], ['POST', 'third']]);
      const results = Object.fromEntries(execution.journal.map((j: { stepId: string; result: StepResult }) => [j.stepId, j.result]));
      expect(results.first).toEqual({ ok: true, messageId: 'msg_first', providerId: 'SM11111111111111111111111111111111', status: 'sent', error: null });
      expect(results.second).toMatchObject({ ok: true, messageId: 'msg_second', status: 'queued' });
      expect(results.third).toMatchObject({ ok: true, messageId: 'msg_third', status: 'queued' });
      const all = await resumed.admin('/api/messages');
      expect(all.body.messages).toHaveLength(3); // the interrupted messages were completed in their own rows
      expect(await resumed.admin('/api/messages/msg_second').then((r) => r.body)).toMatchObject({ status: 'queued', providerId: expect.stringMatching(/^SM/), attempts: 1 });
      const third = await resumed.admin('/api/messages/msg_third').then((r) => r.body);
      expect(third).toMatchObject({ status: 'queued', providerId: expect.stringMatching(/^SM/), error: null });
      expect(third.statusChanges.map((c: { status: string }) => c.status)).toEqual(['failed', 'sending', 'queued']);
    } finally {
      await resumed.stop();
    }
  });
});
