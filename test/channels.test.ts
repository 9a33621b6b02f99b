/**
 * Channel drivers against real components: the real twilio client against Prism mocking Twilio's own OpenAPI
 * spec (through a real recording proxy, which is what `baseUrl` is for), nodemailer against a real smtp-server
 * parsed with mailparser, and tiny real HTTP servers for the Twilio answers Prism cannot give (429, 503).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelError, createDriver, describeChannels, sayTwiml, type ChannelDriver, type OutgoingMessage,
} from '../channels/index.ts';
import { freePort, startPrism, startRecordingProxy, type Prism, type RecordingProxy } from './support/prism.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const BASIC_AUTH = Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
const MESSAGING_SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;
const FROM = '+15005550006';
const TO = '+14155552345';
const CALLBACK = 'https://hooks.example.com/hooks/_twilio/status';

/** Runs `fn`, expects a ChannelError, returns it. */
async function failure(fn: () => Promise<unknown>): Promise<ChannelError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelError);
    return err as ChannelError;
  }
  throw new Error('expected a ChannelError');
}

/** Everything someone could print about an error, for secret checks. */
function everything(err: ChannelError): string {
  return [err.message, String(err), err.stack ?? '', JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })].join('\n');
}

function expectNoSecrets(text: string, secrets: string[]) {
  for (const secret of secrets) expect(text).not.toContain(secret);
}

/** A tiny real HTTP server that answers every request with the given status and a Twilio-style error body. */
async function twilioErrorServer(status: number, code: number, message: string) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

let prism: Prism;
let proxy: RecordingProxy;
const drivers: ChannelDriver[] = [];

function twilioChannel(channel: string, extra: Record<string, unknown> = {}, driver: 'twilio-sms' | 'twilio-voice' = 'twilio-sms') {
  const d = createDriver(channel, { driver, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: proxy.url, ...extra });
  drivers.push(d);
  return d;
}

beforeAll(async () => {
  prism = await startPrism(twilioSpec);
  console.log(`prism started in ${prism.startupMs} ms`);
  proxy = await startRecordingProxy(prism.url, '/twilio');
}, 60_000);

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close?.()));
  await proxy?.close();
  await prism?.stop();
});

