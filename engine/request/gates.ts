import type { CompiledFlow } from '../flow/compiled.ts';
import type { EngineContext } from './context.ts';
import { header, parseBody, type IncomingRequest, type ParsedBody } from './incoming.ts';
import { verifySignature } from '../trust/signatures.ts';
import { secretsEqual } from '../trust/compare.ts';

/** Why a request is turned away at a gate: `reason` goes to the log, `publicError` to the caller. */
export interface Refusal {
  status: number;
  reason: string;
  headers?: Record<string, string>;
  publicError?: string;
}

export type GateResult = { ok: true; parsed: Extract<ParsedBody, { ok: true }> } | ({ ok: false } & Refusal);

/**
 * The gates a request passes before its flow reads it, in order: enabled, method, rate limit, basic auth, size,
 * content type and parse, signature. A replay (`trusted`) was checked when it first came: auth, signature and rate
 * limit are not asked again.
 */
export function passGates(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, trusted: boolean, bodyText?: string): GateResult {
  const refused = openGates(ctx, flow, req, trusted);
  if (refused) return { ok: false, ...refused };
  const parsed = parseBody(req.rawBody, header(req, 'content-type'), flow.accept, bodyText);
  if (!parsed.ok) return { ok: false, status: parsed.status, reason: parsed.reason };
  const signature = trusted ? undefined : signatureRefusal(ctx, flow, req, parsed);
  return signature ? { ok: false, ...signature } : { ok: true, parsed };
}

function openGates(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, trusted: boolean): Refusal | undefined {
  if (!flow.enabled) return { status: 503, reason: 'webhook not active (flow disabled)', publicError: 'webhook not active' };
  if (!flow.methods.includes(req.method)) return { status: 405, reason: `method ${req.method} not allowed`, headers: { allow: flow.methods.join(', ') } };
  if (flow.rateLimit && !trusted) {
    const taken = ctx.limiter.take(flow.id, flow.rateLimit.max, flow.rateLimit.perMs, ctx.now().getTime());
    if (!taken.ok) return { status: 429, reason: `rate limit of ${flow.rateLimit.max} per ${flow.rateLimit.perMs / 1000} s reached`, headers: { 'retry-after': String(taken.retryAfterSeconds) } };
  }
  if (flow.auth.basic && !trusted && !checkBasic(req, flow.auth.basic)) {
    return { status: 401, reason: 'basic auth failed', headers: { 'www-authenticate': `Basic realm="${flow.id}", charset="UTF-8"` }, publicError: 'unauthorized' };
  }
  const limit = flow.bodyLimit ?? ctx.config.server.bodyLimit;
  if (req.rawBody && req.rawBody.length > limit) return { status: 413, reason: `body of ${req.rawBody.length} bytes is over the limit of ${limit}` };
  return undefined;
}

function signatureRefusal(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, parsed: Extract<ParsedBody, { ok: true }>): Refusal | undefined {
  if (!flow.auth.signature) return undefined;
  const verdict = verifySignature(flow.auth.signature, {
    rawBody: req.rawBody ?? Buffer.alloc(0),
    headers: req.headers,
    publicUrl: req.url,
    form: parsed.kind === 'form' ? (parsed.body as Record<string, string>) : undefined,
    nowMs: ctx.now().getTime(),
  });
  return verdict.ok ? undefined : { status: 401, reason: `signature check failed: ${verdict.reason}: ${verdict.detail}`, publicError: 'unauthorized' };
}

/**
 * Headers that carry this flow's credentials beyond the ones every log redacts: the header a generic hmac signature
 * is read from (its name is the flow's choice). Lower-cased, as Node names headers.
 */
export function credentialHeaders(flow: Pick<CompiledFlow, 'auth'>): string[] {
  const { signature } = flow.auth;
  return signature?.preset === 'hmac' && signature.header ? [signature.header.toLowerCase()] : [];
}

function checkBasic(req: IncomingRequest, expected: { username: string; password: string }): boolean {
  const value = header(req, 'authorization') ?? '';
  const match = /^Basic\s+(.+)$/i.exec(value);
  const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? '' : decoded.slice(0, colon);
  const pass = colon === -1 ? '' : decoded.slice(colon + 1);
  // evaluate both comparisons always: the answer must not reveal which part was wrong
  const userOk = secretsEqual(user, expected.username);
  const passOk = secretsEqual(pass, expected.password);
  return match !== null && userOk && passOk;
}
