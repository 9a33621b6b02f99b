// Verifies inbound webhook signatures (DESIGN.md: trigger.auth.signature), with node:crypto only.
//
// Every comparison of a signature is done on decoded bytes with crypto.timingSafeEqual; a length mismatch
// is still a full-length comparison (of the expected value with itself) and then a "no". No message carries
// a secret, an expected signature, or a value the caller sent.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Signature } from '../types/flow.ts';

export type SignaturePreset = Signature['preset'];
type Algorithm = NonNullable<Signature['algorithm']>;
type Encoding = NonNullable<Signature['encoding']>;

/**
 * A flow's `signature:` ready to check: its `secret` and `secrets` resolved into one list (several for key rotation:
 * any one matching is enough), its `tolerance` in milliseconds (default 5 minutes; for presets with timestamps:
 * stripe, standard-webhooks, hmac with timestampHeader). The hmac fields are as the flow schema describes them.
 */
export type SignatureSpec = Omit<Signature, 'secret' | 'secrets' | 'tolerance'> & { secrets: string[]; toleranceMs?: number };

export interface SignedRequest {
  rawBody: Buffer;              // exact bytes received; never re-serialise JSON
  headers: Record<string, string | string[] | undefined>;  // lower-cased names as Node gives them
  publicUrl: string;            // full URL the sender called, including query string (twilio signs it)
  form?: Record<string, string | string[]>; // parsed x-www-form-urlencoded params (twilio signs the sorted params)
  nowMs: number;
}

export type SignatureFailure = 'missing header' | 'malformed header' | 'stale timestamp' | 'mismatch';
export type Verdict = { ok: true } | { ok: false; reason: SignatureFailure; detail: string };

export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

const PRESETS: readonly SignaturePreset[] = ['github', 'stripe', 'twilio', 'standard-webhooks', 'hmac'];
const ALGORITHMS: readonly Algorithm[] = ['sha1', 'sha256', 'sha512'];
const ENCODINGS: readonly Encoding[] = ['hex', 'base64'];
const STANDARD_WEBHOOKS_PREFIX = 'whsec_';

/**
 * Problems with a spec, as sentences (empty when it is usable). Meant for the config loader, so a bad spec
 * is refused when flows load rather than on the first request; verifySignature throws on the same problems.
 * An empty secret is refused on purpose: an unset `${env:X}` must not turn into a key anyone can sign with.
 */
export function validateSignatureSpec(spec: SignatureSpec): string[] {
  const problems: string[] = [];
  if (!PRESETS.includes(spec.preset)) problems.push(`unknown signature preset; use one of ${PRESETS.join(', ')}`);
  if (!Array.isArray(spec.secrets) || spec.secrets.length === 0) {
    problems.push('at least one signing secret is needed');
  } else {
    spec.secrets.forEach((secret, i) => {
      if (typeof secret !== 'string' || secret.length === 0) {
        problems.push(`signing secret #${i + 1} is empty`);
      } else if (spec.preset === 'standard-webhooks' && standardWebhooksKey(secret) === undefined) {
        problems.push(`signing secret #${i + 1} is not a Standard Webhooks secret (whsec_ followed by base64)`);
      }
    });
  }
  if (spec.toleranceMs !== undefined && !(typeof spec.toleranceMs === 'number' && spec.toleranceMs >= 0)) {
    problems.push('toleranceMs must be a number of milliseconds, 0 or more');
  }
  if (spec.preset === 'hmac') {
    if (!spec.header) problems.push('the hmac preset needs the header that holds the signature');
    if (spec.algorithm !== undefined && !ALGORITHMS.includes(spec.algorithm)) problems.push(`algorithm must be one of ${ALGORITHMS.join(', ')}`);
    if (spec.encoding !== undefined && !ENCODINGS.includes(spec.encoding)) problems.push(`encoding must be one of ${ENCODINGS.join(', ')}`);
    if (spec.timestampHeader !== undefined && spec.timestampHeader === '') problems.push('timestampHeader must not be empty');
  }
  return problems;
}

/**
 * Checks that `req` was signed by a holder of one of `spec.secrets`. Failures come back in a fixed order of
 * checks: a required header is absent, then a header cannot be read, then the signed timestamp is outside the
 * tolerance (either direction), then no signature matches. Throws only on a spec that validateSignatureSpec refuses.
 */
