/**
 * The booking example end to end, as shipped: flows/booking-confirmation.yaml (with its sample) under the repo's own
 * hooks.config.yaml, credentials given through the environment the way an operator would. A booking webhook comes
 * in, the guest becomes a contact, the SMS and the call go through the real twilio client to Prism mocking Twilio's
 * OpenAPI spec, the e-mail through nodemailer to a real SMTP server, and Twilio's status callbacks come back signed.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config/load.ts';
import { startEngine, type Engine } from '../engine/server/engine.ts';
import { scratchDir } from './support/files.ts';
import { startPrism, startRecordingProxy, type Prism, type RecordingProxy } from './support/prism.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { eventually } from './support/twilio-faults.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');

const ACCOUNT_SID = `AC${'5a5b5c5d5e5f5061'.repeat(2)}`;
const AUTH_TOKEN = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const ADMIN_TOKEN = 'e2e-admin-token';
const PUBLIC_URL = 'https://hooks.example.test';
const STATUS_URL = `${PUBLIC_URL}/hooks/_status/twilio`;
const SMTP_AUTH = { user: 'bookings', pass: 'mail-s3cret!' };

let prism: Prism;
let proxy: RecordingProxy;
let smtp: TestSmtpServer;
let engine: Engine;
let scratch: Awaited<ReturnType<typeof scratchDir>>;

const admin = async (url: string) => {
  const res = await fetch(`${engine.url}${url}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as any };
};

beforeAll(async () => {
  prism = await startPrism(twilioSpec);
  proxy = await startRecordingProxy(prism.url, '/twilio');
  smtp = await startSmtpServer({ auth: SMTP_AUTH });
  scratch = await scratchDir('hooks-booking-e2e-');
  await mkdir(path.join(scratch.dir, 'flows', 'samples'), { recursive: true });
  await copyFile(path.join(repoRoot, 'hooks.config.yaml'), path.join(scratch.dir, 'hooks.config.yaml'));
  await copyFile(path.join(repoRoot, 'flows', 'booking-confirmation.yaml'), path.join(scratch.dir, 'flows', 'booking-confirmation.yaml'));
  await copyFile(path.join(repoRoot, 'flows', 'samples', 'booking.json'), path.join(scratch.dir, 'flows', 'samples', 'booking.json'));
  const env = {
    HOOKS_PUBLIC_URL: PUBLIC_URL,
    HOOKS_ADMIN_TOKEN: ADMIN_TOKEN,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_API_BASE: proxy.url,
    SMTP_URL: smtp.url(SMTP_AUTH),
  };
  const loaded = await loadConfig(path.join(scratch.dir, 'hooks.config.yaml'), env, scratch.dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  engine = await startEngine(loaded.config, { port: 0, host: '127.0.0.1', logger: false, env, watch: false });
}, 90_000);

afterAll(async () => {
  await engine?.close();
  await scratch?.remove();
  await smtp?.close();
  await proxy?.close();
  await prism?.stop();
});

describe('booking confirmation, end to end', () => {
  it('webhook in, contact created, SMS and call through Prism, e-mail through SMTP, status callbacks in', async () => {
    expect(engine.flows.list().map((f) => f.id)).toEqual(['booking-confirmation']);

    // 1. the booking system posts a booking
    const res = await fetch(`${engine.url}/hooks/booking-confirmation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: '0812-3456-7890', Email1: 'Ann.Lee@Example.com', name_client: 'Ann', tranid: 't-1001' }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: true, booking: 't-1001' });

    // 2. the async execution runs all three messages
    const log = (await admin('/api/logs?flow=booking-confirmation')).body.entries[0];
    expect(log).toMatchObject({ outcome: 'accepted', identification: 'created' });
    const execution = await eventually(async () => {
      const found = await admin(`/api/executions/${log.executionId}`);
      return found.body.status === 'completed' ? found.body : undefined;
    }, 20_000, 'the booking execution');
    const results = Object.fromEntries(execution.journal.map((j: { stepId: string; result: unknown }) => [j.stepId, j.result]));
    for (const step of ['confirm-sms', 'confirm-email', 'confirm-call']) expect(results[step]).toMatchObject({ ok: true, messageId: expect.stringMatching(/^msg_/), error: null });

    // 3. the contact, found or created by phone, with its fields
    const contact = (await admin('/api/contacts?phone=%2B6281234567890')).body.contacts[0];
    expect(contact).toMatchObject({ phone: '+6281234567890', email: 'ann.lee@example.com', fields: { first_name: 'Ann' } });

    // 4. the SMS and the call as Prism received them (and accepted them against Twilio's spec)
    const sms = proxy.requests.filter((r) => r.path.endsWith('/Messages.json'));
    const calls = proxy.requests.filter((r) => r.path.endsWith('/Calls.json'));
    expect(sms).toHaveLength(1);
    expect(calls).toHaveLength(1);
    expect(sms[0].path).toBe(`/twilio/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(sms[0].status).toBe(201);
    expect(Object.fromEntries(sms[0].form)).toEqual({ To: '+6281234567890', From: '+15005550006', Body: 'Hi Ann, booking t-1001 is confirmed.', StatusCallback: STATUS_URL });
    expect(calls[0].status).toBe(201);
    expect(calls[0].form.get('To')).toBe('+6281234567890');
    expect(calls[0].form.get('Twiml')).toBe('<Response><Say>Hello Ann. Your booking t-1001 is confirmed. Thank you.</Say></Response>');
    expect(calls[0].form.get('StatusCallback')).toBe(STATUS_URL);
    expect(calls[0].form.getAll('StatusCallbackEvent')).toEqual(['initiated', 'ringing', 'answered', 'completed']);

    // 5. the e-mail as the SMTP server received and parsed it
    const mail = await smtp.nextMail();
    expect(mail.user).toBe(SMTP_AUTH.user);
    expect(mail.envelope).toEqual({ from: 'bookings@example.com', to: ['ann.lee@example.com'] });
    expect(Array.isArray(mail.parsed.to) ? mail.parsed.to : [mail.parsed.to]).toMatchObject([{ value: [{ address: 'ann.lee@example.com' }] }]);
    expect(mail.parsed.subject).toBe('Booking t-1001 confirmed');
    expect(mail.parsed.text?.trim()).toBe('Hi Ann, your booking t-1001 is confirmed. See you soon!');
    expect(mail.parsed.html).toBe('<p>Hi Ann, your booking <b>t-1001</b> is confirmed. See you soon!</p>');

    // 6. the three messages, stored with the contact
    const view = (await admin(`/api/contacts/${contact.id}`)).body;
    const smsSid = JSON.parse(sms[0].responseBody).sid;
    const callSid = JSON.parse(calls[0].responseBody).sid;
    expect(view.messages.map((m: Record<string, unknown>) => [m.channel, m.to, m.providerId, m.status])).toEqual([
      ['voice', '+6281234567890', callSid, JSON.parse(calls[0].responseBody).status],
      ['email', 'ann.lee@example.com', mail.parsed.messageId, 'sent'],
      ['sms', '+6281234567890', smsSid, 'queued'],
    ]);

    // 7. Twilio reports delivery, signed over the public URL it was given
    const callback = async (params: Record<string, string>) =>
      fetch(`${engine.url}/hooks/_status/twilio`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_URL, params) },
        body: new URLSearchParams(params).toString(),
      });
    for (const status of ['sent', 'delivered']) {
      const answer = await callback({ AccountSid: ACCOUNT_SID, MessageSid: smsSid, MessageStatus: status, To: '+6281234567890', From: '+15005550006' });
      expect(answer.status).toBe(200);
    }
    const answered = await callback({ AccountSid: ACCOUNT_SID, CallSid: callSid, CallStatus: 'no-answer', To: '+6281234567890', From: '+15005550006' });
    expect(answered.status).toBe(200);
    const forged = await fetch(`${engine.url}/hooks/_status/twilio`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl' },
      body: new URLSearchParams({ MessageSid: smsSid, MessageStatus: 'failed' }).toString(),
    });
    expect(forged.status).toBe(401);

    const smsMessage = (await admin(`/api/messages/${results['confirm-sms'].messageId}`)).body;
    expect(smsMessage.status).toBe('delivered');
    expect(smsMessage.statusChanges.map((c: { status: string }) => c.status)).toEqual(['sending', 'queued', 'sent', 'delivered']);
    expect((await admin(`/api/messages/${results['confirm-call'].messageId}`)).body.status).toBe('no-answer');
    const delivered = (await admin(`/api/messages?contact=${contact.id}&status=delivered`)).body.messages;
    expect(delivered.map((m: { id: string }) => m.id)).toEqual([results['confirm-sms'].messageId]);
  });
});
