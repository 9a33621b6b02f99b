/* Generated from schemas/event.schema.json by `npm run gen:types`. Do not edit: change the schema. */

/**
 * An event the engine delivers to subscriptions (format 1.1): a JSON body POSTed to the subscription's URL, signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature). `type` says which of message, status, variables or execution it is. This schema describes 1.1 exactly; receivers should still ignore properties they do not know, as later 1.x versions may add some.
 */
export type Event = Message | Status | Variables | Execution;

/**
 * Messages sent to or received from a contact on a channel.
 */
export interface Message {
  /**
   * Format version of the event payloads: "1.1".
   */
  v: '1.1';
  /**
   * Unique id of the event; also the webhook-id header, the same on every attempt and replay, so a receiver can drop repeats.
   */
  id: string;
  /**
   * Event type: message.
   */
  type: 'message';
  /**
   * When it happened (ISO-8601, UTC).
   */
  time: string;
  /**
   * Id of the flow it came from; null when no flow is involved.
   */
  flow: string | null;
  /**
   * The channel's driver: twilio-sms, twilio-voice, smtp or outbox.
   */
  platform: string;
  /**
   * The channel's name in hooks.config.yaml (sms, voice, email, ...).
   */
  channel: string;
  /**
   * Id (user_ns) of the contact; null when the message is not tied to a contact.
   */
  contactId: string | null;
  /**
   * The contact's address on the channel: the phone number (E.164) or e-mail address an outbound message went to, or an inbound one came from; null when unknown.
   */
  contactAddress: string | null;
  /**
   * The contact's first name (field first_name), or null.
   */
  firstName: string | null;
  /**
   * The contact's last name (field last_name), or null.
   */
  lastName: string | null;
  /**
   * The contact's full name (field full_name or name, else first and last name), or null.
   */
  fullName: string | null;
  /**
   * When the contact was created (ISO-8601, UTC); null when the message is not tied to a contact, or when its creation time was not at hand where the event was built.
   */
  contactCreatedAt: string | null;
  /**
   * When the conversation these messages belong to began (ISO-8601, UTC).
   */
  sessionTime: string;
  /**
   * The messages, oldest first.
   *
   * @minItems 1
   */
  messages: MessageItem[];
  /**
   * Contact fields the same request changed: field name -> new value (the map: of the inbound webhook, or of the request whose flow sent the message); empty when it changed none.
   */
  variables: {
    [k: string]: unknown;
  };
  /**
   * For a message a flow sent: the `clientPayload` of the request that started the flow (a body field, else a query parameter), handed back unchanged so that the caller can match the message to its call; null when it sent none, and for inbound messages.
   */
  clientPayload: unknown;
  /**
   * The execution that sent or received them; null when none did.
   */
  executionId: string | null;
  /**
   * true on sample events sent by POST /api/subscriptions/:id/test; absent otherwise.
   */
  test?: boolean;
}
/**
 * One message.
 */
export interface MessageItem {
  /**
   * Id of the message in the engine's message store.
   */
  id: string;
  /**
   * When it was sent or received (ISO-8601, UTC).
   */
  date: string;
  /**
   * Its text (for e-mail the plain-text body, for voice what was said); null when it has none.
   */
  text: string | null;
  /**
   * An e-mail's subject; null on other channels.
   */
  subject: string | null;
  /**
   * Who wrote it: bot (a flow sent it), user (the contact sent it) or operator (a person answered by hand).
   */
  from: 'bot' | 'user' | 'operator';
  /**
   * Files and media sent with it; empty when none.
   */
  attachments: Attachment[];
}
/**
 * A file, picture, recording or place sent with a message.
 */
export interface Attachment {
  /**
   * What it is: image, audio, video, file or location.
   */
  type: 'image' | 'audio' | 'video' | 'file' | 'location';
  /**
   * Where to fetch it.
   */
  url: string;
  /**
   * File name, when known.
   */
  name?: string | null;
  /**
   * MIME type, when known.
   */
  contentType?: string | null;
}
/**
 * The delivery status of a sent message changed.
 */