export function verifySignature(spec: SignatureSpec, req: SignedRequest): Verdict {
  const problems = validateSignatureSpec(spec);
  if (problems.length > 0) throw new TypeError(`Invalid signature spec: ${problems.join('; ')}`);
  switch (spec.preset) {
    case 'github': return verifyGithub(spec, req);
    case 'stripe': return verifyStripe(spec, req);
    case 'twilio': return verifyTwilio(spec, req);
    case 'standard-webhooks': return verifyStandardWebhooks(spec, req);
    case 'hmac': return verifyHmac(spec, req);
  }
}

// ---------------------------------------------------------------------------------------------- presets

function verifyGithub(spec: SignatureSpec, req: SignedRequest): Verdict {
  const name = 'x-hub-signature-256';
  const value = header(req, name);
  if (value.kind !== 'ok') return headerFailure(name, value);
  if (!value.text.startsWith('sha256=')) return fail('malformed header', `${name} does not start with "sha256="`);
  const given = decode(value.text.slice('sha256='.length), 'hex');
  if (!given) return fail('malformed header', `${name} does not hold a hex signature after "sha256="`);
  const expected = spec.secrets.map((secret) => hmac('sha256', secret, [req.rawBody]));
  return anyMatch([given], expected) ? OK : fail('mismatch', `${name} does not match the body for any configured secret`);
}

function verifyStripe(spec: SignatureSpec, req: SignedRequest): Verdict {
  const name = 'stripe-signature';
  const value = header(req, name);
  if (value.kind !== 'ok') return headerFailure(name, value);
  let timestamp: string | undefined;
  const v1: string[] = [];
  for (const item of value.text.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return fail('malformed header', `${name} has an element that is not key=value`);
    const key = item.slice(0, eq).trim();
    const val = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return fail('malformed header', `${name} has more than one t= element`);
      timestamp = val;
    } else if (key === 'v1') {
      v1.push(val);
    } // v0 (test-mode legacy) and unknown schemes are ignored, as Stripe's libraries do
  }
  if (timestamp === undefined) return fail('malformed header', `${name} has no t= timestamp`);
  if (!isUnixSeconds(timestamp)) return fail('malformed header', `${name} t= is not a Unix time in seconds`);
  if (v1.length === 0) return fail('malformed header', `${name} has no v1= signature`);
  const given = decodeAll(v1, 'hex');
  if (given.length === 0) return fail('malformed header', `${name} has no v1= signature in hex`);
  const stale = staleness(spec, req, timestamp, `${name} t=`);
  if (stale) return stale;
  const content = [Buffer.from(`${timestamp}.`), req.rawBody];
  const expected = spec.secrets.map((secret) => hmac('sha256', secret, content));
  return anyMatch(given, expected) ? OK : fail('mismatch', `no v1 signature in ${name} matches the body for any configured secret`);
}

function verifyTwilio(spec: SignatureSpec, req: SignedRequest): Verdict {
  const name = 'x-twilio-signature';
  const value = header(req, name);
  if (value.kind !== 'ok') return headerFailure(name, value);
  const given = decode(value.text, 'base64');
  if (!given) return fail('malformed header', `${name} is not base64`);

  // JSON bodies: Twilio adds bodySHA256 to the query and signs the URL alone.
  const bodySha256 = queryParam(req.publicUrl, 'bodySHA256');
  const candidates: string[] = [];
  for (const url of urlVariants(req.publicUrl)) {
    if (bodySha256 !== undefined) candidates.push(url);
    else for (const params of twilioParamStrings(req)) candidates.push(url + params);
  }
  const expected = spec.secrets.flatMap((secret) => candidates.map((data) => hmac('sha1', secret, [Buffer.from(data, 'utf8')])));
  if (!anyMatch([given], expected)) {
    return fail('mismatch', `${name} does not match the URL${bodySha256 === undefined ? ' and form parameters' : ''} for any configured auth token`);
  }
  if (bodySha256 !== undefined) {
    const hash = decode(bodySha256, 'hex');
    const actual = createHash('sha256').update(req.rawBody).digest();
    if (!hash || !safeEqual(hash, actual)) return fail('mismatch', 'the body does not match the bodySHA256 query parameter');
  }
  return OK;
}

