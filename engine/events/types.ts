/**
 * The engine's own events, as subscribers receive them (format version 1.1; schemas/event.schema.json describes each
 * property). A producer hands an event without its envelope (`v`, `id`, `time`) to `EventSink.prepare`; the sink adds
 * the envelope and builds its rows with one delivery per matching subscription, which the producer hands to the store
 * write of the event's cause (an outbox: both commit together); the delivery worker then sends it (to a subscription
 * with `format: botmaker-1.1`, mapped by botmaker.ts).
 */

import type { Event, Message, Variables } from '../types/event.ts';
import type { OutboxEvent } from '../store/types.ts';

export type {
  Event as HookEvent,
  Message as MessageEvent,
  Status as StatusEvent,
  Variables as VariablesEvent,
  Execution as ExecutionEvent,
  MessageItem,
  Attachment,
} from '../types/event.ts';

export const EVENT_VERSION = '1.1' satisfies Event['v'];

export type EventType = Event['type'];

/** Every event type, in the schema's order; `satisfies` keeps the list exactly the generated union. */
const EVENT_TYPE_SET = { message: true, status: true, variables: true, execution: true } satisfies Record<EventType, true>;
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as readonly EventType[];

/** What every event carries: `v`, `id` and `time` are added by the sink, `test` only on sample events. */
export type EventEnvelope = Pick<Event, 'v' | 'id' | 'type' | 'time' | 'flow' | 'test'>;

export type FieldChangeItem = Variables['changes'][number];

type WithoutEnvelope<T> = T extends Event ? Omit<T, 'v' | 'id' | 'time' | 'test'> & Partial<Pick<T, 'id' | 'time'>> : never;

/** What a producer emits: the event without its envelope (`id` and `time` may be given; they default to new / now). */
export type EventInput = WithoutEnvelope<Event>;

/** Where producers put events. The engine's sink stores them for delivery; `hooks test` captures them. */
export interface EventSink {
  /**
   * The event's rows, built synchronously: the event with one delivery per matching subscription, for the store
   * write of its cause to commit with it (an outbox; the store then wakes the delivery worker). Undefined when no
   * subscription wants it (or it cannot be stored: logged). Never throws.
   */
  prepare(event: EventInput): OutboxEvent | undefined;
  /**
   * Stores the event in a write of its own (in the store's group commit), for a cause whose write takes no outbox (a
   * status callback's message update). Resolves once committed; rejects when the write failed.
   */
  emit(event: EventInput): Promise<void>;
  /**
   * Whether any subscription may want an event like this (a null flow or channel: any). Producers that must read
   * something to build an event ask first; a sink without `wants` wants everything.
   */
  wants?(event: { type: EventType; flow: string | null; channel: string | null }): boolean;
}

/** The contact's name fields, read from its fields the way most CRMs name them. */
export function contactNames(fields: Record<string, unknown> | null | undefined): Pick<Message, 'firstName' | 'lastName' | 'fullName'> {
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
