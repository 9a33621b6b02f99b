/**
 * The engine's own events, as subscribers receive them (format version 1.1; schemas/event.schema.json describes each
 * property). A producer hands an event without its envelope (`v`, `id`, `time`) to `EventSink.emit`; the sink adds
 * the envelope, stores the event with one delivery per matching subscription, and the delivery worker sends it.
 */

export const EVENT_VERSION = '1.1';

export const EVENT_TYPES = ['message', 'status', 'variables', 'execution'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What every event carries. */
export interface EventEnvelope {
  v: typeof EVENT_VERSION;
  /** unique; also the `webhook-id` header, the same on every attempt, so receivers can drop repeats */
  id: string;
  type: EventType;
  /** when it happened (ISO-8601 UTC) */
  time: string;
  /** the flow it came from, when there is one */
  flow: string | null;
  /** true on the sample events that `POST /api/subscriptions/:id/test` sends */
  test?: boolean;
}

export interface Attachment {
  type: 'image' | 'audio' | 'video' | 'file' | 'location';
  url: string;
  name?: string | null;
  contentType?: string | null;
}

export interface MessageItem {
  /** the message's id in the engine's message store */
  id: string;
  /** when it was sent or received */
  date: string;
  text: string | null;
  /** an e-mail's subject; null on other channels */
  subject: string | null;
  /** who wrote it: the engine (a flow's send step), the contact, or a person answering by hand */
  from: 'bot' | 'user' | 'operator';
  attachments: Attachment[];
}

export interface MessageEvent extends EventEnvelope {
  type: 'message';
  /** the channel's driver: twilio-sms, twilio-voice, smtp, outbox */
  platform: string;
  /** the channel's name in the config: sms, voice, email ... */
  channel: string;
  contactId: string | null;
  firstName: string | null;
  lastName: string | null;
  fullName: string | null;
  /** when the conversation these messages belong to began */
  sessionTime: string;
  messages: MessageItem[];
  /** contact fields that changed with these messages: field -> new value */
  variables: Record<string, unknown>;
  executionId: string | null;
}

export interface StatusEvent extends EventEnvelope {
  type: 'status';
  platform: string | null;
  channel: string;
  contactId: string | null;
  messageId: string;
  /** the provider's id of the message (a Twilio SID), when known */
  providerId: string | null;
  status: string;
  statusChangeTime: string;
  error: { code: string | null; message: string } | null;
}

export interface FieldChangeItem {
  field: string;
  oldValue: unknown;
  newValue: unknown;
}

export interface VariablesEvent extends EventEnvelope {
  type: 'variables';
  contactId: string;
  executionId: string | null;
  logId: string | null;
  /** every changed field: field -> new value */
  variables: Record<string, unknown>;
  changes: FieldChangeItem[];
}

export interface ExecutionEvent extends EventEnvelope {
  type: 'execution';
  flow: string;
  executionId: string;
  mode: 'sync' | 'async';
  outcome: 'completed' | 'failed' | 'stopped';
  durationMs: number;
  startedAt: string;
  finishedAt: string;
  logId: string | null;
  contactId: string | null;
  error: string | null;
}

export type HookEvent = MessageEvent | StatusEvent | VariablesEvent | ExecutionEvent;

type WithoutEnvelope<T> = T extends unknown ? Omit<T, 'v' | 'id' | 'time' | 'test'> & { id?: string; time?: string } : never;

/** What a producer emits: the event without its envelope (`id` and `time` may be given; they default to new / now). */
export type EventInput = WithoutEnvelope<HookEvent>;

/** Where producers put events. The engine's sink stores them for delivery; `hooks test` captures them. */
export interface EventSink {
  /**
   * Stores the event with one delivery per matching subscription (nothing when none matches). The write joins the
   * store's group commit: started synchronously, it lands in the same transaction as writes queued in the same turn.
   * Resolves once committed; never rejects (a storage failure is reported through the engine's log), so a producer
   * on a request path may call it without awaiting.
   */
  emit(event: EventInput): Promise<void>;
  /**
   * Whether any subscription may want an event like this (a null flow or channel: any). Producers that must read
   * something to build an event ask first; a sink without `wants` wants everything.
   */
  wants?(event: { type: EventType; flow: string | null; channel: string | null }): boolean;
}

/** The contact's name fields, read from its fields the way most CRMs name them. */
export function contactNames(fields: Record<string, unknown> | null | undefined): { firstName: string | null; lastName: string | null; fullName: string | null } {
  const text = (...names: string[]) => {
    for (const name of names) {
      const value = fields?.[name];
      if (typeof value === 'string' && value.trim() !== '') return value.trim();
    }
    return null;
  };
  const firstName = text('first_name', 'firstName', 'firstname');
  const lastName = text('last_name', 'lastName', 'lastname');
  const fullName = text('full_name', 'fullName', 'name') ?? ([firstName, lastName].filter(Boolean).join(' ') || null);
  return { firstName, lastName, fullName };
}
