/**
 * Headers that carry credentials: never stored in the webhook log as sent. Besides the usual names, any header named
 * for a signature or an HMAC (x-signature, x-shopify-hmac-sha256, ...): a flow's generic hmac preset may read one.
 */
const SENSITIVE_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token)$|signature|hmac/i;
export const REDACTED = '[redacted]';

export function redactHeaders(headers: Record<string, unknown>, extra: string[] = []): Record<string, unknown> {
  // a copy whose sensitive values are then replaced: V8 clones an object's shape at once, where adding each header to
  // an empty object one by one takes a slow path per header on every request
  const out = { ...headers };
  for (const name in out) if (SENSITIVE_HEADERS.test(name) || extra.includes(name.toLowerCase())) out[name] = REDACTED;
  return out;
}

/**
 * Replaces every occurrence of a secret (a value resolved from ${env:}) in a value that is about to be stored or shown:
 * in strings and object keys, at any depth. Matched without regard to case: a URL parser lower-cases a host, so a
 * secret in a host comes back changed (`https://${env:TENANT}.example.com` is called as `https://acme-x1.example.com`).
 * Returns `value` itself when it holds no secret.
 */
export function redactSecrets<T>(value: T, secrets: string[]): T {
  const pattern = secretPattern(secrets);
  return pattern ? (masked(value, pattern) as T) : value;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Secrets shorter than this are not masked: they would mask ordinary text everywhere. */
const MIN_SECRET_LENGTH = 4;
const patterns = new Map<string, RegExp | null>();

/** One case-insensitive pattern for a set of secrets (longest first, so that a secret inside another goes whole). */
function secretPattern(secrets: string[]): RegExp | null {
  if (secrets.length === 0) return null;
  const key = secrets.join('\0');
  let pattern = patterns.get(key);
  if (pattern === undefined) {
    const usable = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
    pattern = usable.length === 0 ? null : new RegExp(usable.map(escapeRegExp).join('|'), 'gi');
    if (patterns.size >= 256) patterns.clear(); // secret sets change only with reloads: a bound, not an eviction policy
    patterns.set(key, pattern);
  }
  return pattern;
}

function masked(value: unknown, pattern: RegExp): unknown {
  if (typeof value === 'string') {
    pattern.lastIndex = 0;
    return pattern.test(value) ? value.replace(pattern, REDACTED) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const next = masked(item, pattern);
      if (next !== item) (copy ??= [...value])[i] = next;
    });
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  // anything but a plain object (a Date, a Buffer, a class) is masked as JSON would show it
  if (proto !== Object.prototype && proto !== null) return maskedJson(value, pattern);
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const name = masked(key, pattern) as string;
    const next = masked(item, pattern);
    if (name === key && next === item) continue;
    copy ??= { ...(value as Record<string, unknown>) };
    if (name !== key) delete copy[key];
    // defined, not assigned: a key such as "__proto__" (JSON.parse makes it an own key) must stay a key
    Object.defineProperty(copy, name, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

function maskedJson(value: object, pattern: RegExp): unknown {
  const text = JSON.stringify(value);
  if (text === undefined) return value;
  const plain: unknown = JSON.parse(text);
  const next = masked(plain, pattern);
  return next === plain ? value : next;
}
