// Interoperability tests for engine/trust/signatures.ts: every accepted request is signed by the sender's own
// library (stripe, twilio, standardwebhooks) or exactly as the sender documents it (GitHub, generic HMAC).
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import Stripe from 'stripe';
import twilio from 'twilio';
import { Webhook } from 'standardwebhooks';
import {
  verifySignature,
  validateSignatureSpec,
  type SignatureFailure,
  type SignatureSpec,
  type SignedRequest,
  type Verdict,
} from '../engine/trust/signatures.ts';

// The package's entry point is a JSON file (api.github.com/index.json): an array of { name, examples, ... } per event.
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

const NOW_MS = Date.UTC(2025, 5, 2, 12, 0, 0);
const NOW_S = Math.floor(NOW_MS / 1000);
const SIX_MINUTES_S = 6 * 60;

// Every secret and every signature a test makes is recorded, so failure details can be checked against all of them.
const secretsUsed = new Set<string>();
const signaturesMade = new Set<string>();
const secret = (value: string) => (secretsUsed.add(value), value);
const signature = (value: string) => (signaturesMade.add(value), value);

function request(over: Partial<SignedRequest> & Pick<SignedRequest, 'rawBody' | 'headers'>): SignedRequest {
  return { publicUrl: 'https://hooks.example.com/hooks/in', nowMs: NOW_MS, ...over };
}

function expectOk(verdict: Verdict) {
  expect(verdict).toEqual({ ok: true });
}

const failures: Verdict[] = [];
function expectFailure(verdict: Verdict, reason: SignatureFailure, detailMentions?: string) {
  failures.push(verdict);
  expect(verdict.ok).toBe(false);
  if (verdict.ok) return;
  expect(verdict.reason).toBe(reason);
  expect(verdict.detail.length).toBeGreaterThan(0);
  if (detailMentions) expect(verdict.detail).toContain(detailMentions);
  for (const s of secretsUsed) expect(verdict.detail).not.toContain(s);
  for (const s of signaturesMade) expect(verdict.detail).not.toContain(s);
}

/** Flips the last bit of one byte in the middle of the body. */
function oneByteOff(body: Buffer): Buffer<ArrayBuffer> {
  const copy = Buffer.from(body);
  copy[Math.floor(copy.length / 2)] ^= 0x01;
  return copy;
}

// ------------------------------------------------------------------------------------------------ github

describe('github', () => {
  const push = examples.find((d) => d.name === 'push')!.examples[0];
  const body = Buffer.from(JSON.stringify(push), 'utf8'); // serialised once; these bytes are what GitHub sends
  const key = secret('gh-webhook-secret-It5aeb9');
  const other = secret('gh-other-secret-9Xq1');
  const sign = (k: string, b: Buffer) => signature(`sha256=${createHmac('sha256', k).update(b).digest('hex')}`);
  const spec: SignatureSpec = { preset: 'github', secrets: [key] };
  const req = (b: Buffer, sig?: string) =>
    request({ rawBody: b, headers: { 'x-github-event': 'push', ...(sig === undefined ? {} : { 'x-hub-signature-256': sig }) } });

  it('uses a real push example', () => {
    expect(push).toHaveProperty('ref');
    expect(push).toHaveProperty('repository.full_name');
  });
  it('accepts the right signature', () => expectOk(verifySignature(spec, req(body, sign(key, body)))));
  it('accepts upper-case hex', () => expectOk(verifySignature(spec, req(body, 'sha256=' + sign(key, body).slice(7).toUpperCase()))));
  it('rejects a wrong secret', () => expectFailure(verifySignature(spec, req(body, sign(other, body))), 'mismatch'));
  it('rejects a body modified by one byte', () =>
    expectFailure(verifySignature(spec, req(oneByteOff(body), sign(key, body))), 'mismatch'));
  it('rejects a missing header', () => expectFailure(verifySignature(spec, req(body)), 'missing header', 'x-hub-signature-256'));
  it('treats an empty header as missing', () => expectFailure(verifySignature(spec, req(body, '')), 'missing header'));
  it('rejects a header without sha256=', () =>
    expectFailure(verifySignature(spec, req(body, sign(key, body).slice(7))), 'malformed header'));
  it('rejects a non-hex signature', () => expectFailure(verifySignature(spec, req(body, 'sha256=xyz')), 'malformed header'));
  it('rejects a truncated signature as a mismatch', () =>
    expectFailure(verifySignature(spec, req(body, sign(key, body).slice(0, 47))), 'mismatch'));
  it('rotation: accepts the second of two secrets', () =>
    expectOk(verifySignature({ preset: 'github', secrets: [other, key] }, req(body, sign(key, body)))));
  it('accepts a header given as a one-element array, refuses two different values', () => {
    expectOk(verifySignature(spec, request({ rawBody: body, headers: { 'x-hub-signature-256': [sign(key, body)] } })));
    expectFailure(
      verifySignature(spec, request({ rawBody: body, headers: { 'x-hub-signature-256': [sign(key, body), sign(other, body)] } })),
      'malformed header',
    );
  });
});

