/**
 * What Twilio posts back about the messages and calls of twilio-sms and twilio-voice: delivery status callbacks (the
 * signature check with twilio's own validator, over the public URL, and their fields) and the ids in inbound webhooks.
 */
import { createRequire } from 'node:module';
import type Twilio from 'twilio';
import type { ChannelConfig, StatusCallbacks, StatusReport } from './types.ts';

type Params = Record<string, string | string[]>;
type Webhooks = Pick<typeof Twilio, 'validateRequest'>;
const require = createRequire(import.meta.url);
let webhooks: Webhooks | undefined;

/**
 * twilio.validateRequest itself, from the module twilio-node's index re-exports it from (lib/index.js): about 2 MB
 * in a bare `node` against 22 MB for all of twilio-node, loaded on the first signed callback.
 */
function twilioWebhooks(): Webhooks {
  return (webhooks ??= require('twilio/lib/webhooks/webhooks') as Webhooks);
}

/** twilio.validateRequest with each token; an absent signature or no token never passes. */
export function validTwilioSignature(tokens: string[], signature: string | undefined, url: string, params: Params): boolean {
  if (!signature || tokens.length === 0) return false;
  const { validateRequest } = twilioWebhooks();
  return tokens.some((token) => {
    try {
      return validateRequest(token, signature, url, params as Record<string, string>);
    } catch {
      return false;
    }
  });
}

/** The auth tokens of the Twilio channels: a callback signed with any of them is Twilio's. */
export function twilioAuthTokens(channels: Iterable<ChannelConfig>): string[] {
  const tokens = new Set<string>();
  for (const channel of channels) {
    if ((channel.driver === 'twilio-sms' || channel.driver === 'twilio-voice') && channel.authToken?.trim()) tokens.add(channel.authToken.trim());
  }
  return [...tokens];
}

function field(params: Params, name: string): string | undefined {
  const value = params[name];
  const one = Array.isArray(value) ? value[0] : value;
  return typeof one === 'string' && one !== '' ? one : undefined;
}

/**
 * A status callback's report: MessageSid + MessageStatus (SmsSid + SmsStatus) for messages, CallSid + CallStatus for
 * calls, and for failures Twilio's ErrorCode and ErrorMessage.
 */
export function parseTwilioStatus(params: Params): { ok: true; report: StatusReport } | { ok: false; reason: string } {
  const call = field(params, 'CallSid');
  const providerId = field(params, 'MessageSid') ?? field(params, 'SmsSid') ?? call;
  const status = (call ? field(params, 'CallStatus') : field(params, 'MessageStatus') ?? field(params, 'SmsStatus'))?.toLowerCase();
  if (!providerId) return { ok: false, reason: 'no MessageSid or CallSid' };
  if (!status) return { ok: false, reason: call ? 'no CallStatus' : 'no MessageStatus' };
  const code = field(params, 'ErrorCode');
  const detail = field(params, 'ErrorMessage');
  const error = code || detail ? { code: code ?? null, message: detail ?? `Twilio error ${code}` } : null;
  const report: StatusReport = { providerId, status, error };
  if (code) report.messageError = `Twilio error ${code}${detail ? `: ${detail}` : ''}`;
  return { ok: true, report };
}

/** Twilio's status callbacks, signed with X-Twilio-Signature over the URL Twilio called. */
export const twilioStatusCallbacks: StatusCallbacks = {
  provider: 'Twilio',
  // below the base path; flow routes may not start with /_ (compile-time check), so this never hides a flow
  path: '/_status/twilio',
  verify(channels, request) {
    const signature = request.headers['x-twilio-signature'];
    return validTwilioSignature(twilioAuthTokens(channels), Array.isArray(signature) ? signature[0] : signature, request.url, request.params);
  },
  parse: parseTwilioStatus,
};

/** Twilio's id of an inbound message (MessageSid, SmsSid) or call (CallSid), when the webhook body carries one. */
export function twilioInboundId(body: unknown): string | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  for (const key of ['MessageSid', 'SmsSid', 'CallSid']) if (typeof b[key] === 'string' && b[key]) return b[key] as string;
  return null;
}
