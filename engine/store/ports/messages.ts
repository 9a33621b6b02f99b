/** Messages (migration 4): what flows sent on a channel and what contacts sent in, with every status they went through. */

/** Which way a message went: sent by a flow, or received from the contact (an inbound webhook). */
export type MessageDirection = 'outbound' | 'inbound';

/**
 * One message on a channel. Outbound: rendered by a `send` step, stored before the provider is called (status
 * 'sending'), then given the provider's id and status; Twilio status callbacks move it on. Inbound: a message the
 * contact sent (a flow whose trigger is `inbound:`), status 'received'.
 */
export interface Message {
  id: string;
  direction: MessageDirection;
  channel: string;
  /** the driver that handled it (twilio-sms, twilio-voice, smtp, outbox) */
  driver: string | null;
  contactId: string | null;
  /** recipient of an outbound message, E.164 for phone channels (as given when it could not be read) */
  to: string | null;
  /** sender of an inbound message, E.164 for phone channels */
  from: string | null;
  /** what was sent or received: text, subject, html, say, url, mediaUrl, ... (secrets redacted) */
  content: Record<string, unknown>;
  /** Twilio SID, SMTP Message-ID, outbox id */
  providerId: string | null;
  status: string;
  /** why it failed, for people; never holds credentials */
  error: string | null;
  /** provider calls made (retries included) */
  attempts: number;
  flowId: string | null;
  executionId: string | null;
  stepId: string | null;
  /** inbound: the webhook log entry it came with */
  logId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A message as it is first stored: the store counts attempts and keeps the times. */
export type NewMessage = Omit<Message, 'attempts' | 'createdAt' | 'updatedAt'> & {
  /** order of the status (see engine/messages/status.ts): a callback never moves a message back */
  statusRank: number;
};

/** What changes on a message after it is stored; every change of status is recorded with its time. */
export interface MessageUpdate {
  status?: string;
  statusRank?: number;
  providerId?: string | null;
  error?: string | null;
  to?: string | null;
  contactId?: string | null;
  attempts?: number;
  /** set the status whatever the message's current rank (the engine taking over its own interrupted message) */
  force?: boolean;
}

export interface MessageStatusChange {
  messageId: string;
  status: string;
  at: string;
  /** engine (a send), callback (the provider reported it) */
  source: string;
  error: string | null;
}

export interface MessageQuery {
  contactId?: string;
  channel?: string;
  status?: string;
  direction?: MessageDirection;
  /** keyset pagination: messages older than this message */
  before?: string;
  limit: number;
}

export interface MessageStore {
  /**
   * Stores a message. An outbound message of an execution step is stored once: when the step already has one (a
   * resumed execution), that one is returned with `created: false` and nothing is written. Likewise an inbound
   * message whose provider id is already stored on the channel (a redelivered webhook).
   */
  insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }>;
  /** the message an execution's step stored, if any: what a resumed execution already attempted */
  messageForStep(executionId: string, stepId: string): Promise<Message | undefined>;
  /**
   * Changes a message; a new status is applied only when its rank is not below the message's (late callbacks never
   * move a message back) and is recorded in the status history either way. Returns the message as it is now.
   */
  updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined>;
  getMessage(id: string): Promise<Message | undefined>;
  /** the messages a provider id belongs to (a Twilio SID), newest first */
  messagesByProviderId(providerId: string): Promise<Message[]>;
  /** newest first */
  listMessages(query: MessageQuery): Promise<Message[]>;
  /** oldest first */
  messageStatusChanges(messageId: string): Promise<MessageStatusChange[]>;
  /** whether the contact (or someone at this address) has sent a message on the channel: it is open for replies */
  hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean>;
}