// ------------------------------------------------------------------------------------------------ stripe

describe('stripe', () => {
  const event = {
    id: 'evt_3QxYz2LkdIwHu7ix0Zb1Qk9T',
    object: 'event',
    api_version: '2025-05-28.basil',
    created: NOW_S - 2,
    data: {
      object: {
        id: 'pi_3QxYz2LkdIwHu7ix0ab7cDeF',
        object: 'payment_intent',
        amount: 2000,
        currency: 'eur',
        status: 'succeeded',
        metadata: { order: 'A-1042', note: 'Grüße — ünïcödé' },
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: 'req_8fJ2kLmN0pQrSt', idempotency_key: null },
    type: 'payment_intent.succeeded',
  };
  const payload = JSON.stringify(event, null, 2); // Stripe sends pretty-printed JSON
  const body = Buffer.from(payload, 'utf8');
  const key = secret('whsec_test_' + randomBytes(16).toString('hex'));
  const other = secret('whsec_test_' + randomBytes(16).toString('hex'));
  const header = (k: string, timestamp = NOW_S, p = payload) => {
    const h = Stripe.webhooks.generateTestHeaderString({ payload: p, secret: k, timestamp });
    signature(h.split('v1=')[1]);
    return h;
  };
  const spec: SignatureSpec = { preset: 'stripe', secrets: [key] };
  const req = (b: Buffer, sig?: string) => request({ rawBody: b, headers: sig === undefined ? {} : { 'stripe-signature': sig } });

  it("agrees with Stripe's own verifier on the header it generated", () => {
    const h = header(key);
    expect(Stripe.webhooks.constructEvent(payload, h, key, 300, undefined, NOW_MS).id).toBe(event.id);
    expectOk(verifySignature(spec, req(body, h)));
  });
  it('also works with an instance of the client', () => {
    const stripe = new Stripe('sk_test_x');
    const h = stripe.webhooks.generateTestHeaderString({ payload, secret: key, timestamp: NOW_S - 30 });
    expectOk(verifySignature(spec, req(body, h)));
  });
  it('ignores v0 and unknown schemes next to a good v1', () =>
    expectOk(verifySignature(spec, req(body, `${header(key)},v0=${'ab'.repeat(32)},v9=whatever`))));
  it('rejects a wrong secret', () => expectFailure(verifySignature(spec, req(body, header(other))), 'mismatch'));
  it('rejects a body modified by one byte', () => expectFailure(verifySignature(spec, req(oneByteOff(body), header(key))), 'mismatch'));
  it('rejects a stale timestamp (too old)', () =>
    expectFailure(verifySignature(spec, req(body, header(key, NOW_S - SIX_MINUTES_S))), 'stale timestamp'));
  it('rejects a timestamp too far in the future', () =>
    expectFailure(verifySignature(spec, req(body, header(key, NOW_S + SIX_MINUTES_S))), 'stale timestamp'));
  it('honours toleranceMs', () => {
    expectOk(verifySignature({ ...spec, toleranceMs: 10 * 60_000 }, req(body, header(key, NOW_S - SIX_MINUTES_S))));
    expectFailure(verifySignature({ ...spec, toleranceMs: 30_000 }, req(body, header(key, NOW_S - 60))), 'stale timestamp');
  });
  it('rejects a missing header', () => expectFailure(verifySignature(spec, req(body)), 'missing header', 'stripe-signature'));
  it('rejects headers it cannot read', () => {
    const sig = header(key).split('v1=')[1];
    expectFailure(verifySignature(spec, req(body, `v1=${sig}`)), 'malformed header');
    expectFailure(verifySignature(spec, req(body, `t=${NOW_S}`)), 'malformed header');
    expectFailure(verifySignature(spec, req(body, `t=soon,v1=${sig}`)), 'malformed header');
    expectFailure(verifySignature(spec, req(body, `t=${NOW_S},t=${NOW_S},v1=${sig}`)), 'malformed header');
    expectFailure(verifySignature(spec, req(body, 'garbage')), 'malformed header');
  });
  it('rotation: accepts the second of two secrets', () =>
    expectOk(verifySignature({ preset: 'stripe', secrets: [other, key] }, req(body, header(key)))));
  it('rotation: accepts a header with several v1 signatures when any one matches', () => {
    const a = header(other).split('v1=')[1];
    const b = header(key).split('v1=')[1];
    const both = `t=${NOW_S},v1=${a},v1=${b}`;
    expectOk(verifySignature({ preset: 'stripe', secrets: [key] }, req(body, both)));
    expectOk(verifySignature({ preset: 'stripe', secrets: [other] }, req(body, both)));
    expectFailure(verifySignature({ preset: 'stripe', secrets: [secret('whsec_unrelated_Zz9')] }, req(body, both)), 'mismatch');
  });
});

// ------------------------------------------------------------------------------------------------ twilio

describe('twilio', () => {
  const token = secret('12345678901234567890abcdefabcdef');
  const other = secret('fedcbafedcba09876543210987654321');
  const url = 'https://hooks.example.com/hooks/sms?flow=inbound&tenant=acme';
  const sms: Record<string, string> = {
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    NumMedia: '0',
    ToCity: 'SAN FRANCISCO',
    FromZip: '94105',
    SmsSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    FromState: 'CA',
    SmsStatus: 'received',
    FromCity: 'SAN FRANCISCO',
    Body: 'Hi there! Can I move my booking to 3pm? 👍',
    FromCountry: 'US',
    To: '+14155552671',
    ToZip: '94107',
    NumSegments: '1',
    MessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    AccountSid: 'ACae6a1b7c9d0e1f2a3b4c5d6e7f809101',
    From: '+14155550123',
    ApiVersion: '2010-04-01',
  };
  const formBody = (params: Record<string, string | string[]>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) q.append(k, x);
    return Buffer.from(q.toString(), 'utf8');
  };
  const sign = (t: string, u: string, params: Record<string, unknown> | null) =>
    signature(twilio.getExpectedTwilioSignature(t, u, params as Record<string, unknown>));
  const spec: SignatureSpec = { preset: 'twilio', secrets: [token] };
  const req = (form: Record<string, string | string[]> | undefined, sig: string | undefined, publicUrl = url, rawBody = formBody(form ?? {})) =>
    request({ rawBody, form, publicUrl, headers: sig === undefined ? {} : { 'x-twilio-signature': sig } });

  it('accepts an inbound SMS signed by the twilio library (and the library agrees)', () => {
    const sig = sign(token, url, sms);
    expect(twilio.validateRequest(token, sig, url, sms)).toBe(true);
    expectOk(verifySignature(spec, req(sms, sig)));
  });
  it('reads the raw form body when no parsed form is given', () =>
    expectOk(verifySignature(spec, req(undefined, sign(token, url, sms), url, formBody(sms)))));
  it('accepts a repeated parameter, each value signed', () => {
    const params = { ...sms, NumMedia: '2', MediaUrl: ['https://api.twilio.com/m/ME2', 'https://api.twilio.com/m/ME1'] };
    expectOk(verifySignature(spec, req(params, sign(token, url, params))));
    expectOk(verifySignature(spec, req(undefined, sign(token, url, params), url, formBody(params))));
  });
  it('accepts a signature made over the URL with the default port', () => {
    const withPort = 'https://hooks.example.com:443/hooks/sms?flow=inbound&tenant=acme';
    expectOk(verifySignature(spec, req(sms, sign(token, withPort, sms))));
    expectOk(verifySignature(spec, req(sms, sign(token, url, sms), withPort)));
  });
  it('rejects a wrong auth token', () => expectFailure(verifySignature(spec, req(sms, sign(other, url, sms))), 'mismatch'));
  it('rejects a body modified by one byte', () => {
    const sig = sign(token, url, sms);
    const tampered = { ...sms, Body: sms.Body.replace('3pm', '4pm') };
    expectFailure(verifySignature(spec, req(tampered, sig)), 'mismatch');
    expectFailure(verifySignature(spec, req(undefined, sig, url, oneByteOff(formBody(sms)))), 'mismatch');
  });
  it('rejects an added parameter and a different URL', () => {
    const sig = sign(token, url, sms);
    expectFailure(verifySignature(spec, req({ ...sms, Extra: '1' }, sig)), 'mismatch');
    expectFailure(verifySignature(spec, req(sms, sig, url.replace('acme', 'evil'))), 'mismatch');
  });
  it('rejects a missing header', () => expectFailure(verifySignature(spec, req(sms, undefined)), 'missing header', 'x-twilio-signature'));
  it('rejects a header that is not base64', () => expectFailure(verifySignature(spec, req(sms, 'not base64!')), 'malformed header'));
  it('rotation: accepts the second of two auth tokens', () =>
    expectOk(verifySignature({ preset: 'twilio', secrets: [other, token] }, req(sms, sign(token, url, sms)))));

  describe('JSON body with bodySHA256', () => {
    const json = JSON.stringify({ EventType: 'onMessageAdded', ConversationSid: 'CH00000000000000000000000000000000', Body: 'Hello 👋' });
    const body = Buffer.from(json, 'utf8');
    const jsonUrl = `https://hooks.example.com/hooks/conversations?bodySHA256=${twilio.getExpectedBodyHash(json)}`;
    const jreq = (b: Buffer, sig: string | undefined, u = jsonUrl) =>
      request({ rawBody: b, publicUrl: u, headers: sig === undefined ? {} : { 'x-twilio-signature': sig } });

    it('accepts a JSON body signed by the twilio library (and the library agrees)', () => {
      const sig = sign(token, jsonUrl, {});
      expect(twilio.validateRequestWithBody(token, sig, jsonUrl, json)).toBe(true);
      expectOk(verifySignature(spec, jreq(body, sig)));
    });
    it('rejects a body modified by one byte', () =>
      expectFailure(verifySignature(spec, jreq(oneByteOff(body), sign(token, jsonUrl, {}))), 'mismatch', 'bodySHA256'));
    it('rejects a wrong auth token', () => expectFailure(verifySignature(spec, jreq(body, sign(other, jsonUrl, {}))), 'mismatch'));
    it('rejects a bodySHA256 swapped for the hash of another body', () => {
      const forged = `https://hooks.example.com/hooks/conversations?bodySHA256=${twilio.getExpectedBodyHash('{"x":1}')}`;
      expectFailure(verifySignature(spec, jreq(Buffer.from('{"x":1}'), sign(token, jsonUrl, {}), forged)), 'mismatch');
    });
    it('rejects a missing header', () => expectFailure(verifySignature(spec, jreq(body, undefined)), 'missing header'));
  });
});