describe('twilio-sms against Prism (Twilio OpenAPI spec)', () => {
  it('sends an SMS; the SID and status are Prism’s answer to a request it validated', async () => {
    const sms = twilioChannel('sms');
    expect(sms).toMatchObject({ driver: 'twilio-sms', channel: 'sms', outbox: false, canInitiate: true });
    const before = proxy.requests.length;

    const result = await sms.send({ to: TO, text: 'Thanks Ann! 👍', statusCallback: CALLBACK });

    expect(proxy.requests.length).toBe(before + 1);
    const exchange = proxy.requests.at(-1)!;
    expect(exchange.method).toBe('POST');
    expect(exchange.path).toBe(`/twilio/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(exchange.headers.authorization).toBe(`Basic ${BASIC_AUTH}`);
    expect(exchange.headers['content-type']).toContain('application/x-www-form-urlencoded');
    expect(Object.fromEntries(exchange.form)).toEqual({ To: TO, From: FROM, Body: 'Thanks Ann! 👍', StatusCallback: CALLBACK });
    expect(exchange.status).toBe(201); // Prism accepted it (it answers 422 to a request that breaks the spec)
    const answer = JSON.parse(exchange.responseBody);
    expect(result).toEqual({ providerId: answer.sid, status: answer.status });
    expect(result).toEqual({ providerId: 'SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', status: 'queued' });
  });

  it('goes straight to Prism too (baseUrl without a path prefix)', async () => {
    const sms = createDriver('sms', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: prism.url });
    drivers.push(sms);
    await expect(sms.send({ to: TO, text: 'direct' })).resolves.toEqual({ providerId: 'SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', status: 'queued' });
  });

  it('sends an MMS with mediaUrl', async () => {
    const sms = twilioChannel('sms');
    const result = await sms.send({ to: TO, text: 'Your ticket', mediaUrl: 'https://cdn.example.com/ticket.png' });
    const exchange = proxy.requests.at(-1)!;
    expect(exchange.form.getAll('MediaUrl')).toEqual(['https://cdn.example.com/ticket.png']);
    expect(exchange.form.get('Body')).toBe('Your ticket');
    expect(exchange.form.has('StatusCallback')).toBe(false);
    expect(exchange.status).toBe(201);
    expect(result.providerId).toBe(JSON.parse(exchange.responseBody).sid);
  });

  it('sends through a messaging service instead of a from number', async () => {
    const sms = twilioChannel('sms', { from: '', messagingServiceSid: MESSAGING_SERVICE_SID });
    expect(sms.outbox).toBe(false);
    const result = await sms.send({ to: '+1 (415) 555-2345', text: 'hi' });
    const exchange = proxy.requests.at(-1)!;
    expect(Object.fromEntries(exchange.form)).toEqual({ To: TO, MessagingServiceSid: MESSAGING_SERVICE_SID, Body: 'hi' });
    expect(exchange.status).toBe(201);
    expect(result.status).toBe('queued');
  });

  it('a request Prism rejects (StatusCallback not a URI) is a permanent ChannelError', async () => {
    const sms = twilioChannel('sms');
    const err = await failure(() => sms.send({ to: TO, text: 'hi', statusCallback: 'not a url' }));
    expect(proxy.requests.at(-1)!.status).toBe(422);
    expect(proxy.requests.at(-1)!.responseBody).toContain('StatusCallback must match format');
    expect(err.transient).toBe(false);
    expect(err.status).toBe(422);
    expect(err.message).toContain('HTTP 422');
    expect(err.message).toContain('Request body property StatusCallback must match format "uri"'); // Prism's reason survives
    expectNoSecrets(everything(err), [AUTH_TOKEN, BASIC_AUTH]);
  });

  it('a media URL Prism rejects (array item not a URI) is a permanent ChannelError', async () => {
    const sms = twilioChannel('sms');
    const err = await failure(() => sms.send({ to: TO, text: 'x', mediaUrl: 'ticket.png' }));
    expect(proxy.requests.at(-1)!.form.getAll('MediaUrl')).toEqual(['ticket.png']);
    expect(err).toMatchObject({ transient: false, status: 422 });
    expect(err.message).toMatch(/MediaUrl.* must match format "uri"/);
  });

  it('a messaging service SID Prism rejects (pattern) is a permanent ChannelError', async () => {
    const sms = twilioChannel('sms', { from: '', messagingServiceSid: 'MG123' });
    const err = await failure(() => sms.send({ to: TO, text: 'hi' }));
    expect(proxy.requests.at(-1)!.responseBody).toContain('MessagingServiceSid must match pattern');
    expect(err).toMatchObject({ transient: false, status: 422 });
  });

  it('refuses an invalid phone number before any provider call', async () => {
    const sms = twilioChannel('sms');
    const before = proxy.requests.length;
    for (const to of ['12345', 'not a number', '+1 555 0000', '']) {
      const err = await failure(() => sms.send({ to, text: 'hi' }));
      expect(err).toMatchObject({ transient: false, code: 'invalid-recipient' });
    }
    const empty = await failure(() => sms.send({ to: TO }));
    expect(empty).toMatchObject({ transient: false, code: 'invalid-message' });
    expect(proxy.requests.length).toBe(before);
  });
});

describe('twilio-voice against Prism', () => {
  it('calls with <Say>: TwiML escaped, status callback with all progress events', async () => {
    const voice = twilioChannel('voice', {}, 'twilio-voice');
    expect(voice).toMatchObject({ driver: 'twilio-voice', channel: 'voice', outbox: false });
    const result = await voice.send({
      to: TO,
      say: 'Tom & Jerry <3 "you"; booking > 100',
      voice: 'Polly.Joanna',
      language: 'en-US',
      statusCallback: CALLBACK,
    });
    const exchange = proxy.requests.at(-1)!;
    expect(exchange.path).toBe(`/twilio/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`);
    expect(exchange.form.get('Twiml')).toBe(
      '<Response><Say voice="Polly.Joanna" language="en-US">Tom &amp; Jerry &lt;3 &quot;you&quot;; booking &gt; 100</Say></Response>',
    );
    expect(exchange.form.get('To')).toBe(TO);
    expect(exchange.form.get('From')).toBe(FROM);
    expect(exchange.form.has('Url')).toBe(false);
    expect(exchange.form.get('StatusCallback')).toBe(CALLBACK);
    expect(exchange.form.get('StatusCallbackMethod')).toBe('POST');
    expect(exchange.form.getAll('StatusCallbackEvent')).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(exchange.status).toBe(201);
    const answer = JSON.parse(exchange.responseBody);
    expect(result).toEqual({ providerId: answer.sid, status: answer.status });
    expect(result.providerId).toMatch(/^CA[0-9a-f]{32}$/i);
  });

  it('escapes attributes and drops characters XML cannot carry', () => {
    expect(sayTwiml('a\u0000b\u0007c', 'x" onload="y', "en'US")).toBe(
      '<Response><Say voice="x&quot; onload=&quot;y" language="en&apos;US">abc</Say></Response>',
    );
    expect(sayTwiml('plain')).toBe('<Response><Say>plain</Say></Response>');
  });

  it('calls with a TwiML url', async () => {
    const voice = twilioChannel('voice', {}, 'twilio-voice');
    const result = await voice.send({ to: TO, url: 'https://hooks.example.com/twiml/greeting.xml' });
    const exchange = proxy.requests.at(-1)!;
    expect(Object.fromEntries(exchange.form)).toEqual({ To: TO, From: FROM, Url: 'https://hooks.example.com/twiml/greeting.xml' });
    expect(exchange.status).toBe(201);
    expect(result.providerId).toBe(JSON.parse(exchange.responseBody).sid);
  });

  it('a Url Prism rejects is permanent; say and url together or neither are refused before calling', async () => {
    const voice = twilioChannel('voice', {}, 'twilio-voice');
    const rejected = await failure(() => voice.send({ to: TO, url: 'greeting.xml' }));
    expect(rejected).toMatchObject({ transient: false, status: 422 });
    expect(proxy.requests.at(-1)!.responseBody).toContain('Url must match format');

    const before = proxy.requests.length;
    await expect(failure(() => voice.send({ to: TO, say: 'hi', url: 'https://x.example/t.xml' }))).resolves.toMatchObject({ code: 'invalid-message' });
    await expect(failure(() => voice.send({ to: TO }))).resolves.toMatchObject({ code: 'invalid-message' });
    await expect(failure(() => voice.send({ to: TO, say: 'x'.repeat(4000) }))).resolves.toMatchObject({ code: 'invalid-message' });
    await expect(failure(() => voice.send({ to: '0812345', say: 'hi' }))).resolves.toMatchObject({ code: 'invalid-recipient' });
    expect(proxy.requests.length).toBe(before);
  });
});

describe('Twilio failures map to transient / permanent', () => {
  it.each([
    [429, 20429, 'Too Many Requests', true],
    [503, 20503, 'Service Unavailable', true],
    [500, 20500, 'Internal Server Error', true],
    [400, 21211, "The 'To' number +14155552345 is not a valid phone number.", false],
    [401, 20003, 'Authenticate', false],
  ])('HTTP %i (Twilio error %i) from a real server', async (status, code, message, transient) => {
    const server = await twilioErrorServer(status, code, message);
    try {
      const sms = createDriver('sms', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: server.url });
      const err = await failure(() => sms.send({ to: TO, text: 'hi' }));
      expect(server.hits).toEqual([`POST /2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`]); // no silent retries
      expect(err).toMatchObject({ transient, code, status });
      expect(err.message).toContain(message);
      expectNoSecrets(everything(err), [AUTH_TOKEN, BASIC_AUTH]);
    } finally {
      await server.close();
    }
  });

  it('connection refused is transient', async () => {
    const port = await freePort(); // nothing listens there
    const voice = createDriver('voice', {
      driver: 'twilio-voice', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: `http://127.0.0.1:${port}`,
    });
    const err = await failure(() => voice.send({ to: TO, say: 'hi' }));
    expect(err).toMatchObject({ transient: true, code: 'ECONNREFUSED' });
    expectNoSecrets(everything(err), [AUTH_TOKEN, BASIC_AUTH]);
  });

  it('a malformed accountSid or baseUrl is a config error at creation, without the token', () => {
    const bad = (extra: Record<string, string>) => () =>
      createDriver('sms', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, ...extra });
    expect(bad({ accountSid: 'SK0123' })).toThrowError(/channel sms: accountSid/);
    expect(bad({ baseUrl: 'ftp://127.0.0.1/' })).toThrowError(/channel sms: baseUrl must be http/);
    try {
      bad({ accountSid: 'ACnope' })();
    } catch (err) {
      expect(err).toMatchObject({ transient: false, code: 'config' });
      expectNoSecrets(everything(err as ChannelError), [AUTH_TOKEN]);
    }
  });
});

