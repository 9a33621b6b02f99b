/** What expressions see and what a flow answers: the vocabulary of steps, the request path and the execution. */

/** What expressions see: the request, variables, the contact and earlier steps' results. */
export interface Scope {
  request: { method: string; path: string; headers: Record<string, unknown>; query: Record<string, unknown>; body: unknown; ip: string; receivedAt: string };
  headers: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  vars: Record<string, unknown>;
  contact: ContactView | null;
  steps: Record<string, unknown>;
}

export interface ContactView {
  id: string;
  userNs: string;
  phone: string | null;
  email: string | null;
  fields: Record<string, unknown>;
}

/** An HTTP answer decided by a flow (async response or a respond step). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Marks a parsed JSON body too big to copy into a request's variables (scopeOf reads its fields through the
 * variables' prototype instead): known from its text's size when it is parsed, so that no request pays for counting
 * fields. A symbol: invisible to JSON, to expressions and to key listings.
 */
export const WIDE_BODY = Symbol('wide body');
/** the webhook log's cap on a kept body, too: a body over it is kept whole only for the execution that needs it */
export const WIDE_BODY_BYTES = 64 * 1024;

const JSON_TEXT = Symbol('json text');

/**
 * `value`, parsed from `text` (undefined: read back from a store, known to be wide), marked when the text is over
 * WIDE_BODY_BYTES: an object as wide, and any value with its text, so that storing it does not serialise it again.
 */
export function markedWide<T>(value: T, text: string | undefined): T {
  if (value === null || typeof value !== 'object' || (text !== undefined && text.length <= WIDE_BODY_BYTES)) return value;
  if (!Array.isArray(value)) Object.defineProperty(value, WIDE_BODY, { value: true });
  if (text !== undefined) Object.defineProperty(value, JSON_TEXT, { value: text });
  return value;
}

export function isMarkedWide(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { [WIDE_BODY]?: boolean })[WIDE_BODY] === true;
}

/** The JSON text a marked value was parsed from, as it came. */
export function jsonTextOf(value: unknown): string | undefined {
  return value !== null && typeof value === 'object' ? (value as { [JSON_TEXT]?: string })[JSON_TEXT] : undefined;
}