// ------------------------------------------------------------------------------------------------ standard webhooks

describe('standard-webhooks', () => {
  const key = secret('whsec_' + randomBytes(24).toString('base64'));
  const other = secret('whsec_' + randomBytes(32).toString('base64')); // 32 bytes: a padded base64 secret
  const payload = JSON.stringify({ type: 'message.created', timestamp: new Date(NOW_MS).toISOString(), data: { id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', text: 'Héllo' } });
  const body = Buffer.from(payload, 'utf8');
  const msgId = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
  const sign = (k: string, seconds = NOW_S, p = payload) => signature(new Webhook(k).sign(msgId, new Date(seconds * 1000), p));
  const headers = (sig: string, seconds = NOW_S) => ({ 'webhook-id': msgId, 'webhook-timestamp': String(seconds), 'webhook-signature': sig });
  const spec: SignatureSpec = { preset: 'standard-webhooks', secrets: [key] };
  const req = (b: Buffer, h: Record<string, string | undefined>) => request({ rawBody: b, headers: h });

  it('accepts the signature made by the standardwebhooks library', () => expectOk(verifySignature(spec, req(body, headers(sign(key))))));
  it('accepts a secret given without the whsec_ prefix', () =>
    expectOk(verifySignature({ preset: 'standard-webhooks', secrets: [key.slice(6)] }, req(body, headers(sign(key))))));
  it('rejects a wrong secret', () => expectFailure(verifySignature(spec, req(body, headers(sign(other)))), 'mismatch'));
  it('rejects a body modified by one byte', () => expectFailure(verifySignature(spec, req(oneByteOff(body), headers(sign(key)))), 'mismatch'));
  it('rejects another message id', () =>
    expectFailure(verifySignature(spec, req(body, { ...headers(sign(key)), 'webhook-id': 'msg_other' })), 'mismatch'));
  it('rejects a stale timestamp, in both directions', () => {
    const old = NOW_S - SIX_MINUTES_S;
    const future = NOW_S + SIX_MINUTES_S;
    expectFailure(verifySignature(spec, req(body, headers(sign(key, old), old))), 'stale timestamp');
    expectFailure(verifySignature(spec, req(body, headers(sign(key, future), future))), 'stale timestamp');
    const edge = NOW_S - 299;
    expectOk(verifySignature(spec, req(body, headers(sign(key, edge), edge))));
  });
  it('rejects a missing header, naming it', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      expectFailure(verifySignature(spec, req(body, { ...headers(sign(key)), [name]: undefined })), 'missing header', name);
    }
  });
  it('rejects headers it cannot read', () => {
    const sig = sign(key);
    expectFailure(verifySignature(spec, req(body, headers(sig.replace('v1,', 'v1a,')))), 'malformed header');
    expectFailure(verifySignature(spec, req(body, headers(sig.replace('v1,', '')))), 'malformed header');
    expectFailure(verifySignature(spec, req(body, { ...headers(sig), 'webhook-timestamp': 'yesterday' })), 'malformed header');
    expectFailure(verifySignature(spec, req(body, headers('v1,@@@'))), 'malformed header');
  });
  it('rotation: accepts the second of two secrets', () =>
    expectOk(verifySignature({ preset: 'standard-webhooks', secrets: [other, key] }, req(body, headers(sign(key))))));
  it('rotation: accepts a header with several signatures when any one matches', () => {
    const several = `v1a,${randomBytes(64).toString('base64')} ${sign(other)} ${sign(key)}`;
    expectOk(verifySignature({ preset: 'standard-webhooks', secrets: [key] }, req(body, headers(several))));
    expectOk(verifySignature({ preset: 'standard-webhooks', secrets: [other] }, req(body, headers(several))));
    const third = secret('whsec_' + randomBytes(24).toString('base64'));
    expectFailure(verifySignature({ preset: 'standard-webhooks', secrets: [third] }, req(body, headers(several))), 'mismatch');
  });
  it("agrees with the library's own verifier on what it accepts", () => {
    const h = headers(sign(key, Math.floor(Date.now() / 1000)), Math.floor(Date.now() / 1000));
    expect(new Webhook(key).verify(payload, h)).toEqual(JSON.parse(payload));
    expectOk(verifySignature(spec, request({ rawBody: body, headers: h, nowMs: Date.now() })));
  });
});

// ------------------------------------------------------------------------------------------------ generic hmac

describe('hmac', () => {
  const key = secret('generic-shared-secret-8c1d');
  const other = secret('generic-other-secret-22aa');
  const body = Buffer.from('{"event":"order.paid","order":{"id":"ord_881","total":"49.90","currency":"EUR"}}', 'utf8');
  const mac = (alg: string, k: string, content: Buffer, enc: 'hex' | 'base64') => signature(createHmac(alg, k).update(content).digest(enc));
  const req = (b: Buffer, h: Record<string, string>) => request({ rawBody: b, headers: h });

  for (const algorithm of ['sha1', 'sha256', 'sha512'] as const) {
    for (const encoding of ['hex', 'base64'] as const) {
      describe(`${algorithm} ${encoding}`, () => {
        const spec: SignatureSpec = { preset: 'hmac', secrets: [key], header: 'X-Signature', algorithm, encoding };
        const sig = (k = key, b = body) => mac(algorithm, k, b, encoding);
        it('accepts the right signature', () => expectOk(verifySignature(spec, req(body, { 'x-signature': sig() }))));
        it('rejects a wrong secret', () => expectFailure(verifySignature(spec, req(body, { 'x-signature': sig(other) })), 'mismatch'));
        it('rejects a body modified by one byte', () =>
          expectFailure(verifySignature(spec, req(oneByteOff(body), { 'x-signature': sig() })), 'mismatch'));
        it('rejects a missing header', () => expectFailure(verifySignature(spec, req(body, {})), 'missing header', 'x-signature'));
        it('rotation: accepts the second of two secrets', () =>
          expectOk(verifySignature({ ...spec, secrets: [other, key] }, req(body, { 'x-signature': sig() }))));
      });
    }
  }

  it('defaults to sha256 hex', () =>
    expectOk(verifySignature({ preset: 'hmac', secrets: [key], header: 'x-sig' }, req(body, { 'x-sig': mac('sha256', key, body, 'hex') }))));
  it('rejects a signature of another algorithm', () =>
    expectFailure(verifySignature({ preset: 'hmac', secrets: [key], header: 'x-sig' }, req(body, { 'x-sig': mac('sha1', key, body, 'hex') })), 'mismatch'));

  describe('with a prefix', () => {
    const spec: SignatureSpec = { preset: 'hmac', secrets: [key], header: 'x-shop-signature', prefix: 'sha512=', algorithm: 'sha512' };
    const good = () => 'sha512=' + mac('sha512', key, body, 'hex');
    it('accepts the right signature', () => expectOk(verifySignature(spec, req(body, { 'x-shop-signature': good() }))));
    it('rejects a signature without the prefix', () =>
      expectFailure(verifySignature(spec, req(body, { 'x-shop-signature': good().slice(7) })), 'malformed header'));
    it('rejects a wrong secret', () =>
      expectFailure(verifySignature(spec, req(body, { 'x-shop-signature': 'sha512=' + mac('sha512', other, body, 'hex') })), 'mismatch'));
  });

  describe('with a timestamp header', () => {
    const spec: SignatureSpec = { preset: 'hmac', secrets: [key], header: 'x-signature', timestampHeader: 'X-Timestamp', encoding: 'base64' };
    const signed = (seconds: number, b = body, k = key) => ({
      'x-timestamp': String(seconds),
      'x-signature': mac('sha256', k, Buffer.concat([Buffer.from(`${seconds}.`), b]), 'base64'),
    });
    it('accepts the right signature', () => expectOk(verifySignature(spec, req(body, signed(NOW_S)))));
    it('rejects a signature over the body alone', () =>
      expectFailure(verifySignature(spec, req(body, { 'x-timestamp': String(NOW_S), 'x-signature': mac('sha256', key, body, 'base64') })), 'mismatch'));
    it('rejects a replayed signature with a new timestamp', () =>
      expectFailure(verifySignature(spec, req(body, { ...signed(NOW_S - 60), 'x-timestamp': String(NOW_S) })), 'mismatch'));
    it('rejects a wrong secret', () => expectFailure(verifySignature(spec, req(body, signed(NOW_S, body, other))), 'mismatch'));
    it('rejects a body modified by one byte', () => expectFailure(verifySignature(spec, req(oneByteOff(body), signed(NOW_S))), 'mismatch'));
    it('rejects a stale timestamp, in both directions', () => {
      expectFailure(verifySignature(spec, req(body, signed(NOW_S - SIX_MINUTES_S))), 'stale timestamp');
      expectFailure(verifySignature(spec, req(body, signed(NOW_S + SIX_MINUTES_S))), 'stale timestamp');
    });
    it('rejects a missing timestamp header, naming it', () => {
      const { 'x-timestamp': _, ...rest } = signed(NOW_S);
      expectFailure(verifySignature(spec, req(body, rest)), 'missing header', 'x-timestamp');
    });
    it('rejects a timestamp that is not Unix seconds', () =>
      expectFailure(verifySignature(spec, req(body, { ...signed(NOW_S), 'x-timestamp': new Date(NOW_MS).toISOString() })), 'malformed header'));
  });

  it('rejects a header that is not in the configured encoding', () => {
    expectFailure(verifySignature({ preset: 'hmac', secrets: [key], header: 'x-sig' }, req(body, { 'x-sig': 'not-hex' })), 'malformed header');
    expectFailure(verifySignature({ preset: 'hmac', secrets: [key], header: 'x-sig', encoding: 'base64' }, req(body, { 'x-sig': '%%%' })), 'malformed header');
  });
});

// ------------------------------------------------------------------------------------------------ spec and secrecy

describe('spec checks', () => {
  it('refuses specs that cannot be verified safely', () => {
    expect(validateSignatureSpec({ preset: 'github', secrets: [] })).not.toEqual([]);
    expect(validateSignatureSpec({ preset: 'github', secrets: [''] })).not.toEqual([]); // an unset ${env:X}
    expect(validateSignatureSpec({ preset: 'hmac', secrets: ['k'] })).not.toEqual([]);
    expect(validateSignatureSpec({ preset: 'standard-webhooks', secrets: ['whsec_***'] })).not.toEqual([]);
    expect(validateSignatureSpec({ preset: 'stripe', secrets: ['k'], toleranceMs: -1 })).not.toEqual([]);
    expect(validateSignatureSpec({ preset: 'hmac', secrets: ['k'], header: 'x-sig', algorithm: 'sha256', encoding: 'base64' })).toEqual([]);
  });
  it('throws on such a spec rather than accepting anything, without echoing the secret', () => {
    const req = request({ rawBody: Buffer.from('{}'), headers: { 'x-hub-signature-256': 'sha256=00' } });
    expect(() => verifySignature({ preset: 'github', secrets: [''] }, req)).toThrow(/secret #1 is empty/);
    expect(() => verifySignature({ preset: 'standard-webhooks', secrets: ['whsec_bad!secret'] }, req)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('bad!secret') }),
    );
  });
});

