import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SmtpDriver } from '../channels/smtp.ts';
import { TwilioSmsDriver } from '../channels/twilio-sms.ts';
import { TwilioVoiceDriver } from '../channels/twilio-voice.ts';
import type { ChannelDriver } from '../channels/index.ts';
import { newId } from '../engine/common/ids.ts';
import { sendMessage, type OutboundRequest } from '../engine/messages/outbound.ts';
import { SENDING, SENDING_RANK } from '../engine/messages/status.ts';
import { openStore } from '../engine/store/open.ts';
import type { Store } from '../engine/store/types.ts';
import { startPrism, type Prism } from './support/prism.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { startTwilioTap, type TwilioTap } from './support/twilio-tap.ts';

/**
 * A send whose answer never came is reconciled before it is made again: Twilio (the stateful double in front of
 * Prism) is asked whether it took the message or call, and what it holds is adopted; an SMTP server cannot be asked,
 * so every attempt of one e-mail carries the same Message-ID.
 */
const twilioSpec = path.resolve(fileURLToPath(new URL('..', import.meta.url)), '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');
const TWILIO = { accountSid: `AC${'0123456789abcdef'.repeat(2)}`, authToken: 'f0e1d2c3b4a5968778695a4b3c2d1e0f', from: '+15005550006' };

let prism: Prism;
let tap: TwilioTap;
let smtp: TestSmtpServer;
let store: Store;
beforeAll(async () => {
  [prism, smtp, store] = await Promise.all([startPrism(twilioSpec), startSmtpServer(), openStore('sqlite://:memory:')]);
  tap = await startTwilioTap(prism.url);
}, 90_000);
afterAll(async () => {
  await Promise.all([tap?.close(), smtp?.close(), store?.close()]);
  await prism?.stop();
});

const deps = (driver: ChannelDriver) => ({ store, channels: new Map([[driver.channel, driver]]), newId, now: () => new Date(), retry: { attempts: 3, delaysMs: [50], budgetMs: 10_000 } });
const request = (channel: string, executionId: string, message: Record<string, string>): OutboundRequest => ({ flowId: 'f', executionId, stepId: 'send', contactId: null, channel, message, secrets: [] });

/** The row an attempt leaves when the process dies in the provider call: stored, `sending`, no provider id. */
async function interrupted(channel: string, driver: string, executionId: string, to: string, content: Record<string, string>) {
  await store.insertMessage({ id: newId('msg'), direction: 'outbound', channel, driver, contactId: null, to, from: null, content, providerId: null, status: SENDING, statusRank: SENDING_RANK, error: null, flowId: 'f', executionId, stepId: 'send', logId: null }, new Date().toISOString());
}

describe('reconciling an interrupted send', () => {
  it('adopts the SMS Twilio took when the call timed out, instead of sending it again', async () => {
    const driver = new TwilioSmsDriver({ channel: 'sms', ...TWILIO, baseUrl: tap.url, timeoutMs: 300 });
    tap.delayMs = 1_000; // Twilio takes it at once and answers after the driver gave up
    const before = tap.created.length;
    try {
      const sent = await sendMessage(deps(driver), request('sms', 'ex_timeout', { to: '+14155550101', text: 'code 4711' }));
      expect(tap.created.length).toBe(before + 1);
      expect(sent).toMatchObject({ providerId: tap.created.at(-1)!.sid, status: 'queued' });
    } finally {
      tap.delayMs = 0;
    }
  });

  it('adopts an SMS taken before the process died, and sends one Twilio has not got', async () => {
    const driver = new TwilioSmsDriver({ channel: 'sms', ...TWILIO, baseUrl: tap.url });
    // Twilio took the first before the process died; the second never reached it
    await driver.send({ to: '+14155550102', text: 'ticket A' });
    const taken = tap.created.at(-1)!;
    await interrupted('sms', 'twilio-sms', 'ex_died_a', '+14155550102', { text: 'ticket A' });
    await interrupted('sms', 'twilio-sms', 'ex_died_b', '+14155550102', { text: 'ticket B' });
    const before = tap.created.length;
    const a = await sendMessage(deps(driver), request('sms', 'ex_died_a', { to: '+14155550102', text: 'ticket A' }));
    expect(a.providerId).toBe(taken.sid);
    expect(tap.created.length).toBe(before);
    const b = await sendMessage(deps(driver), request('sms', 'ex_died_b', { to: '+14155550102', text: 'ticket B' }));
    expect(tap.created.length).toBe(before + 1);
    expect(b.providerId).toBe(tap.created.at(-1)!.sid);
    // the same text to the same number again: the record already adopted is not adopted twice
    await interrupted('sms', 'twilio-sms', 'ex_died_c', '+14155550102', { text: 'ticket A' });
    const c = await sendMessage(deps(driver), request('sms', 'ex_died_c', { to: '+14155550102', text: 'ticket A' }));
    expect(c.providerId).not.toBe(taken.sid);
    expect(tap.created.length).toBe(before + 2);
  });

  it('adopts a call Twilio took before the process died', async () => {
    const driver = new TwilioVoiceDriver({ channel: 'voice', ...TWILIO, baseUrl: tap.url });
    await driver.send({ to: '+14155550103', say: 'Your table is ready' });
    const taken = tap.created.at(-1)!;
    await interrupted('voice', 'twilio-voice', 'ex_call', '+14155550103', { say: 'Your table is ready' });
    const before = tap.created.length;
    const call = await sendMessage(deps(driver), request('voice', 'ex_call', { to: '+14155550103', say: 'Your table is ready' }));
    expect(call.providerId).toBe(taken.sid);
    expect(tap.created.length).toBe(before);
  });

  it('sends an e-mail again after a crash with the same Message-ID', async () => {
    const driver = new SmtpDriver({ channel: 'email', url: smtp.url(), from: 'Bookings <bookings@example.com>' });
    try {
      const first = await sendMessage(deps(driver), request('email', 'ex_mail', { to: 'guest@example.com', subject: 'Booking', text: 'See you' }));
      const mail = await smtp.nextMail();
      expect(mail.parsed.messageId).toBe(`<${first.messageId}@example.com>`);
      // the process died before the answer was stored: the row is left `sending`, and the step runs again
      await store.updateMessage(first.messageId, { providerId: null, status: SENDING, statusRank: SENDING_RANK, force: true }, new Date().toISOString(), 'engine');
      const again = await sendMessage(deps(driver), request('email', 'ex_mail', { to: 'guest@example.com', subject: 'Booking', text: 'See you' }));
      expect(again.messageId).toBe(first.messageId);
      expect((await smtp.nextMail()).parsed.messageId).toBe(mail.parsed.messageId);
    } finally {
      await driver.close();
    }
  });
});
