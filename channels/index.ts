/**
 * Channel drivers: build one per configured channel (`createDriver`), describe them for the startup message
 * (`describeChannels`). A Twilio or SMTP channel whose credentials are missing runs as outbox. What the engine asks
 * about providers besides sending (status callbacks, inbound message ids, what a channel's addresses are) is answered
 * here too, so that the engine never names a driver.
 */
import { OutboxDriver } from './outbox.ts';
import { prepareEmail, SmtpDriver } from './smtp.ts';
import { missingTwilioSettings } from './twilio-client.ts';
import { prepareSms, TwilioSmsDriver } from './twilio-sms.ts';
import { twilioInboundId, twilioStatusCallbacks } from './twilio-status.ts';
import { prepareCall, TwilioVoiceDriver } from './twilio-voice.ts';
import {
  ChannelError, type AddressKind, type ChannelConfig, type ChannelDriver, type DriverName, type DriverOptions, type OutgoingMessage, type StatusCallbacks,
} from './types.ts';

export {
  ChannelError,
  type AddressKind,
  type ChannelConfig,
  type ChannelDriver,
  type ChannelErrorOptions,
  type DriverName,
  type DriverOptions,
  type OutgoingMessage,
  type SendResult,
  type StatusCallbackRequest,
  type StatusCallbacks,
  type StatusReport,
} from './types.ts';
export { parsePhone, type PhoneCheck } from './phone.ts';
export { OutboxDriver, outboxContent } from './outbox.ts';
export { SmtpDriver } from './smtp.ts';
export { TwilioSmsDriver } from './twilio-sms.ts';
export { TwilioVoiceDriver, sayTwiml, escapeXml } from './twilio-voice.ts';

/** Plain outbox channels with a conventional name check messages like the driver the name stands for. */
const STAND_INS: Record<string, { check: (message: OutgoingMessage) => OutgoingMessage; address: AddressKind }> = {
  sms: { check: prepareSms, address: 'phone' },
  voice: { check: (message) => prepareCall(message).message, address: 'phone' },
  email: { check: prepareEmail, address: 'email' },
};

/** The delivery status callbacks providers post back (Twilio's, for twilio-sms and twilio-voice). */
export const statusCallbacks: StatusCallbacks = twilioStatusCallbacks;

/**
 * The provider's id of an inbound message, from the webhook body the provider posted (Twilio's MessageSid, SmsSid or
 * CallSid), or null. Read whatever the channel's driver: an outbox channel stands in for the provider in development.
 */
export function inboundMessageId(body: unknown): string | null {
  return twilioInboundId(body);
}

const ADDRESSES: Record<DriverName, AddressKind> = { 'twilio-sms': 'phone', 'twilio-voice': 'phone', smtp: 'email', outbox: 'any' };

/**
 * What the addresses of a channel with these settings are (its recipients, and the senders of its inbound
 * messages): phone numbers (Twilio), e-mail addresses (smtp), or anything (outbox, or no such channel).
 */
export function channelAddress(config: ChannelConfig | undefined): AddressKind {
  return (config && ADDRESSES[config.driver]) ?? 'any';
}

/** '' and whitespace-only settings (an unset ${env:X:-}) count as missing. */
function setting(value: string | undefined): string | undefined {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Builds the driver for one configured channel. Falls back to the outbox driver (keeping the channel name and
 * the real driver's message checks) when a Twilio channel lacks accountSid/authToken or its sender, or an smtp
 * channel lacks url or from. Malformed settings that are present (an accountSid that is not AC + 32 hex digits,
 * a baseUrl or SMTP url that is not a URL, an unknown driver) throw a ChannelError with code 'config'. A plain
 * outbox channel named sms, voice or email (the channels of an engine without a channels section) applies the
 * checks of twilio-sms, twilio-voice or smtp.
 */
export function createDriver(channel: string, config: ChannelConfig, options: DriverOptions = {}): ChannelDriver {
  const canInitiate = config.canInitiate ?? true;
  const outbox = (reason: string | undefined, check?: (message: OutgoingMessage) => OutgoingMessage, address?: AddressKind) =>
    new OutboxDriver({ channel, canInitiate, reason, check, address, onOutbox: options.onOutbox });
  const twilio = {
    channel,
    canInitiate,
    accountSid: setting(config.accountSid) ?? '',
    authToken: setting(config.authToken) ?? '',
    from: setting(config.from),
    messagingServiceSid: setting(config.messagingServiceSid),
    baseUrl: setting(config.baseUrl),
    timeoutMs: options.timeoutMs,
    statusCallback: setting(options.statusCallback),
  };
  try {
    switch (config.driver) {
      case 'twilio-sms': {
        const missing = missingTwilioSettings(twilio, false);
        if (missing) return outbox(missing, prepareSms, 'phone');
        return new TwilioSmsDriver(twilio);
      }
      case 'twilio-voice': {
        const missing = missingTwilioSettings(twilio, true);
        if (missing) return outbox(missing, (message) => prepareCall(message).message, 'phone');
        return new TwilioVoiceDriver({ ...twilio, from: twilio.from as string });
      }
      case 'smtp': {
        const url = setting(config.url);
        const from = setting(config.from);
        if (!url) return outbox('SMTP url not set', prepareEmail, 'email');
        if (!from) return outbox('from not set', prepareEmail, 'email');
        return new SmtpDriver({ channel, canInitiate, url, from, timeoutMs: options.timeoutMs });
      }
      case 'outbox': {
        // the channels an engine without a channels section has (sms, voice, email) refuse what their real drivers
        // would: a development setup should not accept "12345" as a phone number
        const standIn = STAND_INS[channel];
        return standIn ? outbox(undefined, standIn.check, standIn.address) : outbox(undefined);
      }
      default:
        throw new ChannelError(`unknown driver ${JSON.stringify((config as { driver?: unknown }).driver)}`, {
          transient: false,
          code: 'config',
        });
    }
  } catch (err) {
    if (err instanceof ChannelError) {
      throw new ChannelError(`channel ${channel}: ${err.message}`, { transient: err.transient, code: err.code, status: err.status });
    }
    throw err;
  }
}

/**
 * One line per channel for the startup message, e.g. "sms: outbox (TWILIO credentials not set)" or
 * "email: smtp (smtp://mail.example.com:587, from bookings@example.com)". Never contains credentials.
 */
export function describeChannels(drivers: Iterable<ChannelDriver> | Record<string, ChannelDriver>): string[] {
  const list = Symbol.iterator in drivers ? [...(drivers as Iterable<ChannelDriver>)] : Object.values(drivers);
  return list.map((d) => `${d.channel}: ${d.description ?? d.driver}${d.canInitiate ? '' : ' [replies only]'}`);
}
