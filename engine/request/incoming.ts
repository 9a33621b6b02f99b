import { parse as parseQueryString } from 'node:querystring';
import type { BodyKind } from '../flow/compiled.ts';
import { markedWide } from '../common/scope.ts';

/** A request as it reached the engine, before any flow logic: the raw bytes are kept for signature checks. */
export interface IncomingRequest {
  method: string;
  /** path below the base path, e.g. /booking-confirmation */
  path: string;
  /** the full URL the caller used (public URL when behind a proxy): signatures over URLs need it */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
  rawBody: Buffer | undefined;
  ip: string;
  receivedAt: Date;
}

export type ParsedBody = { ok: true; body: unknown; kind: BodyKind | null } | { ok: false; status: 400 | 415; reason: string };

const KINDS: Record<string, BodyKind> = { 'application/json': 'json', 'application/x-www-form-urlencoded': 'form' };
const NAMES: Record<BodyKind, string> = { json: 'application/json', form: 'application/x-www-form-urlencoded' };

/** Parses the body by its content type, accepting only the kinds the flow accepts. An empty body is no body. */
export function parseBody(rawBody: Buffer | undefined, contentType: string | undefined, accept: BodyKind[], decoded?: string): ParsedBody {
  if (!rawBody || rawBody.length === 0) return { ok: true, body: {}, kind: null };
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const kind = KINDS[mediaType] ?? (mediaType.endsWith('+json') ? 'json' : undefined);
  if (!kind || !accept.includes(kind)) {
    return { ok: false, status: 415, reason: `content type "${mediaType || 'none'}" is not accepted; send ${accept.map((k) => NAMES[k]).join(' or ')}` };
  }
  const text = decoded ?? rawBody.toString('utf8');
  if (kind === 'form') return { ok: true, body: parseForm(text), kind };
  try {
    return { ok: true, body: markedWide(JSON.parse(text), text), kind };
  } catch (err) {
    return { ok: false, status: 400, reason: `malformed JSON body: ${(err as Error).message}` };
  }
}

/**
 * An application/x-www-form-urlencoded body: every field (node:querystring stops at 1,000 unless told otherwise; the
 * body limit bounds how many there can be), a repeated name as a list of its values.
 */
export function parseForm(text: string): Record<string, string | string[]> {
  return { ...parseQueryString(text, '&', '=', { maxKeys: 0 }) } as Record<string, string | string[]>;
}

/** A request header's first value. */
export function header(req: Pick<IncomingRequest, 'headers'>, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