function verifyStandardWebhooks(spec: SignatureSpec, req: SignedRequest): Verdict {
  const names = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
  const values = names.map((n) => header(req, n));
  const missing = names.filter((_, i) => values[i].kind === 'missing');
  if (missing.length > 0) return fail('missing header', `missing header${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const texts: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const value = values[i];
    if (value.kind !== 'ok') return headerFailure(names[i], value);
    texts.push(value.text);
  }
  const [id, timestamp, signatures] = texts;
  if (!isUnixSeconds(timestamp)) return fail('malformed header', 'webhook-timestamp is not a Unix time in seconds');
  const v1: string[] = [];
  for (const entry of signatures.split(' ')) {
    if (entry === '') continue;
    const comma = entry.indexOf(',');
    if (comma <= 0) return fail('malformed header', 'webhook-signature has an entry that is not "<version>,<signature>"');
    if (entry.slice(0, comma) === 'v1') v1.push(entry.slice(comma + 1)); // v1a (asymmetric) and others are skipped
  }
  if (v1.length === 0) return fail('malformed header', 'webhook-signature has no v1 signature');
  const given = decodeAll(v1, 'base64');
  if (given.length === 0) return fail('malformed header', 'webhook-signature has no v1 signature in base64');
  const stale = staleness(spec, req, timestamp, 'webhook-timestamp');
  if (stale) return stale;
  const content = [Buffer.from(`${id}.${timestamp}.`), req.rawBody];
  const expected = spec.secrets.map((secret) => hmac('sha256', standardWebhooksKey(secret)!, content));
  return anyMatch(given, expected) ? OK : fail('mismatch', 'no v1 signature in webhook-signature matches the message for any configured secret');
}

function verifyHmac(spec: SignatureSpec, req: SignedRequest): Verdict {
  const name = spec.header!.toLowerCase();
  const tsName = spec.timestampHeader?.toLowerCase();
  const value = header(req, name);
  const ts = tsName === undefined ? undefined : header(req, tsName);
  const missing = [value.kind === 'missing' ? name : undefined, ts?.kind === 'missing' ? tsName : undefined].filter(Boolean);
  if (missing.length > 0) return fail('missing header', `missing header${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  if (value.kind !== 'ok') return headerFailure(name, value);
  if (ts && ts.kind !== 'ok') return headerFailure(tsName!, ts);

  const prefix = spec.prefix ?? '';
  if (!value.text.startsWith(prefix)) return fail('malformed header', `${name} does not start with the configured prefix`);
  const encoding = spec.encoding ?? 'hex';
  const given = decode(value.text.slice(prefix.length), encoding);
  if (!given) return fail('malformed header', `${name} does not hold a ${encoding} signature`);

  const content: Buffer[] = [req.rawBody];
  if (ts?.kind === 'ok') {
    if (!isUnixSeconds(ts.text)) return fail('malformed header', `${tsName} is not a Unix time in seconds`);
    const stale = staleness(spec, req, ts.text, tsName!);
    if (stale) return stale;
    content.unshift(Buffer.from(`${ts.text}.`));
  }
  const algorithm = spec.algorithm ?? 'sha256';
  const expected = spec.secrets.map((secret) => hmac(algorithm, secret, content));
  return anyMatch([given], expected) ? OK : fail('mismatch', `${name} does not match the body for any configured secret`);
}

// ---------------------------------------------------------------------------------------------- helpers

const OK: Verdict = { ok: true };

function fail(reason: SignatureFailure, detail: string): Verdict {
  return { ok: false, reason, detail };
}

type HeaderValue = { kind: 'ok'; text: string } | { kind: 'missing' } | { kind: 'repeated' };

/** A header by (lower-case) name; empty counts as missing, several different values as unreadable. */
function header(req: SignedRequest, name: string): HeaderValue {
  let raw = req.headers[name];
  if (raw === undefined) {
    const key = Object.keys(req.headers).find((k) => k.toLowerCase() === name);
    raw = key === undefined ? undefined : req.headers[key];
  }
  if (Array.isArray(raw)) {
    const distinct = [...new Set(raw.map((v) => v.trim()).filter((v) => v !== ''))];
    if (distinct.length > 1) return { kind: 'repeated' };
    raw = distinct[0];
  }
  const text = raw?.trim();
  return text ? { kind: 'ok', text } : { kind: 'missing' };
}

function headerFailure(name: string, value: Exclude<HeaderValue, { kind: 'ok' }>): Verdict {
  return value.kind === 'missing'
    ? fail('missing header', `missing header ${name}`)
    : fail('malformed header', `${name} was sent more than once with different values`);
}

function isUnixSeconds(text: string): boolean {
  return /^[0-9]{1,12}$/.test(text);
}

/** A stale-timestamp verdict when `seconds` is further than the tolerance from now, in either direction. */
function staleness(spec: SignatureSpec, req: SignedRequest, seconds: string, what: string): Verdict | undefined {
  const tolerance = spec.toleranceMs ?? DEFAULT_TOLERANCE_MS;
  const skew = req.nowMs - Number(seconds) * 1000;
  if (Math.abs(skew) <= tolerance) return undefined;
  const direction = skew > 0 ? 'older than' : 'ahead of now by more than';
  return fail('stale timestamp', `${what} is ${direction} the tolerance of ${Math.round(tolerance / 1000)}s`);
}

function hmac(algorithm: Algorithm, key: string | Buffer, parts: Buffer[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Decodes a signature as written; undefined when it is not valid text of that encoding. */
function decode(text: string, encoding: Encoding): Buffer | undefined {
  if (encoding === 'hex') return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, 'hex') : undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64');
}

function decodeAll(texts: string[], encoding: Encoding): Buffer[] {
  return texts.map((t) => decode(t, encoding)).filter((b): b is Buffer => b !== undefined);
}

/** Constant-time equality; unequal lengths still cost one full comparison and reveal nothing about `expected`. */
function safeEqual(given: Buffer, expected: Buffer): boolean {
  if (given.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(given, expected);
}

/** Whether any given signature equals any expected one; every pair is compared, with no early exit. */
function anyMatch(given: Buffer[], expected: Buffer[]): boolean {
  let found = false;
  for (const g of given) for (const e of expected) found = safeEqual(g, e) || found;
  return found;
}

function standardWebhooksKey(secret: string): Buffer | undefined {
  const body = secret.startsWith(STANDARD_WEBHOOKS_PREFIX) ? secret.slice(STANDARD_WEBHOOKS_PREFIX.length) : secret;
  const key = decode(body, 'base64');
  return key && key.length > 0 ? key : undefined;
}

/** One query parameter of a URL, read without normalising the URL. */
function queryParam(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const hash = url.indexOf('#', q);
  return new URLSearchParams(url.slice(q + 1, hash === -1 ? undefined : hash)).get(name) ?? undefined;
}

/**
 * The URL as given, without its port, and with the scheme's default port: Twilio may sign either form,
 * and its own helper library accepts both. The rest of the URL is kept byte for byte.
 */
function urlVariants(url: string): string[] {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return [url];
  const [whole, scheme, authority] = match;
  const at = authority.lastIndexOf('@');
  const userInfo = authority.slice(0, at + 1);
  const hostPort = authority.slice(at + 1);
  const colon = hostPort.indexOf(':', hostPort.lastIndexOf(']') + 1);
  const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
  const rest = url.slice(whole.length);
  const defaultPort = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  return [...new Set([url, scheme + userInfo + host + rest, colon === -1 ? scheme + userInfo + host + defaultPort + rest : url])];
}

/**
 * The form parameters as Twilio concatenates them: sorted by name (case-sensitive, code-unit order), each
 * name followed by its value; a repeated name contributes each value, sorted. Twilio's Node helper also drops
 * duplicate values, so when there are any, that variant is tried too. Without a parsed form the raw body is
 * read as application/x-www-form-urlencoded.
 */
function twilioParamStrings(req: SignedRequest): string[] {
  const form: Record<string, string[]> = {};
  if (req.form) {
    for (const [k, v] of Object.entries(req.form)) form[k] = Array.isArray(v) ? [...v] : [v];
  } else {
    for (const [k, v] of new URLSearchParams(req.rawBody.toString('utf8'))) (form[k] ??= []).push(v);
  }
  const keys = Object.keys(form).sort();
  const join = (unique: boolean) =>
    keys.map((k) => (unique ? [...new Set(form[k])] : form[k]).sort().map((v) => k + v).join('')).join('');
  return [...new Set([join(false), join(true)])];
}
