/** The boundary between the engine and its channel drivers (twilio-sms, twilio-voice, smtp, outbox). */

import type { ChannelConfig } from './config.ts';

/**
 * A channel's settings as schemas/config.schema.json defines them (channels/config.ts is generated from its channel
 * definition, as engine/types/config.ts from the whole file); values already env-resolved and possibly ''.
 */
export type { ChannelConfig };
export type DriverName = ChannelConfig['driver'];

/** One message for one recipient. Which fields matter depends on the driver. */
export interface OutgoingMessage {
  /** E.164 phone for sms/voice (re-checked with parsePhone), an e-mail address for smtp. */
  to: string;
  /** sms body; e-mail plain-text part. */
  text?: string;
  /** sms: one media URL (MMS). */
  mediaUrl?: string;
  /** voice: text spoken with TwiML <Say>. */
  say?: string;
  /** voice: a URL that returns TwiML (instead of `say`). */
  url?: string;
  /** voice: <Say voice="..."> (e.g. alice, Polly.Joanna). */
  voice?: string;
  /** voice: <Say language="..."> (e.g. en-US). */
  language?: string;
  /** e-mail subject. */
  subject?: string;
  /** e-mail HTML part. */
  html?: string;
  /** e-mail Reply-To. */
  replyTo?: string;
  /** Absolute URL Twilio should POST status changes to. */
  statusCallback?: string;
  /** the engine's id of this message: the same for every attempt (SMTP: its Message-ID) */
  id?: string;
}

export interface SendResult {
  /** Twilio SID, SMTP Message-ID, or the outbox's generated id. */
  providerId: string;
  /** The provider's first status: Twilio's (e.g. queued), 'sent' for smtp, 'stored' for outbox. */
  status: string;
}

export interface ChannelErrorOptions {
  transient: boolean;
  code?: string | number;
  /** HTTP status of the provider's answer (Twilio), when there was one. */
  status?: number;
}

/**
 * A send that failed. `transient` errors (network, timeouts, HTTP 429 and 5xx, SMTP 4xx) may succeed when
 * retried; permanent ones (invalid number, bad credentials, a rejected request, SMTP 5xx) will not.
 * `code` keeps the provider's code (Twilio error code such as 21211, SMTP reply code such as 550, a socket
 * error code such as ECONNREFUSED) or one of the driver's own: 'invalid-recipient', 'invalid-message', 'config'.
 * The message never contains credentials, and the provider's raw error is deliberately not attached.
 */
export class ChannelError extends Error {
  readonly transient: boolean;
  readonly code?: string | number;
  readonly status?: number;

  constructor(message: string, options: ChannelErrorOptions) {
    super(message);
    this.name = 'ChannelError';
    this.transient = options.transient;
    if (options.code !== undefined) this.code = options.code;
    if (options.status !== undefined) this.status = options.status;
  }
}

export interface ChannelDriver {
  readonly driver: DriverName;
  /** The configured channel name (sms, voice, email, ...). */
  readonly channel: string;
  /** May message someone who never wrote first (config canInitiate, default true). */
  readonly canInitiate: boolean;
  /** True when this is (or fell back to) the outbox driver. */
  readonly outbox: boolean;
  /** For the startup message, without secrets, e.g. "twilio-sms (from +15005550006)"; describeChannels uses it. */
  readonly description?: string;
  /** What a recipient is: a phone number (twilio-sms, twilio-voice, and the outbox standing in for them), an e-mail address, or anything. */
  readonly address: AddressKind;
  /**
   * The checks `send` makes before any provider call, without sending: the message as it would go out (a phone
   * recipient normalised to E.164), or a permanent ChannelError ('invalid-recipient', 'invalid-message').
   */
  prepare(message: OutgoingMessage): OutgoingMessage;
  send(message: OutgoingMessage): Promise<SendResult>;
  /**
   * Asks the provider whether it took `message` in a call made at or after `since` whose answer never arrived (the
   * process died, the call timed out): what it holds, or undefined when it has nothing. `taken`: provider ids already
   * adopted by other messages, never adopted twice. A driver whose provider cannot be asked has no `find`.
   */
  find?(message: OutgoingMessage, since: Date, taken: (providerId: string) => Promise<boolean>): Promise<SendResult | undefined>;
  close?(): Promise<void>;
}

export type AddressKind = 'phone' | 'email' | 'any';

export interface DriverOptions {
  /** The outbox hands each message here (the engine stores it and prints one line). */
  onOutbox?: (channel: string, message: OutgoingMessage) => void;
  /** Twilio request / SMTP connection timeout in milliseconds (default 15000). */
  timeoutMs?: number;
  /**
   * Twilio channels: the absolute URL Twilio posts delivery status changes to (<publicUrl><basePath>/_status/twilio),
   * sent with every message and call that does not name its own.
   */
  statusCallback?: string;
}

/** A provider's delivery status callback as the engine received it: its form-encoded body decoded. */
export interface StatusCallbackRequest {
  /** the URL the provider called: the engine's public URL, path and query */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  params: Record<string, string | string[]>;
}

/** What a status callback reports about one message or call. */
export interface StatusReport {
  /** the provider's id of the message or call (SendResult.providerId) */
  providerId: string;
  /** the new status, in lower case as the provider spells it (not yet checked against the engine's status syntax) */
  status: string;
  /** the provider's error, for the `status` event: its code and message */
  error: { code: string | null; message: string } | null;
  /** the error stored with the message: only when the provider gave an error code */
  messageError?: string;
}

/**
 * A provider's delivery status callbacks (Twilio's: the only provider that posts them), received on the engine's own
 * route <basePath><path>. The provider's module verifies and reads them; the engine stores what they report.
 */
export interface StatusCallbacks {
  /** the provider's name for answers and logs, e.g. Twilio */
  readonly provider: string;
  /** below the base path, e.g. /_status/twilio */
  readonly path: string;
  /**
   * Whether the provider of one of these channels signed the callback (read per callback: a config reload may change
   * their secrets). No signature, or no channel of this provider, never passes.
   */
  verify(channels: Iterable<ChannelConfig>, request: StatusCallbackRequest): boolean;
  /** The report of a verified callback, or why it is none. */
  parse(params: Record<string, string | string[]>): { ok: true; report: StatusReport } | { ok: false; reason: string };
}

// Shared helpers for the drivers.

/** Default Twilio request / SMTP connection timeout. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** A URL for messages and logs: user info removed. */
export function safeUrl(value: string): string {
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}

/** Replaces every secret (and its URL-encoded form) with ***. */
export function redact(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join('***');
  }
  return out;
}

