import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver gets `webhook-id`, `webhook-timestamp`
 * (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
 * base64-decoded part of the `whsec_...` secret.
 */

const PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The key of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries); undefined when it is not one. */
export function signingKey(secret: string): Uint8Array | undefined {
  const body = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (body === '' || !BASE64.test(body)) return undefined;
  const key = Buffer.from(body, 'base64');
  return key.length > 0 ? new Uint8Array(key) : undefined;
}

export function sign(key: Uint8Array, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The three headers of one attempt; the signature is left out when the subscription has no secret. */
export function signatureHeaders(key: Uint8Array | null, id: string, at: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(at.getTime() / 1000);
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
  if (key) headers['webhook-signature'] = sign(key, id, timestamp, body);
  return headers;
}
