/**
 * Delivery status callbacks: the URL the drivers give providers with every message and call, and moving the messages
 * a verified callback reports on. Verifying and reading a callback are the provider's (channels' statusCallbacks).
 */
import { statusCallbacks } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { Message, Store } from '../store/types.ts';
import type { EventSink } from '../events/types.ts';
import { STATUS_SYNTAX, statusRank } from './status.ts';
import { statusEvent } from './events.ts';

/** <publicUrl><basePath> and the status callbacks' path (/_status/twilio), or undefined without server.publicUrl (the provider could not reach us). */
export function statusCallbackUrl(config: EngineConfig): string | undefined {
  return config.server.publicUrl ? `${config.server.publicUrl}${config.server.basePath}${statusCallbacks.path}` : undefined;
}

export type CallbackResult =
  | { ok: true; sid: string; status: string; messages: Message[] }
  | { ok: false; reason: string };

/**
 * Applies a (verified) status callback: every message with the provider id it reports gets the status (recorded in its
 * history; the message itself only moves forward) and, for failures, the provider's error. The message's update is a
 * transaction of its own, outside the group commit, so its `status` event is a write of its own after it (emit): it
 * rejects when that write fails, and the provider, answered 500, repeats the callback, which brings the event back.
 */
export async function applyStatusCallback(store: Store, params: Record<string, string | string[]>, now: Date, events?: EventSink): Promise<CallbackResult> {
  const parsed = statusCallbacks.parse(params);
  if (!parsed.ok) return parsed;
  const { providerId, status, error, messageError } = parsed.report;
  if (!STATUS_SYNTAX.test(status)) return { ok: false, reason: `"${status.slice(0, 40)}" is not a status` };
  const messages: Message[] = [];
  const emitted: Promise<void>[] = [];
  for (const message of await store.messagesByProviderId(providerId)) {
    const updated = await store.updateMessage(message.id, { status, statusRank: statusRank(status), ...(messageError ? { error: messageError } : {}) }, now.toISOString(), 'callback');
    if (updated) messages.push(updated);
    // a `status` event when the message is at this status (not for a late callback). Emitted for a repeated callback
    // too: its id is the message's and the status's, so a copy is ignored, and a repeat brings back an event that a
    // crash (or a failed write) between the message's commit and the event's lost
    if (events && updated && updated.status === status) emitted.push(events.emit(statusEvent(updated, status, now.toISOString(), error)));
  }
  // committed before the provider hears 200: a callback that was answered has its event; one whose event could not
  // be stored is not answered 200
  await Promise.all(emitted);
  return { ok: true, sid: providerId, status, messages };
}
