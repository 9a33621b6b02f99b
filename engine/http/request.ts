import net from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { AddressGuard } from './address-guard.ts';

export type HttpErrorKind = 'MissingParameter' | 'BadRequest' | 'BadResponse' | 'KeyError' | 'Timeout';
export interface HttpError {
  kind: HttpErrorKind;
  message: string;
}

export interface OutgoingRequest {
  method?: string;
  url?: string;
  query?: Record<string, unknown>;
  headers?: Record<string, string>;
  body?: unknown;
  bodyType?: 'json' | 'form';
  responseType?: 'json' | 'text';
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  allowPrivateNetworks: boolean;
  allowList: string[];
}

export interface OutgoingResult {
  ok: boolean;
  status?: number;
  headers: Record<string, string>;
  body: unknown;
  error?: HttpError;
  durationMs: number;
  /** the URL asked for (query included), redacted: no userinfo, fragment or query values; absent when it was not valid */
  url?: string;
  /** the URL of the last hop, redacted the same way: differs from `url` after redirects */
  finalUrl?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Headers that must not follow a redirect to another origin (same list as undici's redirect handler).
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization', 'host'];
const UNDICI_TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

class RequestProblem extends Error {
  constructor(readonly kind: HttpErrorKind, message: string) {
    super(message);
  }
}

/** Strips userinfo, the fragment and every query value, for journals and messages. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: keep only what precedes a query or fragment, minus anything that looks like userinfo.
    return url.split(/[?#]/)[0].replace(/\/\/[^/]*@/, '//');
  }
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  // A part without "=" may itself be a secret (?abc123), so it is masked whole.
  const parts = parsed.search.slice(1).split('&').filter(Boolean);
  parsed.search = parts.map((part) => (part.includes('=') ? `${part.slice(0, part.indexOf('='))}=***` : '***')).join('&');
  return parsed.href;
}

/** Origin and path only: what error messages show of a URL. */
const shown = (url: URL) => `${url.origin}${url.pathname}`;

/** Query and form encoding: arrays repeat the key, objects become JSON, undefined and null are left out. */
export function appendParams(params: URLSearchParams, values: Record<string, unknown>): void {
  const text = (v: unknown) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  for (const [key, value] of Object.entries(values)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null) params.append(key, text(item));
    }
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface Prepared {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Validates and encodes the request; throws RequestProblem. */
function prepare(req: OutgoingRequest): Prepared {
  const bad = (message: string) => new RequestProblem('BadRequest', message);
  if (typeof req.method !== 'string' || req.method.trim() === '') throw new RequestProblem('MissingParameter', 'method is missing');
  if (typeof req.url !== 'string' || req.url.trim() === '') throw new RequestProblem('MissingParameter', 'url is missing');
  const method = req.method.trim().toUpperCase();
  if (!TOKEN.test(method)) throw bad('method is not a valid HTTP method');
  if (!(req.timeoutMs > 0) || !Number.isFinite(req.timeoutMs)) throw bad('timeoutMs must be a positive number');
  for (const name of ['maxResponseBytes', 'maxRedirects'] as const) {
    if (!Number.isInteger(req[name]) || req[name] < 0) throw bad(`${name} must be a whole number of at least 0`);
  }

  let url: URL;
  try {
    url = new URL(req.url.trim());
  } catch {
    throw bad('url is not a valid absolute URL'); // the text itself may hold a secret, so it is not echoed
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`url scheme ${url.protocol} is not supported (use http or https)`);
  if (req.query !== undefined && req.query !== null) {
    if (!isPlainObject(req.query)) throw bad('query must be an object');
    appendParams(url.searchParams, req.query);
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    if (!TOKEN.test(name)) throw bad('a header name is not a valid HTTP token');
    const text = typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    if (typeof text !== 'string' || !HEADER_VALUE.test(text)) {
      throw bad(`header ${name} has an invalid value (it must be text without line breaks or control characters)`);
    }
    headers[name.toLowerCase()] = text;
  }
  // user:pass@ in the URL becomes Basic auth, as curl does; an explicit Authorization header wins.
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization ??= `Basic ${Buffer.from(credentials).toString('base64')}`;
    url.username = url.password = '';
  }
  if ((req.responseType ?? 'json') === 'json') headers.accept ??= 'application/json';

  let body: string | undefined;
  if (req.body !== undefined) {
    if (req.bodyType === 'form') {
      if (!isPlainObject(req.body)) throw bad('a form body must be an object of fields');
      const form = new URLSearchParams();
      appendParams(form, req.body);
      body = form.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else {
      try {
        body = JSON.stringify(req.body);
      } catch {
        body = undefined;
      }
      if (body === undefined) throw bad('body cannot be encoded as JSON');
      headers['content-type'] ??= 'application/json';
    }
  }
  return { method, url, headers, body };
}

/** Reads the body, stopping (and dropping the connection) as soon as it grows past `max` bytes. */
async function readBody(res: Awaited<ReturnType<typeof request>>, max: number): Promise<Buffer> {
  const tooBig = () => new RequestProblem('BadResponse', `response body over ${max} bytes`);
  if (Number(res.headers['content-length']) > max) {
    res.body.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > max) {
      res.body.destroy();
      throw tooBig();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/** The request for the next hop, as browsers and fetch do it. */
function redirected(current: Prepared, status: number, next: URL): Prepared {
  let { method, body } = current;
  const headers = { ...current.headers };
  if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
    method = 'GET';
    body = undefined;
    delete headers['content-type'];
    delete headers['content-length'];
  }
  if (next.origin !== current.url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
  return { method, url: next, headers, body };
}

/**
 * Guards are built once per address policy (in practice once per config: every step of an engine passes the same
 * allowPrivateNetworks and allowList), not once per request. Bounded, in case policies keep changing (reloads).
 */
const guards = new Map<string, AddressGuard>();
const GUARD_CACHE_LIMIT = 64;

function guardFor(policy: { allowPrivateNetworks: boolean; allowList: string[] }): AddressGuard {
  const key = JSON.stringify([policy.allowPrivateNetworks, policy.allowList]);
  let guard = guards.get(key);
  if (!guard) {
    guard = new AddressGuard({ allowPrivateNetworks: policy.allowPrivateNetworks, allowList: [...policy.allowList] });
    if (guards.size >= GUARD_CACHE_LIMIT) guards.delete(guards.keys().next().value!);
    guards.set(key, guard);
  }
  return guard;
}

/** A request in flight: what the result reports when the call ends, however it ends. */
interface Call {
  started: number;
  /** the URL asked for, redacted */
  asked?: string;
  /** the current hop */
  current?: Prepared;
  status?: number;
  headers: Record<string, string>;
}

function finish(call: Call, result: Partial<OutgoingResult>): OutgoingResult {
  return {
    ok: false,
    status: call.status,
    headers: call.headers,
    body: null,
    url: call.asked,
    finalUrl: call.current && redactUrl(call.current.url.href),
    ...result,
    durationMs: Math.round(performance.now() - call.started),
  };
}

function fail(call: Call, kind: HttpErrorKind, message: string, body: unknown = null): OutgoingResult {
  return finish(call, { body, error: { kind, message } });
}

/** Sends one outgoing request, following redirects; every failure comes back as `error`, never as an exception. */
export async function sendRequest(req: OutgoingRequest): Promise<OutgoingResult> {
  const call: Call = { started: performance.now(), headers: {} };
  let current: Prepared;
  let guard: AddressGuard;
  try {
    current = call.current = prepare(req);
    call.asked = redactUrl(current.url.href);
    guard = guardFor(req);
  } catch (err) {
    return err instanceof RequestProblem ? fail(call, err.kind, err.message) : fail(call, 'BadRequest', (err as Error).message);
  }

  // One agent per call: its lookup enforces this request's address policy on every connection it opens, and
  // undici's own timeouts are off so that the single whole-request deadline below governs.
  const agent = new Agent({ connect: { lookup: guard.lookup, timeout: req.timeoutMs }, headersTimeout: 0, bodyTimeout: 0 });
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), req.timeoutMs);
  try {
    return await exchange(call, req, guard, agent, deadline.signal);
  } catch (err) {
    return failure(call, req, err, deadline.signal.aborted);
  } finally {
    clearTimeout(timer);
    agent.destroy().catch(() => {});
  }
}

/** Sends the prepared request and follows its redirects up to the answer; throws what undici throws. */
async function exchange(call: Call, req: OutgoingRequest, guard: AddressGuard, agent: Agent, signal: AbortSignal): Promise<OutgoingResult> {
  for (let hop = 0; ; hop++) {
    const current = call.current!;
    // net.connect skips the lookup for IP literals, so those are checked here, on every hop.
    const host = current.url.hostname.replace(/^\[|\]$/g, '');
    const refused = net.isIP(host) ? guard.refusal(host) : undefined;
    if (refused) return fail(call, 'BadRequest', refused);

    const res = await request(current.url, {
      method: current.method as Dispatcher.HttpMethod,
      headers: current.headers,
      body: current.body,
      dispatcher: agent,
      signal,
    });
    const status = (call.status = res.statusCode);
    call.headers = flattenHeaders(res.headers);
    if (!(REDIRECTS.has(status) && call.headers.location)) return answer(call, req, res);

    await res.body.dump();
    const next = redirectTarget(call, req, hop);
    if (!(next instanceof URL)) return next;
    call.current = redirected(current, status, next);
    call.status = undefined; // no answer yet from the next hop
    call.headers = {};
  }
}

/** Where a redirect leads, or the failure when it may not be followed. */
function redirectTarget(call: Call, req: OutgoingRequest, hop: number): URL | OutgoingResult {
  const from = call.current!.url;
  if (hop >= req.maxRedirects) return fail(call, 'BadResponse', `more than ${req.maxRedirects} redirects (last from ${shown(from)})`);
  let next: URL;
  try {
    next = new URL(call.headers.location, from);
  } catch {
    return fail(call, 'BadResponse', `${shown(from)} redirected to an invalid URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    return fail(call, 'BadResponse', `${shown(from)} redirected to an unsupported ${next.protocol} URL`);
  }
  next.username = next.password = '';
  return next;
}

/** The final hop's answer: its body read (bounded) and parsed as asked. */
async function answer(call: Call, req: OutgoingRequest, res: Awaited<ReturnType<typeof request>>): Promise<OutgoingResult> {
  const current = call.current!;
  const status = call.status!;
  const text = new TextDecoder().decode(await readBody(res, req.maxResponseBytes));
  const asText = (req.responseType ?? 'json') === 'text';
  let parsed: unknown = text;
  let isJson = false;
  if (!asText) {
    try {
      parsed = text.trim() === '' ? null : JSON.parse(text);
      isJson = true;
    } catch {
      // stays text: useful for a non-2xx answer, and shown to the user when JSON was expected
    }
  }
  if (status < 200 || status > 299) {
    return fail(call, 'BadResponse', `server answered ${status} (${current.method} ${shown(current.url)})`, parsed);
  }
  if (!asText && !isJson) return fail(call, 'BadResponse', `answer from ${shown(current.url)} is not valid JSON`, parsed);
  return finish(call, { ok: true, body: parsed });
}

/** What a thrown error means for the caller. */
function failure(call: Call, req: OutgoingRequest, err: unknown, timedOut: boolean): OutgoingResult {
  const e = err as Error & { code?: string };
  const url = call.current!.url;
  if (timedOut || UNDICI_TIMEOUTS.has(e.code ?? '')) {
    return fail(call, 'Timeout', `no complete answer from ${shown(url)} within ${req.timeoutMs} ms`);
  }
  if (err instanceof RequestProblem) return fail(call, err.kind, err.message);
  if (e.code === 'E_ADDRESS_REFUSED') return fail(call, 'BadRequest', e.message);
  if (e.code === 'UND_ERR_INVALID_ARG') return fail(call, 'BadRequest', `invalid request: ${e.message}`); // undici names only the header, never its value
  if (e.code === 'ENOTFOUND') return fail(call, 'BadRequest', `host ${url.hostname} not found`);
  return fail(call, 'BadResponse', `request to ${shown(url)} failed: ${e.message}`);
}