describe('smtp against a real smtp-server', () => {
  const auth = { user: 'mailer@example.com', pass: 'p@ss:w0rd/s3cret' };
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer({
      auth,
      rejectRecipient: (address) =>
        address.startsWith('busy@') ? { code: 450, message: 'Mailbox busy, try later' }
        : address.startsWith('nobody@') ? { code: 550, message: 'No such user' }
        : undefined,
    });
  });
  afterAll(() => smtp?.close());

  function emailChannel(url = smtp.url(auth)) {
    const d = createDriver('email', { driver: 'smtp', url, from: 'Bookings <bookings@example.com>' });
    drivers.push(d);
    return d;
  }

  it('delivers a message with text, html, subject, reply-to and from', async () => {
    const email = emailChannel();
    expect(email).toMatchObject({ driver: 'smtp', channel: 'email', outbox: false, canInitiate: true });
    const result = await email.send({
      to: 'ann@example.com',
      subject: 'Booking t-1 confirmed ✓',
      text: 'Thanks Ann, see you on Friday.',
      html: '<p>Thanks <b>Ann</b>, see you on Friday.</p>',
      replyTo: 'desk@example.com',
    });
    const mail = await smtp.nextMail();
    expect(mail.user).toBe(auth.user);
    expect(mail.envelope).toEqual({ from: 'bookings@example.com', to: ['ann@example.com'] });
    const parsed = mail.parsed;
    expect(parsed.from?.value).toEqual([{ address: 'bookings@example.com', name: 'Bookings' }]);
    expect(Array.isArray(parsed.to) ? parsed.to : [parsed.to]).toMatchObject([{ value: [{ address: 'ann@example.com' }] }]);
    expect(parsed.replyTo?.value).toEqual([{ address: 'desk@example.com', name: '' }]);
    expect(parsed.subject).toBe('Booking t-1 confirmed ✓');
    expect(parsed.text?.trim()).toBe('Thanks Ann, see you on Friday.');
    expect(parsed.html).toBe('<p>Thanks <b>Ann</b>, see you on Friday.</p>');
    expect(result).toEqual({ providerId: parsed.messageId, status: 'sent' });
  });

  it('refuses a message without a usable recipient or content before connecting', async () => {
    const email = emailChannel();
    const before = smtp.received.length;
    await expect(failure(() => email.send({ to: 'ann.example.com', text: 'x' }))).resolves.toMatchObject({ code: 'invalid-recipient', transient: false });
    await expect(failure(() => email.send({ to: 'ann@example.com' }))).resolves.toMatchObject({ code: 'invalid-message', transient: false });
    expect(smtp.received.length).toBe(before);
  });

  it('an SMTP 4xx reply is transient, 5xx permanent, keeping the reply code', async () => {
    const email = emailChannel();
    const busy = await failure(() => email.send({ to: 'busy@example.com', text: 'x' }));
    expect(busy).toMatchObject({ transient: true, code: 450 });
    expect(busy.message).toContain('Mailbox busy');
    const nobody = await failure(() => email.send({ to: 'nobody@example.com', text: 'x' }));
    expect(nobody).toMatchObject({ transient: false, code: 550 });
    for (const err of [busy, nobody]) expectNoSecrets(everything(err), [auth.pass, encodeURIComponent(auth.pass)]);
  });

  it('wrong credentials are permanent and the password never shows', async () => {
    const wrong = { user: auth.user, pass: 'Wr0ng-Passw0rd!' };
    const email = emailChannel(smtp.url(wrong));
    const err = await failure(() => email.send({ to: 'ann@example.com', text: 'x' }));
    expect(err).toMatchObject({ transient: false, code: 535 });
    expectNoSecrets(everything(err), [wrong.pass, encodeURIComponent(wrong.pass)]);
  });

  it('no server listening (connection refused) is transient', async () => {
    const port = await freePort();
    const email = emailChannel(`smtp://${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@127.0.0.1:${port}`);
    const err = await failure(() => email.send({ to: 'ann@example.com', subject: 'hi', text: 'x' }));
    expect(err.transient).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
    expectNoSecrets(everything(err), [auth.pass, encodeURIComponent(auth.pass)]);
  });
});

