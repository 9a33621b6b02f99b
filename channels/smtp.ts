/** smtp: e-mail through nodemailer's SMTP transport, configured by an smtp:// or smtps:// URL. */
import { createRequire } from 'node:module';
import type Nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { ChannelError, DEFAULT_TIMEOUT_MS, redact, safeUrl, type ChannelDriver, type OutgoingMessage, type SendResult } from './types.ts';

const require = createRequire(import.meta.url);
let nodemailer: typeof Nodemailer | undefined;

/** nodemailer takes about 11 MB in a bare `node`: required when the first SMTP driver is built, not at start. */
function mailer(): typeof Nodemailer {
  return (nodemailer ??= require('nodemailer') as typeof Nodemailer);
}

export interface SmtpSettings {
  channel: string;
  /** smtp://user:pass@host:port or smtps://...; nodemailer options may follow as query parameters. */
  url: string;
  from: string;
  canInitiate?: boolean;
  timeoutMs?: number;
}

/**
 * Checks an e-mail before any provider call: a recipient, and a subject or some content. Shared with the
 * outbox that stands in for this driver. Address syntax is left to nodemailer (it accepts "Name <a@b>" and lists).
 */
export function prepareEmail(message: OutgoingMessage): OutgoingMessage {
  const to = typeof message.to === 'string' ? message.to.trim() : '';
  if (!to || !to.includes('@')) {
    throw new ChannelError(`invalid recipient: ${to ? `"${to}" is not an e-mail address` : 'no e-mail address given'}`, {
      transient: false,
      code: 'invalid-recipient',
    });
  }
  if (!message.subject && !message.text && !message.html) {
    throw new ChannelError('an e-mail needs a subject, text or html', { transient: false, code: 'invalid-message' });
  }
  return { ...message, to };
}

/** The password from an SMTP URL (decoded and raw), to scrub from error text. */
function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return [];
    return [parsed.password, decodeURIComponent(parsed.password)];
  } catch {
    return [url];
  }
}

// nodemailer error codes that mean "could not talk to the server" rather than "the server said no".
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPROTOCOL']);

/**
 * Maps a nodemailer failure: an SMTP reply 4xx is transient and 5xx permanent (code = the reply code); without a
 * reply, connection problems (refused, timeout, socket, DNS) are transient (code = nodemailer's code), anything
 * else (EENVELOPE without reply, EMESSAGE, ETLS, EAUTH without reply, ...) permanent.
 */
export function smtpError(err: unknown, secrets: string[]): ChannelError {
  if (err instanceof ChannelError) return err;
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown; syscall?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = redact(typeof e.message === 'string' ? e.message : 'unknown error', secrets);
  if (typeof e.responseCode === 'number' && e.responseCode >= 400 && e.responseCode < 600) {
    const transient = e.responseCode < 500;
    return new ChannelError(`SMTP send failed: the server answered ${e.responseCode}: ${message}`, {
      transient,
      code: e.responseCode,
    });
  }
  if ((code && CONNECTION_CODES.has(code)) || typeof e.syscall === 'string') {
    return new ChannelError(`SMTP send failed: server not reachable: ${message}`, { transient: true, code });
  }
  return new ChannelError(`SMTP send failed: ${message}`, { transient: false, code });
}

export class SmtpDriver implements ChannelDriver {
  readonly driver = 'smtp' as const;
  readonly outbox = false;
  readonly channel: string;
  readonly canInitiate: boolean;
  readonly description: string;
  readonly address = 'email' as const;
  private readonly transport: Transporter;
  private readonly from: string;
  private readonly secrets: string[];
  private readonly messageIdDomain: string;

  constructor(settings: SmtpSettings) {
    this.channel = settings.channel;
    this.canInitiate = settings.canInitiate ?? true;
    this.from = settings.from;
    this.secrets = urlSecrets(settings.url);
    let protocol = '';
    try {
      protocol = new URL(settings.url).protocol;
    } catch {
      /* reported below */
    }
    if (protocol !== 'smtp:' && protocol !== 'smtps:') {
      throw new ChannelError(`the SMTP url must be smtp://... or smtps://..., got ${safeUrl(settings.url)}`, {
        transient: false,
        code: 'config',
      });
    }
    const timeout = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // URL query parameters (e.g. ?socketTimeout=60000) override these defaults: nodemailer merges URL data last.
    this.transport = mailer().createTransport({
      url: settings.url,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: Math.max(timeout, 30_000),
    } as Parameters<typeof Nodemailer.createTransport>[0]);
    this.description = `smtp (${safeUrl(settings.url)}, from ${this.from})`;
    this.messageIdDomain = /@([^\s>]+)>?\s*$/.exec(this.from)?.[1] ?? 'hooks.invalid';
  }

  prepare(message: OutgoingMessage): OutgoingMessage {
    return prepareEmail(message);
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const checked = prepareEmail(message);
    try {
      const info = await this.transport.sendMail({
        from: this.from,
        to: checked.to,
        ...(checked.subject !== undefined ? { subject: checked.subject } : {}),
        ...(checked.text !== undefined ? { text: checked.text } : {}),
        ...(checked.html !== undefined ? { html: checked.html } : {}),
        ...(checked.replyTo ? { replyTo: checked.replyTo } : {}),
        // one Message-ID per message, whatever the attempt: an SMTP server cannot be asked what it took, so a send
        // made again after a crash carries the same id, and receivers and relays can tell it is the same e-mail
        ...(checked.id ? { messageId: `<${checked.id}@${this.messageIdDomain}>` } : {}),
      });
      return { providerId: String(info.messageId), status: 'sent' };
    } catch (err) {
      throw smtpError(err, this.secrets);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
