/**
 * The `message` and `status` events of stored messages: built where messages are, from the message rows, so that
 * sending, inbound messages and status callbacks each add one line.
 */
import { createHash } from 'node:crypto';
import type { ExecutionRecord, JournalEntry, Message, OutboxEvent, Store } from '../store/types.ts';
import { contactNames, type Attachment, type EventInput, type EventSink } from '../events/types.ts';
import { STATUS_SYNTAX } from './status.ts';

/** The kind of a media URL, from its extension (MMS media URLs often have none: a file then). */
function attachmentType(url: string): Attachment['type'] {
  const path = url.split(/[?#]/)[0].toLowerCase();
  if (/\.(png|jpe?g|gif|webp|bmp|heic)$/.test(path)) return 'image';
  if (/\.(mp3|wav|ogg|oga|m4a|amr)$/.test(path)) return 'audio';
  if (/\.(mp4|mov|webm|3gp)$/.test(path)) return 'video';
  return 'file';
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);

/**
 * The ids of a stored message's events, derived from the message's (engine-made) id: emitted again (a resumed
 * execution running its send step again, a repeated status callback), an event keeps its id, the store ignores the
 * copy, and a subscriber sees one `webhook-id` per event. One `status` event per message and status: a status reported
 * again, also after a same-rank change in between, is the same event. An unusual provider status is hashed, so the id
 * stays a plain header value.
 */
export function messageEventId(messageId: string): string {
  return `evt_${messageId}`;
}

export function statusEventId(messageId: string, status: string): string {
  const part = STATUS_SYNTAX.test(status) ? status : createHash('sha256').update(status).digest('hex').slice(0, 16);
  return `evt_${messageId}_${part}`;
}

/**
 * `message`: one stored message (engine/messages), sent by a flow (from: bot) or received from the contact (from:
 * user). `contact` gives the name fields and, when the caller has the stored contact, its creation time (the message's
 * contact; looked up by the caller), `variables` the contact fields the same request changed (its map:),
 * `clientPayload` what the request that started the flow sent as one.
 */
export function messageEvent(
  message: Message,
  contact: { fields: Record<string, unknown>; createdAt?: string } | null,
  variables: Record<string, unknown> = {},
  executionId = message.executionId,
  clientPayload: unknown = null,
): EventInput {
  const content = message.content ?? {};
  const media = ([] as unknown[]).concat(content.mediaUrl ?? content.mediaUrls ?? []).filter((u): u is string => typeof u === 'string' && u !== '');
  return {
    id: messageEventId(message.id),
    type: 'message',
    flow: message.flowId,
    platform: message.driver ?? 'unknown',
    channel: message.channel,
    contactId: message.contactId,
    contactAddress: message.direction === 'inbound' ? message.from : message.to,
    ...contactNames(contact?.fields),
    contactCreatedAt: contact?.createdAt ?? null,
    sessionTime: message.createdAt,
    messages: [
      {
        id: message.id,
        date: message.createdAt,
        text: text(content.text) ?? text(content.say) ?? null,
        subject: text(content.subject),
        from: message.direction === 'inbound' ? 'user' : 'bot',
        attachments: media.map((url) => ({ type: attachmentType(url), url })),
      },
    ],
    variables,
    clientPayload,
    executionId,
    time: message.createdAt,
  };
}

/** `status`: a message's delivery status changed (the provider's answer to a send, or its callback). */
export function statusEvent(message: Message, status: string, at: string, error: { code: string | null; message: string } | null = null): EventInput {
  return {
    id: statusEventId(message.id, status),
    type: 'status',
    flow: message.flowId,
    platform: message.driver,
    channel: message.channel,
    contactId: message.contactId,
    messageId: message.id,
    providerId: message.providerId,
    status,
    statusChangeTime: at,
    error,
    time: at,
  };
}

/** The run a send step belongs to: its log entry (whose request's map: changed fields) and its request. */
export type SendingRun = Pick<ExecutionRecord, 'logId' | 'input'>;

/**
 * After a `send` step ran: the rows of its message's event (`message`, from: bot) and of the status the provider gave
 * it (`status`), or of the failure (`status` failed), the message event first, for the step's journal entry to commit
 * with (see startRun). Reads the stored message only when a subscription wants either event, and the contact and its
 * field changes only for a wanted `message`. Run again for the same step (a resumed execution whose entry did not
 * commit), it builds the same event ids.
 */
export async function sendStepEvents(deps: { events: EventSink; store: Store }, entry: JournalEntry, run?: SendingRun): Promise<OutboxEvent[]> {
  if (entry.kind !== 'send') return [];
  const result = entry.result as { ok?: boolean; messageId?: string | null; error?: { message?: string; code?: unknown } | null } | undefined;
  if (!result?.messageId) return [];
  const { events } = deps;
  const wanted = (type: 'message' | 'status') => events.wants?.({ type, flow: null, channel: null }) ?? true;
  if (!wanted('message') && !wanted('status')) return [];
  const message = await deps.store.getMessage(result.messageId);
  if (!message) return [];
  const sent = result.ok && wanted('message') ? await sentMessageEvent(deps.store, message, run) : undefined;
  const error = result.ok ? null : { code: result.error?.code === undefined ? null : String(result.error.code), message: result.error?.message ?? message.error ?? 'failed' };
  const prepared = [sent && events.prepare(sent), events.prepare(statusEvent(message, message.status, message.updatedAt, error))];
  return prepared.filter((event): event is OutboxEvent => event !== undefined);
}

/** A sent message's event: its contact as stored (names, creation time), and what the request of its run changed and sent. */
async function sentMessageEvent(store: Store, message: Message, run: SendingRun | undefined): Promise<EventInput> {
  const contact = message.contactId ? ((await store.findContact({ id: message.contactId })) ?? null) : null;
  const changed = contact && run ? await changedBy(store, contact.id, run.logId) : {};
  return messageEvent(message, contact, changed, message.executionId, clientPayloadOf(run?.input.request));
}

/** How many of a contact's latest field changes are searched for a request's: its map: and what later requests changed meanwhile. */
const CHANGES_SEARCHED = 200;

/** The contact fields one request (its log entry) changed: field -> new value, as its `variables` event has them. */
async function changedBy(store: Store, contactId: string, logId: string): Promise<Record<string, unknown>> {
  const changes = await store.fieldChanges(contactId, CHANGES_SEARCHED); // newest first
  return Object.fromEntries(changes.filter((c) => c.logId === logId).reverse().map((c) => [c.field, c.newValue]));
}

/** The `clientPayload` a request carried (a body field, else a query parameter), handed back in its messages' events. */
export function clientPayloadOf(request: { body: unknown; query: Record<string, unknown> } | undefined): unknown {
  const body = request?.body;
  const fromBody = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>).clientPayload : undefined;
  return fromBody ?? request?.query?.clientPayload ?? null;
}
