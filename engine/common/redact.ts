/** Headers that carry credentials: never stored in the webhook log as sent. */
const SENSITIVE_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-hub-signature(-256)?|stripe-signature|x-twilio-signature|webhook-signature|x-api-key|x-auth-token)$/i;
export const REDACTED = '[redacted]';

export function redactHeaders(headers: Record<string, unknown>, extra: string[] = []): Record<string, unknown> {
  // a copy whose sensitive values are then replaced: V8 clones an object's shape at once, where adding each header to
  // an empty object one by one takes a slow path per header on every request
  const out = { ...headers };
  for (const name in out) if (SENSITIVE_HEADERS.test(name) || extra.includes(name.toLowerCase())) out[name] = REDACTED;
  return out;
}

/** Replaces every occurrence of a secret (a value resolved from ${env:}) in a value that is about to be stored. */
export function redactSecrets<T>(value: T, secrets: string[]): T {
  const usable = secrets.filter((s) => s.length >= 4);
  if (usable.length === 0) return value;
  let text = JSON.stringify(value);
  if (text === undefined) return value;
  let changed = false;
  for (const secret of usable) {
    const encoded = JSON.stringify(secret).slice(1, -1);
    if (text.includes(encoded)) {
      text = text.split(encoded).join(REDACTED);
      changed = true;
    }
  }
  return changed ? (JSON.parse(text) as T) : value;
}
