/** twilio-sms: Programmable Messaging through the official twilio client (`messages.create`). */
import { recipientPhone } from './phone.ts';
import { createTwilioClient, RECONCILE_PAGE_SIZE, twilioError, twilioSecrets, unclaimed, type TwilioClient, type TwilioClientSettings } from './twilio-client.ts';
import { ChannelError, safeUrl, type ChannelDriver, type OutgoingMessage, type SendResult } from './types.ts';

export interface TwilioSmsSettings extends TwilioClientSettings {
  channel: string;
  from?: string;
  messagingServiceSid?: string;
  canInitiate?: boolean;
  /** where Twilio posts status changes of messages that do not name their own statusCallback */
  statusCallback?: string;
}

/**
 * Checks an SMS before any provider call: a valid phone number (normalised to E.164) and a text or a media URL.
 * Shared with the outbox that stands in for this driver, so both refuse the same messages.
 */
export function prepareSms(message: OutgoingMessage): OutgoingMessage {
  const to = recipientPhone(message.to);
  if (!message.text && !message.mediaUrl) {
    throw new ChannelError('an SMS needs text or mediaUrl', { transient: false, code: 'invalid-message' });
  }
  return { ...message, to };
}

export class TwilioSmsDriver implements ChannelDriver {
  readonly driver = 'twilio-sms' as const;
  readonly outbox = false;
  readonly channel: string;
  readonly canInitiate: boolean;
  readonly description: string;
  readonly address = 'phone' as const;
  private readonly client: TwilioClient;
  private readonly statusCallback?: string;
  private readonly from?: string;
  private readonly messagingServiceSid?: string;
  private readonly secrets: string[];

  constructor(settings: TwilioSmsSettings) {
    this.channel = settings.channel;
    this.canInitiate = settings.canInitiate ?? true;
    this.from = settings.from || undefined;
    this.messagingServiceSid = settings.messagingServiceSid || undefined;
    this.statusCallback = settings.statusCallback || undefined;
    if (!this.from && !this.messagingServiceSid) {
      throw new ChannelError('twilio-sms needs from or messagingServiceSid', { transient: false, code: 'config' });
    }
    this.client = createTwilioClient(settings);
    this.secrets = twilioSecrets(settings);
    const sender = this.messagingServiceSid ? `messaging service ${this.messagingServiceSid}` : `from ${this.from}`;
    this.description = `twilio-sms (${sender}${settings.baseUrl ? `, API ${safeUrl(settings.baseUrl)}` : ''})`;
  }

  prepare(message: OutgoingMessage): OutgoingMessage {
    return prepareSms(message);
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const checked = prepareSms(message);
    const statusCallback = checked.statusCallback ?? this.statusCallback;
    try {
      const created = await this.client.messages.create({
        to: checked.to,
        // Both may be set: Twilio then sends from `from` with the messaging service's features.
        ...(this.from ? { from: this.from } : {}),
        ...(this.messagingServiceSid ? { messagingServiceSid: this.messagingServiceSid } : {}),
        ...(checked.text ? { body: checked.text } : {}),
        ...(checked.mediaUrl ? { mediaUrl: [checked.mediaUrl] } : {}),
        ...(statusCallback ? { statusCallback } : {}),
      });
      return { providerId: created.sid, status: String(created.status) };
    } catch (err) {
      throw twilioError(err, 'SMS', this.secrets);
    }
  }

  /** Twilio's newest messages to the recipient (from this sender), matched by text: a trial account prefixes it. */
  async find(message: OutgoingMessage, since: Date, taken: (providerId: string) => Promise<boolean>): Promise<SendResult | undefined> {
    const checked = prepareSms(message);
    const text = checked.text ?? '';
    try {
      const first = await this.client.messages.page({ to: checked.to, ...(this.from ? { from: this.from } : {}), pageSize: RECONCILE_PAGE_SIZE });
      return await unclaimed(first, since, (record) => (text === '' ? !record.body : (record.body ?? '').endsWith(text)), taken);
    } catch (err) {
      throw twilioError(err, 'SMS lookup', this.secrets);
    }
  }
}
