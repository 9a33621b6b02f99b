/**
 * The botmaker-1.1 format (schemas/event-botmaker-1.1.schema.json): a stored hooks-1.1 event as a subscription with
 * `format: botmaker-1.1` receives it, mapped at each delivery by one pure function per event type. Stored events keep
 * the engine's own format, so one event goes to subscriptions of either format under the same id.
 */
import type { BotmakerEvent, BotmakerExecution, BotmakerMessage, BotmakerMessageItem, BotmakerStatus, BotmakerVariables } from '../types/event-botmaker.ts';
import type { Attachment, ExecutionEvent, HookEvent, MessageEvent, MessageItem, StatusEvent, VariablesEvent } from './types.ts';

export type { BotmakerEvent } from '../types/event-botmaker.ts';

/** What the mapping adds that no event carries: the config's businessId. */
export interface BotmakerContext {
  businessId: string | null;
}

/** hooks-1.1 names the original product's names differently; `platform` and `contactId` are renamed on every type. */
export function botmakerMessage(event: MessageEvent, context: BotmakerContext): BotmakerMessage {
  const { platform, contactId, contactAddress, contactCreatedAt, messages, ...same } = event;
  const address = contactAddress ?? null; // events stored before 1.1 carried it: null
  return {
    ...same,
    businessId: context.businessId,
    chatPlatform: platform,
    customerId: contactId,
    contactId: address,
    customerCreationTime: contactCreatedAt ?? null,
    clientPayload: event.clientPayload ?? null,
    messages: messages.map((item) => botmakerItem(item, event.fullName ?? address)),
  };
}

/** One message: `id` is `_id_`, `text` is `message`; the sender, attachment flags and media URLs are derived. */
export function botmakerItem(item: MessageItem, contactName: string | null): BotmakerMessageItem {
  const { id, text, attachments, ...same } = item;
  const first = (type: Attachment['type']) => attachments.find((a) => a.type === type)?.url ?? null;
  return {
    _id_: id,
    ...same,
    message: text,
    fromName: item.from === 'bot' ? 'Bot' : item.from === 'operator' ? 'Operator' : contactName,
    fromCustomer: item.from === 'user',
    isButton: false, // no channel here sends buttons, so nothing is a button's answer
    hasAttachment: attachments.length > 0,
    imageUrl: first('image'),
    audioUrl: first('audio'),
    videoUrl: first('video'),
    fileUrl: first('file'),
    attachments,
  };
}

export function botmakerStatus(event: StatusEvent, context: BotmakerContext): BotmakerStatus {
  const { platform, contactId, ...same } = event;
  return { ...same, businessId: context.businessId, chatPlatform: platform, customerId: contactId };
}

export function botmakerVariables(event: VariablesEvent, context: BotmakerContext): BotmakerVariables {
  const { contactId, ...same } = event;
  return { ...same, businessId: context.businessId, customerId: contactId };
}

export function botmakerExecution(event: ExecutionEvent, context: BotmakerContext): BotmakerExecution {
  const { contactId, ...same } = event;
  return { ...same, businessId: context.businessId, customerId: contactId };
}

/** Any stored event in botmaker-1.1. */
export function botmakerEvent(event: HookEvent, context: BotmakerContext): BotmakerEvent {
  switch (event.type) {
    case 'message':
      return botmakerMessage(event, context);
    case 'status':
      return botmakerStatus(event, context);
    case 'variables':
      return botmakerVariables(event, context);
    case 'execution':
      return botmakerExecution(event, context);
  }
}