export interface Status {
  /**
   * Format version of the event payloads: "1.1".
   */
  v: '1.1';
  /**
   * Unique id of the event; also the webhook-id header, the same on every attempt and replay, so a receiver can drop repeats.
   */
  id: string;
  /**
   * Event type: status.
   */
  type: 'status';
  /**
   * When it happened (ISO-8601, UTC).
   */
  time: string;
  /**
   * Id of the flow that sent the message; null when unknown.
   */
  flow: string | null;
  /**
   * The channel's driver (twilio-sms, twilio-voice, smtp, outbox); null when unknown.
   */
  platform: string | null;
  /**
   * The channel's name in hooks.config.yaml.
   */
  channel: string;
  /**
   * Id (user_ns) of the contact; null when the message is not tied to a contact.
   */
  contactId: string | null;
  /**
   * Id of the message in the engine's message store.
   */
  messageId: string;
  /**
   * The provider's id of the message (a Twilio SID, an SMTP Message-ID); null when unknown.
   */
  providerId: string | null;
  /**
   * The new status: sending, queued, sent, delivered, read, undelivered, failed, ... (the provider's words, lower case).
   */
  status: string;
  /**
   * When the status changed (ISO-8601, UTC).
   */
  statusChangeTime: string;
  /**
   * Why it failed, when it did; null otherwise.
   */
  error: {
    /**
     * The provider's error code, when it gave one.
     */
    code: string | null;
    /**
     * What went wrong, for people.
     */
    message: string;
  } | null;
  /**
   * true on sample events sent by POST /api/subscriptions/:id/test; absent otherwise.
   */
  test?: boolean;
}
/**
 * Contact fields changed (a flow's map: wrote new values).
 */
export interface Variables {
  /**
   * Format version of the event payloads: "1.1".
   */
  v: '1.1';
  /**
   * Unique id of the event; also the webhook-id header, the same on every attempt and replay, so a receiver can drop repeats.
   */
  id: string;
  /**
   * Event type: variables.
   */
  type: 'variables';
  /**
   * When it happened (ISO-8601, UTC).
   */
  time: string;
  /**
   * Id of the flow whose request changed them; null when no flow did.
   */
  flow: string | null;
  /**
   * Id (user_ns) of the contact.
   */
  contactId: string;
  /**
   * The execution of that request; null when none.
   */
  executionId: string | null;
  /**
   * The webhook log entry of that request; null when none.
   */
  logId: string | null;
  /**
   * Every changed field: field name -> new value.
   */
  variables: {
    [k: string]: unknown;
  };
  /**
   * Every changed field with its old and new value.
   *
   * @minItems 1
   */
  changes: {
    /**
     * The field's name.
     */
    field: string;
    /**
     * Its value before; null when it had none.
     */
    oldValue: unknown;
    /**
     * Its value now.
     */
    newValue: unknown;
  }[];
  /**
   * true on sample events sent by POST /api/subscriptions/:id/test; absent otherwise.
   */
  test?: boolean;
}
/**
 * A flow execution finished.
 */
export interface Execution {
  /**
   * Format version of the event payloads: "1.1".
   */
  v: '1.1';
  /**
   * Unique id of the event; also the webhook-id header, the same on every attempt and replay, so a receiver can drop repeats.
   */
  id: string;
  /**
   * Event type: execution.
   */
  type: 'execution';
  /**
   * When it happened (ISO-8601, UTC).
   */
  time: string;
  /**
   * Id of the flow that ran.
   */
  flow: string;
  /**
   * Id of the execution (GET /api/executions/:id shows its steps).
   */
  executionId: string;
  /**
   * sync (ran in the request) or async (ran in the background).
   */
  mode: 'sync' | 'async';
  /**
   * completed, failed (a step could not run) or stopped (a stop step ended it).
   */
  outcome: 'completed' | 'failed' | 'stopped';
  /**
   * How long the run took, in milliseconds.
   */
  durationMs: number;
  /**
   * When the run started (ISO-8601, UTC); for a resumed execution, when it was resumed.
   */
  startedAt: string;
  /**
   * When it finished (ISO-8601, UTC).
   */
  finishedAt: string;
  /**
   * The webhook log entry of the request that started it.
   */
  logId: string | null;
  /**
   * The contact it was about; null when none.
   */
  contactId: string | null;
  /**
   * Why it failed; null otherwise.
   */
  error: string | null;
  /**
   * true on sample events sent by POST /api/subscriptions/:id/test; absent otherwise.
   */
  test?: boolean;
}
