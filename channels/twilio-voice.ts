/** twilio-voice: outgoing calls through the official twilio client (`calls.create`), TwiML <Say> or a TwiML URL. */
import { recipientPhone } from './phone.ts';
import { createTwilioClient, RECONCILE_PAGE_SIZE, twilioError, twilioSecrets, unclaimed, type TwilioClient, type TwilioClientSettings } from './twilio-client.ts';
import { ChannelError, safeUrl, type ChannelDriver, type OutgoingMessage, type SendResult } from './types.ts';

/** Twilio's limit for the Twiml parameter. */
export const MAX_TWIML_LENGTH = 4000;

/** Call progress events reported to statusCallback. */
export const CALL_STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];

export interface TwilioVoiceSettings extends TwilioClientSettings {
  channel: string;
  from: string;
  canInitiate?: boolean;
  /** where Twilio posts progress of calls that do not name their own statusCallback */
  statusCallback?: string;
}

// Characters XML 1.0 does not allow at all (control characters other than tab, LF, CR; lone surrogates; U+FFFE/F).
const XML_INVALID = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for XML content and double-quoted attributes; drops characters XML cannot carry. */
export function escapeXml(text: string): string {
  return text
    .replace(XML_INVALID, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<Response><Say voice=".." language="..">text</Say></Response>`, everything escaped. */
export function sayTwiml(text: string, voice?: string, language?: string): string {
  const attrs = `${voice ? ` voice="${escapeXml(voice)}"` : ''}${language ? ` language="${escapeXml(language)}"` : ''}`;
  return `<Response><Say${attrs}>${escapeXml(text)}</Say></Response>`;
}

export type CallInstructions = { twiml: string } | { url: string };

/**
 * Checks a call before any provider call: a valid phone number and exactly one of `say` (spoken with <Say>) or
 * `url` (returns TwiML). Shared with the outbox that stands in for this driver.
 */
export function prepareCall(message: OutgoingMessage): { message: OutgoingMessage; instructions: CallInstructions } {
  const to = recipientPhone(message.to);
  const say = message.say ?? '';
  const url = message.url ?? '';
  if (say && url) {
    throw new ChannelError('a call takes either say or url, not both', { transient: false, code: 'invalid-message' });
  }
  if (!say && !url) {
    throw new ChannelError('a call needs say or url', { transient: false, code: 'invalid-message' });
  }
  if (url) return { message: { ...message, to }, instructions: { url } };
  const twiml = sayTwiml(say, message.voice, message.language);
  if (twiml.length > MAX_TWIML_LENGTH) {
    throw new ChannelError(`the TwiML for say is ${twiml.length} characters; Twilio accepts at most ${MAX_TWIML_LENGTH}`, {
      transient: false,
      code: 'invalid-message',
    });
  }
  return { message: { ...message, to }, instructions: { twiml } };
}

export class TwilioVoiceDriver implements ChannelDriver {
  readonly driver = 'twilio-voice' as const;
  readonly outbox = false;
  readonly channel: string;
  readonly canInitiate: boolean;
  readonly description: string;
  readonly address = 'phone' as const;
  private readonly client: TwilioClient;
  private readonly statusCallback?: string;
  private readonly from: string;
  private readonly secrets: string[];

  constructor(settings: TwilioVoiceSettings) {
    this.channel = settings.channel;
    this.canInitiate = settings.canInitiate ?? true;
    if (!settings.from) throw new ChannelError('twilio-voice needs from', { transient: false, code: 'config' });
    this.from = settings.from;
    this.statusCallback = settings.statusCallback || undefined;
    this.client = createTwilioClient(settings);
    this.secrets = twilioSecrets(settings);
    this.description = `twilio-voice (from ${this.from}${settings.baseUrl ? `, API ${safeUrl(settings.baseUrl)}` : ''})`;
  }

  prepare(message: OutgoingMessage): OutgoingMessage {
    return prepareCall(message).message;
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const { message: checked, instructions } = prepareCall(message);
    const statusCallback = checked.statusCallback ?? this.statusCallback;
    try {
      const call = await this.client.calls.create({
        to: checked.to,
        from: this.from,
        ...instructions,
        ...(statusCallback ? { statusCallback, statusCallbackMethod: 'POST', statusCallbackEvent: CALL_STATUS_EVENTS } : {}),
      });
      return { providerId: call.sid, status: String(call.status) };
    } catch (err) {
      throw twilioError(err, 'call', this.secrets);
    }
  }

  /** Twilio's newest calls from this number to the recipient (a call has no text to match: the oldest one unadopted). */
  async find(message: OutgoingMessage, since: Date, taken: (providerId: string) => Promise<boolean>): Promise<SendResult | undefined> {
    const { message: checked } = prepareCall(message);
    try {
      const first = await this.client.calls.page({ to: checked.to, from: this.from, pageSize: RECONCILE_PAGE_SIZE });
      return await unclaimed(first, since, () => true, taken);
    } catch (err) {
      throw twilioError(err, 'call lookup', this.secrets);
    }
  }
}