describe('failure details', () => {
  it('never contain a secret or the signature that would have matched', () => {
    // A mismatch for each preset, then the expected signature under the configured secret is computed and looked for.
    const body = Buffer.from('{"hello":"world"}');
    const key = 'detail-check-secret-q7Wm';
    const swKey = 'whsec_' + Buffer.from('detail-check-sw-key-0123456789').toString('base64');
    const hex = (k: string | Buffer, content: string | Buffer, alg = 'sha256') => createHmac(alg, k).update(content).digest('hex');
    const b64 = (k: string | Buffer, content: string | Buffer, alg = 'sha256') => createHmac(alg, k).update(content).digest('base64');
    const url = 'https://hooks.example.com/hooks/in';
    const cases: Array<[SignatureSpec, SignedRequest, string[]]> = [
      [{ preset: 'github', secrets: [key] }, request({ rawBody: body, headers: { 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) } }), [hex(key, body)]],
      [{ preset: 'stripe', secrets: [key] }, request({ rawBody: body, headers: { 'stripe-signature': `t=${NOW_S},v1=${'0'.repeat(64)}` } }), [hex(key, `${NOW_S}.${body}`)]],
      [{ preset: 'twilio', secrets: [key] }, request({ rawBody: Buffer.from('A=1'), form: { A: '1' }, publicUrl: url, headers: { 'x-twilio-signature': 'AAAA' } }), [b64(key, `${url}A1`, 'sha1')]],
      [{ preset: 'standard-webhooks', secrets: [swKey] }, request({ rawBody: body, headers: { 'webhook-id': 'm1', 'webhook-timestamp': String(NOW_S), 'webhook-signature': 'v1,AAAA' } }),
        [b64(Buffer.from(swKey.slice(6), 'base64'), `m1.${NOW_S}.${body}`)]],
      [{ preset: 'hmac', secrets: [key], header: 'x-sig', encoding: 'base64', algorithm: 'sha512' }, request({ rawBody: body, headers: { 'x-sig': 'AAAA' } }), [b64(key, body, 'sha512')]],
    ];
    for (const [spec, req, expected] of cases) {
      const verdict = verifySignature(spec, req);
      expect(verdict).toMatchObject({ ok: false, reason: 'mismatch' });
      if (verdict.ok) continue;
      for (const secretText of [...spec.secrets, swKey.slice(6)]) expect(verdict.detail).not.toContain(secretText);
      for (const e of expected) {
        expect(verdict.detail).not.toContain(e);
        expect(verdict.detail).not.toContain(e.slice(0, 16));
      }
    }
  });
  it('of every failure in this file leak nothing recorded', () => {
    expect(failures.length).toBeGreaterThan(40);
    for (const verdict of failures) {
      if (verdict.ok) continue;
      for (const s of secretsUsed) expect(verdict.detail).not.toContain(s);
      for (const s of signaturesMade) expect(verdict.detail).not.toContain(s);
    }
  });
});
