/**
 * outbox: accepts a message without sending it. The engine stores it (via onOutbox) and prints one line. It is
 * the driver a Twilio or SMTP channel falls back to when its credentials are not set; it then keeps that
 * channel's name and applies the same checks as the real driver (`check`), so an invalid number is refused in
 * development exactly as in production.
 */
import { randomUUID } from 'node:crypto';
import { ChannelError, type AddressKind, type ChannelDriver, type OutgoingMessage, type SendResult } from './types.ts';

export interface OutboxSettings {
  channel: string;
  canInitiate?: boolean;
  /** Why this channel runs as outbox (shown by describeChannels), e.g. "TWILIO credentials not set". */
  reason?: string;
  /** The real driver's message check; throws a ChannelError for a message the real driver would refuse. */
  check?: (message: OutgoingMessage) => OutgoingMessage;
  /** What recipients are: the real driver's kind (phone for Twilio, email for smtp); default any. */
  address?: AddressKind;
  onOutbox?: (channel: string, message: OutgoingMessage) => void;
}

/** The check of a plain outbox channel (no real driver behind it): some recipient. */
function requireRecipient(message: OutgoingMessage): OutgoingMessage {
  const to = typeof message.to === 'string' ? message.to.trim() : '';
  if (!to) throw new ChannelError('invalid recipient: no recipient given', { transient: false, code: 'invalid-recipient' });
  return { ...message, to };
}

/** How much of one field an outbox line shows: a long SMS (1,600 characters) whole, an e-mail's first screen. */
const SHOWN_CHARS = 2_000;

function quoted(value: string): string {
  const cut = value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}…` : value;
  return `${JSON.stringify(cut)}${value.length > SHOWN_CHARS ? ` (${value.length} characters)` : ''}`;
}

/**
 * What a message says, as an outbox line shows it: `subject "…" text "…"` for an e-mail (the HTML part by its
 * length), `text "…"` (and a media URL) for an SMS, `say "…"` or `url "…"` for a call. Newlines are escaped, so the
 * message stays on its line.
 */
export function outboxContent(message: OutgoingMessage): string {
  const parts: string[] = [];
  for (const field of ['subject', 'text', 'say', 'url', 'mediaUrl'] as const) {
    const value = message[field];
    if (value !== undefined && value !== '') parts.push(`${field} ${quoted(value)}`);
  }
  if (message.html) parts.push(`html (${message.html.length} characters)`);
  return parts.length > 0 ? parts.join(' ') : '(no content)';
}

/** Default when the engine passes no onOutbox: one line on stdout with what the message says. */
function printLine(channel: string, message: OutgoingMessage): void {
  console.log(`[outbox] ${channel} → ${message.to}: ${outboxContent(message)}`);
}

export class OutboxDriver implements ChannelDriver {
  readonly driver = 'outbox' as const;
  readonly outbox = true;
  readonly channel: string;
  readonly canInitiate: boolean;
  readonly description: string;
  readonly reason?: string;
  readonly address: AddressKind;
  private readonly check: (message: OutgoingMessage) => OutgoingMessage;
  private readonly onOutbox: (channel: string, message: OutgoingMessage) => void;

  constructor(settings: OutboxSettings) {
    this.channel = settings.channel;
    this.canInitiate = settings.canInitiate ?? true;
    this.reason = settings.reason;
    this.check = settings.check ?? requireRecipient;
    this.address = settings.address ?? 'any';
    this.onOutbox = settings.onOutbox ?? printLine;
    this.description = settings.reason ? `outbox (${settings.reason})` : 'outbox';
  }

  prepare(message: OutgoingMessage): OutgoingMessage {
    return this.check(message);
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const checked = this.check(message);
    this.onOutbox(this.channel, checked);
    return { providerId: `outbox-${randomUUID()}`, status: 'stored' };
  }
}
