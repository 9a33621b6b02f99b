/**
 * Twilio delivery status callbacks: the URL the Twilio drivers give with every message and call, the signature
 * check (twilio's own validator, over the public URL), and moving the message the SID belongs to.
 */
import { createRequire } from 'node:module';
import type Twilio from 'twilio';
import type { EngineConfig } from '../config/load.ts';
import type { Message, Store } from '../store/types.ts';
import { STATUS_SYNTAX, statusRank } from './status.ts';
import type { EventSink } from '../events/types.ts';
import { statusEvent } from '../events/producers.ts';

/** Below the base path. Flow routes may not start with /_ (compile-time check), so this never hides a flow. */
export const TWILIO_STATUS_PATH = '/_status/twilio';

/** <publicUrl><basePath>/_status/twilio, or undefined without server.publicUrl (Twilio could not reach us). */
export function statusCallbackUrl(config: EngineConfig): string | undefined {
  return config.server.publicUrl ? `${config.server.publicUrl}${config.server.basePath}${TWILIO_STATUS_PATH}` : undefined;
}

/** The auth tokens of the configured Twilio channels: a callback signed with any of them is Twilio's. */
export function twilioAuthTokens(config: EngineConfig): string[] {
  const tokens = new Set<string>();
  for (const channel of Object.values(config.channels)) {
    if ((channel.driver === 'twilio-sms' || channel.driver === 'twilio-voice') && channel.authToken?.trim()) tokens.add(channel.authToken.trim());
  }
  return [...tokens];
}

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
export function validTwilioSignature(tokens: string[], signature: string | undefined, url: string, params: Record<string, string | string[]>): boolean {
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

export type CallbackResult =
  | { ok: true; sid: string; status: string; messages: Message[] }
  | { ok: false; reason: string };

function field(params: Record<string, string | string[]>, name: string): string | undefined {
  const value = params[name];
  const one = Array.isArray(value) ? value[0] : value;
  return typeof one === 'string' && one !== '' ? one : undefined;
}

/**
 * Applies a (verified) status callback: MessageSid + MessageStatus (SmsSid + SmsStatus) for messages, CallSid +
 * CallStatus for calls. Every message with that provider id gets the status (recorded in its history; the message
 * itself only moves forward) and, for failures, Twilio's error code.
 */
export async function applyTwilioStatus(store: Store, params: Record<string, string | string[]>, now: Date, events?: EventSink): Promise<CallbackResult> {
  const call = field(params, 'CallSid');
  const sid = field(params, 'MessageSid') ?? field(params, 'SmsSid') ?? call;
  const status = (call ? field(params, 'CallStatus') : field(params, 'MessageStatus') ?? field(params, 'SmsStatus'))?.toLowerCase();
  if (!sid) return { ok: false, reason: 'no MessageSid or CallSid' };
  if (!status) return { ok: false, reason: call ? 'no CallStatus' : 'no MessageStatus' };
  if (!STATUS_SYNTAX.test(status)) return { ok: false, reason: `"${status.slice(0, 40)}" is not a status` };
  const code = field(params, 'ErrorCode');
  const detail = field(params, 'ErrorMessage');
  const error = code ? `Twilio error ${code}${detail ? `: ${detail}` : ''}` : undefined;
  const messages: Message[] = [];
  const emitted: Promise<void>[] = [];
  for (const message of await store.messagesByProviderId(sid)) {
    const updated = await store.updateMessage(message.id, { status, statusRank: statusRank(status), ...(error ? { error } : {}) }, now.toISOString(), 'callback');
    if (updated) messages.push(updated);
    // a `status` event when the message is at this status (not for a late callback). Emitted for a repeated callback
    // too: its id is the message's and the status's, so a copy is ignored, and a repeat brings back an event that a
    // crash between the message's commit and the event's lost
    if (events && updated && updated.status === status) {
      emitted.push(events.emit(statusEvent(updated, status, now.toISOString(), code || detail ? { code: code ?? null, message: detail ?? `Twilio error ${code}` } : null)));
    }
  }
  // committed before Twilio hears 200: a callback that was answered has its event
  await Promise.all(emitted);
  return { ok: true, sid, status, messages };
}