describe('outbox', () => {
  it('a Twilio channel without credentials falls back to outbox and hands the message to onOutbox', async () => {
    const seen: Array<[string, OutgoingMessage]> = [];
    const sms = createDriver(
      'sms',
      { driver: 'twilio-sms', accountSid: '', authToken: '', from: FROM, baseUrl: '' },
      { onOutbox: (channel, message) => seen.push([channel, message]) },
    );
    expect(sms).toMatchObject({ driver: 'outbox', channel: 'sms', outbox: true, canInitiate: true });
    const result = await sms.send({ to: '+1 415 555 2345', text: 'Thanks Ann!', statusCallback: CALLBACK });
    expect(result.status).toBe('stored');
    expect(result.providerId).toMatch(/^outbox-[0-9a-f-]{36}$/);
    expect(seen).toEqual([['sms', { to: TO, text: 'Thanks Ann!', statusCallback: CALLBACK }]]);

    // the stand-in refuses what the real driver would refuse, without calling onOutbox
    await expect(failure(() => sms.send({ to: '12345', text: 'x' }))).resolves.toMatchObject({ code: 'invalid-recipient', transient: false });
    expect(seen).toHaveLength(1);
    const second = await sms.send({ to: TO, text: 'again' });
    expect(second.providerId).not.toBe(result.providerId);
  });

  it('falls back for every missing setting and describes why, without secrets', async () => {
    const seen: string[] = [];
    const onOutbox = (channel: string, message: OutgoingMessage) => seen.push(`${channel}:${message.to}`);
    const list = [
      createDriver('sms', { driver: 'twilio-sms', accountSid: '', authToken: '', from: FROM }, { onOutbox }),
      createDriver('whatsapp', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: ' ', messagingServiceSid: '' }, { onOutbox }),
      createDriver('voice', { driver: 'twilio-voice', accountSid: ACCOUNT_SID, authToken: '', from: FROM }, { onOutbox }),
      createDriver('callback', { driver: 'twilio-voice', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: MESSAGING_SERVICE_SID }, { onOutbox }),
      createDriver('email', { driver: 'smtp', url: '', from: 'bookings@example.com' }, { onOutbox }),
      createDriver('notify', { driver: 'smtp', url: 'smtp://u:pw-secret@127.0.0.1:2525' }, { onOutbox }),
      createDriver('log', { driver: 'outbox', canInitiate: false }, { onOutbox }),
    ];
    drivers.push(...list);
    for (const d of list) expect(d).toMatchObject({ outbox: true, driver: 'outbox' });
    expect(list.map((d) => d.channel)).toEqual(['sms', 'whatsapp', 'voice', 'callback', 'email', 'notify', 'log']);
    expect(describeChannels(list)).toEqual([
      'sms: outbox (TWILIO credentials not set)',
      'whatsapp: outbox (from/messagingServiceSid not set)',
      'voice: outbox (TWILIO credentials not set)',
      'callback: outbox (from not set)',
      'email: outbox (SMTP url not set)',
      'notify: outbox (from not set)',
      'log: outbox [replies only]',
    ]);
    expect(list[6].canInitiate).toBe(false);

    await list[2].send({ to: TO, say: 'hello' });
    await expect(failure(() => list[2].send({ to: TO }))).resolves.toMatchObject({ code: 'invalid-message' });
    await list[4].send({ to: 'ann@example.com', subject: 'hi' });
    await expect(failure(() => list[4].send({ to: 'nobody', subject: 'hi' }))).resolves.toMatchObject({ code: 'invalid-recipient' });
    await list[6].send({ to: 'anyone' });
    expect(seen).toEqual([`voice:${TO}`, 'email:ann@example.com', 'log:anyone']);
  });

  it('describes real drivers without credentials', () => {
    const list = [
      createDriver('sms', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, canInitiate: false }),
      createDriver('bulk', { driver: 'twilio-sms', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: MESSAGING_SERVICE_SID, baseUrl: 'http://user:proxy-secret@127.0.0.1:3128/twilio' }),
      createDriver('voice', { driver: 'twilio-voice', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM }),
      createDriver('email', { driver: 'smtp', url: 'smtps://mailer:smtp-secret@mail.example.com:465', from: 'bookings@example.com' }),
    ];
    drivers.push(...list);
    const lines = describeChannels(Object.fromEntries(list.map((d) => [d.channel, d])));
    expect(lines).toEqual([
      `sms: twilio-sms (from ${FROM}) [replies only]`,
      `bulk: twilio-sms (messaging service ${MESSAGING_SERVICE_SID}, API http://127.0.0.1:3128/twilio)`,
      `voice: twilio-voice (from ${FROM})`,
      'email: smtp (smtps://mail.example.com:465, from bookings@example.com)',
    ]);
    expectNoSecrets(lines.join('\n'), [AUTH_TOKEN, 'proxy-secret', 'smtp-secret', 'mailer']);
  });
});
