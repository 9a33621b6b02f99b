/* Generated from schemas/config.schema.json#/$defs/channel by `npm run gen:types`. Do not edit: change the schema. */

/**
 * A channel: its driver and the driver's settings. A Twilio or SMTP channel whose credentials are empty runs as outbox.
 */
export interface ChannelConfig {
  /**
   * twilio-sms, twilio-voice, smtp or outbox.
   */
  driver: 'twilio-sms' | 'twilio-voice' | 'smtp' | 'outbox';
  /**
   * Twilio account SID.
   */
  accountSid?: string;
  /**
   * Twilio auth token.
   */
  authToken?: string;
  /**
   * Sender: a phone number (Twilio) or an address (e-mail).
   */
  from?: string;
  /**
   * Twilio SMS: send through a messaging service instead of a from number.
   */
  messagingServiceSid?: string;
  /**
   * Twilio API base URL override: a proxy, or a mock in tests.
   */
  baseUrl?: string;
  /**
   * SMTP: smtp://user:pass@host:port or smtps://.
   */
  url?: string;
  /**
   * May this channel message someone who never wrote first? Default true.
   */
  canInitiate?: boolean;
}
