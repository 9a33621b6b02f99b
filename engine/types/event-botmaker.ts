/* Generated from schemas/event-botmaker-1.1.schema.json by `npm run gen:types`. Do not edit: change the schema. */

/**
 * An event as a subscription with `format: botmaker-1.1` receives it: the engine's events (schemas/event.schema.json, hooks-1.1) with the field names and fields of the original product's v1.1 notifications, signed and delivered the same way (webhook-id is `id`). Mapped from the stored hooks-1.1 event at each delivery, by engine/events/botmaker.ts: platform becomes chatPlatform, contactId customerId, contactAddress contactId, contactCreatedAt customerCreationTime, a message's id _id_ and its text message; businessId, and each message's fromName, fromCustomer, isButton, hasAttachment and media URLs, are added. The other fields are hooks-1.1's, unchanged. Receivers should ignore properties they do not know.
 */
export type BotmakerEvent = BotmakerMessage | BotmakerStatus | BotmakerVariables | BotmakerExecution;

/**
 * Messages sent to or received from a contact on a channel: hooks-1.1's message event with the original product's field names and fields.
 */
export interface BotmakerMessage {
  /**
   * Format version: "1.1", as in the original product's v1.1 notifications.
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
   * The account the events belong to: events.businessId in hooks.config.yaml; null when it is not set.
   */
  businessId: string | null;
  /**
   * Id of the flow it came from; null when no flow is involved.
   */
  flow: string | null;
  /**
   * The channel's driver: twilio-sms, twilio-voice, smtp or outbox. hooks-1.1 calls it platform.
   */
  chatPlatform: string;
  /**
   * The channel's name in hooks.config.yaml (sms, voice, email, ...).
   */
  channel: string;
  /**
   * Id (user_ns) of the contact; null when the message is not tied to a contact; hooks-1.1 calls it contactId.
   */
  customerId: string | null;
  /**
   * The contact's id on the chat platform: the phone number (E.164) or e-mail address an outbound message went to, or an inbound one came from; null when unknown. hooks-1.1 calls it contactAddress.
   */
  contactId: string | null;
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
   * When the contact was created (ISO-8601, UTC): the contact's createdAt; null when the message is not tied to a contact, or when its creation time was not at hand where the event was built. hooks-1.1 calls it contactCreatedAt.
   */
  customerCreationTime: string | null;
  /**
   * When the conversation these messages belong to began (ISO-8601, UTC).
   */
  sessionTime: string;
  /**
   * The messages, oldest first.
   *
   * @minItems 1
   */
  messages: BotmakerMessageItem[];
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
export interface BotmakerMessageItem {
  /**
   * Id of the message in the engine's message store; hooks-1.1 calls it id.
   */
  _id_: string;
  /**
   * When it was sent or received (ISO-8601, UTC).
   */
  date: string;
  /**
   * Its text (for e-mail the plain-text body, for voice what was said); null when it has none. hooks-1.1 calls it text.
   */
  message: string | null;
  /**
   * An e-mail's subject; null on other channels.
   */
  subject: string | null;
  /**
   * Who wrote it: bot (a flow sent it), user (the contact sent it) or operator (a person answered by hand).
   */
  from: 'bot' | 'user' | 'operator';
  /**
   * Who wrote it, by name: "Bot" for a message a flow sent, "Operator" for one a person sent by hand, and for the contact's own messages the contact's full name (fullName), else its address (contactId); null when neither is known.
   */
  fromName: string | null;
  /**
   * Whether the contact wrote it: from is user.
   */
  fromCustomer: boolean;
  /**
   * Whether it is the answer of a button. Always false: no channel of this engine sends buttons.
   */
  isButton: boolean;
  /**
   * Whether files or media came with it: attachments is not empty.
   */
  hasAttachment: boolean;
  /**
   * The URL of its first picture (an attachment of type image); null when it has none.
   */
  imageUrl: string | null;
  /**
   * The URL of its first recording (an attachment of type audio); null when it has none.
   */
  audioUrl: string | null;
  /**
   * The URL of its first video (an attachment of type video); null when it has none.
   */
  videoUrl: string | null;
  /**
   * The URL of its first file (an attachment of type file); null when it has none.
   */
  fileUrl: string | null;
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
 * The delivery status of a sent message changed (hooks-1.1's status event with the same renames as message: chatPlatform, customerId, and businessId).
 */
export interface BotmakerStatus {
  /**
   * Format version: "1.1", as in the original product's v1.1 notifications.
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
   * The account the events belong to: events.businessId in hooks.config.yaml; null when it is not set.
   */
  businessId: string | null;
  /**
   * Id of the flow that sent the message; null when unknown.
   */
  flow: string | null;
  /**
   * The channel's driver (twilio-sms, twilio-voice, smtp, outbox); null when unknown. hooks-1.1 calls it platform.
   */
  chatPlatform: string | null;
  /**
   * The channel's name in hooks.config.yaml.
   */
  channel: string;
  /**
   * Id (user_ns) of the contact; null when the message is not tied to a contact; hooks-1.1 calls it contactId.
   */
  customerId: string | null;
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
 * Contact fields changed (a flow's map: wrote new values); hooks-1.1's variables event with customerId and businessId.
 */
export interface BotmakerVariables {
  /**
   * Format version: "1.1", as in the original product's v1.1 notifications.
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
   * The account the events belong to: events.businessId in hooks.config.yaml; null when it is not set.
   */
  businessId: string | null;
  /**
   * Id of the flow whose request changed them; null when no flow did.
   */
  flow: string | null;
  /**
   * Id (user_ns) of the contact; hooks-1.1 calls it contactId.
   */
  customerId: string;
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
 * A flow execution finished (no counterpart in the original product); hooks-1.1's execution event with customerId and businessId.
 */
export interface BotmakerExecution {
  /**
   * Format version: "1.1", as in the original product's v1.1 notifications.
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
   * The account the events belong to: events.businessId in hooks.config.yaml; null when it is not set.
   */
  businessId: string | null;
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
   * Id (user_ns) of the contact it was about; null when none; hooks-1.1 calls it contactId.
   */
  customerId: string | null;
  /**
   * Why it failed; null otherwise.
   */
  error: string | null;
  /**
   * true on sample events sent by POST /api/subscriptions/:id/test; absent otherwise.
   */
  test?: boolean;
}
