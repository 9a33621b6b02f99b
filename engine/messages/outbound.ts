/**
 * Sending one message for a `send` step: check it, store it, call the provider (retrying transient failures), and
 * record what happened. The message row is written before the provider is called, so that a resumed execution
 * knows what it attempted: a step whose message already has a provider id is never sent again.
 */
import { ChannelError, type ChannelDriver, type OutgoingMessage } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { Message, Store } from '../store/types.ts';
import type { SendOutcome } from '../steps/types.ts';
import { redactSecrets } from '../common/redact.ts';
import { normalisePhone } from '../contacts/phone.ts';
import { FAILED, SENDING, SENDING_RANK, statusRank } from './status.ts';

/** How transient provider failures (network, HTTP 429 and 5xx, SMTP 4xx) are retried. */
export interface RetryPolicy {
  /** provider calls at most, the first included */
  attempts: number;
  /** wait before the 2nd, 3rd, ... call; the last value repeats */
  delaysMs: number[];
  /**
   * A retry is made only when it would likely end within this time from the first call: the time spent, the wait and
   * the longest call so far (a call that timed out after 15 s is not tried again in a 20 s budget). A step must stay
   * within its flow's patience: a sync flow answers after 30 s by default.
   */
  budgetMs: number;
}

/**
 * Three calls, 0.3 s and 1.2 s apart, and never a retry past 20 s. Sync flows wait 30 s by default and async
 * executions keep their lease alive, so a send with retries ends well within either.
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, delaysMs: [300, 1_200], budgetMs: 20_000 };

/** A message that could not be sent: the step fails with this (its message id included when it was stored). */
export class MessageFailed extends Error {
  readonly messageId: string | null;
  readonly code?: string | number;
  readonly transient: boolean;

  constructor(message: string, options: { messageId: string | null; code?: string | number; transient?: boolean }) {
    super(message);
    this.name = 'MessageFailed';
    this.messageId = options.messageId;
    if (options.code !== undefined) this.code = options.code;
    this.transient = options.transient ?? false;
  }
}

export interface OutboundDeps {
  store: Store;
  /** the live drivers by channel name (swapped on a config reload) */
  channels: Map<string, ChannelDriver>;
  /** the live configuration: its channel credentials are kept out of stored messages */
  config?: EngineConfig;
  newId(prefix: string): string;
  now(): Date;
  retry: RetryPolicy;
  sleep?(ms: number): Promise<void>;
}

export interface OutboundRequest {
  flowId: string | null;
  executionId: string;
  stepId: string;
  /** the execution's contact, when it has one */
  contactId: string | null;
  channel: string;
  message: Record<string, string | undefined>;
  /** the flow's ${env:} values: kept out of the stored content */
  secrets: string[];
  /** the flow's identify.defaultCountry: a national number in `to` is read with it */
  defaultCountry?: string;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The credentials in the channel settings (Twilio auth tokens, SMTP URLs and their passwords). */
export function channelSecrets(config: EngineConfig | undefined): string[] {
  const out = new Set<string>();
  for (const channel of Object.values(config?.channels ?? {})) {
    if (channel.authToken) out.add(channel.authToken);
    if (channel.url) {
      try {
        const password = new URL(channel.url).password;
        if (password) (out.add(password), out.add(decodeURIComponent(password)));
      } catch {
        /* not a URL: nothing to take out of it */
      }
    }
  }
  return [...out].filter((s) => s.length >= 4);
}

function outcome(message: Message): SendOutcome {
  return { messageId: message.id, providerId: message.providerId, status: message.status };
}

/** Sends one message of one execution step; resolves with the stored message's id and status, or throws MessageFailed. */
export async function sendMessage(deps: OutboundDeps, request: OutboundRequest): Promise<SendOutcome> {
  // a resumed execution: the provider already took this step's message, so it is not sent twice
  const earlier = await deps.store.messageForStep(request.executionId, request.stepId);
  if (earlier?.providerId) return outcome(earlier);

  const secrets = [...request.secrets, ...channelSecrets(deps.config)];
  const driver = deps.channels.get(request.channel);
  const write = rowWriter(deps, request, driver, redactSecrets(storedContent(request.message), secrets), earlier);
  const checked = await checkMessage(deps, request, driver, secrets);
  if (!checked.ok) {
    const failed = await write({ to: checked.to, contactId: checked.contactId, status: FAILED, rank: statusRank(FAILED)!, error: checked.error });
    throw new MessageFailed(checked.error, { messageId: failed.id, code: checked.code });
  }
  const stored = await write({ to: checked.message.to, contactId: checked.contactId, status: SENDING, rank: SENDING_RANK, error: null });
  const message = { ...checked.message, id: stored.id };
  // an attempt the process died in (left `sending`): the provider may have taken it before the answer was lost
  const interrupted = earlier?.status === SENDING ? new Date(earlier.updatedAt) : undefined;
  const adopted = interrupted && (await adoptTaken(deps, request, checked.driver, message, stored, interrupted, secrets));
  return adopted || callProvider(deps, request, checked.driver, message, stored, secrets);
}

/**
 * Reconciles a send whose answer never came (the process died in the call, the call timed out) before it is made
 * again: the provider is asked whether it took the message since `since`, and a record it holds is adopted; only
 * when it has none is the message sent again. A provider that cannot be asked now fails the step (sending anyway
 * could send twice). A driver whose provider cannot be asked (SMTP) has no `find`: its message keeps its id.
 */
async function adoptTaken(
  deps: OutboundDeps,
  request: OutboundRequest,
  driver: ChannelDriver,
  message: OutgoingMessage,
  stored: Message,
  since: Date,
  secrets: string[],
): Promise<SendOutcome | undefined> {
  if (!driver.find) return undefined;
  const { store } = deps;
  const taken = async (providerId: string) => (await store.messagesByProviderId(providerId)).some((m) => m.id !== stored.id);
  let found: Awaited<ReturnType<NonNullable<ChannelDriver['find']>>>;
  try {
    found = await driver.find(message, since, taken);
  } catch (err) {
    const error = `channel ${request.channel}: could not ask the provider whether it took an interrupted send, so it is not sent again: ${redact((err as Error).message, secrets)}`;
    await store.updateMessage(stored.id, { status: FAILED, statusRank: statusRank(FAILED), error }, deps.now().toISOString(), 'engine');
    throw new MessageFailed(error, { messageId: stored.id, code: 'reconcile', transient: true });
  }
  if (!found) return undefined;
  const update = { providerId: found.providerId, status: found.status, statusRank: statusRank(found.status) ?? SENDING_RANK + 1, error: null };
  return outcome((await store.updateMessage(stored.id, update, deps.now().toISOString(), 'engine'))!);
}

/** What is stored of a message: every field given but the recipient (a column of its own). */
function storedContent(message: OutboundRequest['message']): Record<string, string> {
  const given: Record<string, string> = {};
  for (const [field, value] of Object.entries(message)) if (value !== undefined && field !== 'to') given[field] = value;
  return given;
}

interface RowState {
  to: string | null;
  contactId: string | null;
  status: string;
  rank: number;
  error: string | null;
}

/** Stores the step's message with a state: a new row, or the row an interrupted attempt left (`earlier`), taken over. */
function rowWriter(
  deps: OutboundDeps,
  request: OutboundRequest,
  driver: ChannelDriver | undefined,
  content: Record<string, string>,
  earlier: Message | undefined,
): (state: RowState) => Promise<Message> {
  const at = () => deps.now().toISOString();
  return async (state) => {
    if (earlier) {
      // the engine's own row from an interrupted attempt: its state is set whatever status it was left in
      const update = { to: state.to, contactId: state.contactId, status: state.status, statusRank: state.rank, error: state.error, force: true };
      return (await deps.store.updateMessage(earlier.id, update, at(), 'engine'))!;
    }
    const { message } = await deps.store.insertMessage(
      {
        id: deps.newId('msg'),
        direction: 'outbound',
        channel: request.channel,
        driver: driver?.driver ?? null,
        contactId: state.contactId,
        to: state.to,
        from: null,
        content,
        providerId: null,
        status: state.status,
        statusRank: state.rank,
        error: state.error,
        flowId: request.flowId,
        executionId: request.executionId,
        stepId: request.stepId,
        logId: null,
      },
      at(),
    );
    return message;
  };
}

type Checked =
  | { ok: true; driver: ChannelDriver; message: OutgoingMessage; contactId: string | null }
  | { ok: false; to: string | null; contactId: string | null; error: string; code: string | number | undefined };

/**
 * The checks before any provider call: the channel exists, the driver takes the message (a phone recipient normalised
 * to E.164), and a channel that cannot start a conversation is answering someone who wrote on it first.
 */
async function checkMessage(deps: OutboundDeps, request: OutboundRequest, driver: ChannelDriver | undefined, secrets: string[]): Promise<Checked> {
  const rawTo = request.message.to?.trim() || null;
  if (!driver) return { ok: false, to: rawTo, contactId: request.contactId, error: `channel "${request.channel}" is not configured`, code: 'config' };
  let prepared: OutgoingMessage;
  try {
    prepared = driver.prepare({ ...request.message, to: recipient(driver, rawTo, request.defaultCountry) });
  } catch (err) {
    const e = err instanceof ChannelError ? err : new ChannelError((err as Error).message, { transient: false });
    return { ok: false, to: rawTo, contactId: request.contactId, error: `channel ${request.channel}: ${redact(e.message, secrets)}`, code: e.code };
  }
  const to = prepared.to;
  const contactId = request.contactId ?? (await contactAt(deps.store, driver, to));
  if (!driver.canInitiate && !(await deps.store.hasInboundMessage(request.channel, { contactId, from: to }))) {
    const error = `channel ${request.channel} cannot start a conversation (canInitiate: false) and ${to} has not sent a message on it; it can only answer`;
    return { ok: false, to, contactId, error, code: 'not-opened' };
  }
  return { ok: true, driver, message: prepared, contactId };
}

/**
 * The recipient as the driver gets it: a phone number normalised to E.164 as contacts' phones are (the driver checks
 * it again), a national one read with the flow's defaultCountry as identify reads it (naming that setting when the
 * flow has none); other addresses as given.
 */
function recipient(driver: ChannelDriver, to: string | null, defaultCountry: string | undefined): string {
  if (driver.address !== 'phone') return to ?? '';
  const phone = normalisePhone(to ?? '', defaultCountry);
  if (!phone.ok) throw new ChannelError(`invalid recipient: ${phone.reason}`, { transient: false, code: 'invalid-recipient' });
  return phone.e164;
}

/** Calls the provider, retrying transient failures within the policy, and records the outcome on the stored message. */
async function callProvider(
  deps: OutboundDeps,
  request: OutboundRequest,
  driver: ChannelDriver,
  prepared: OutgoingMessage,
  stored: Message,
  secrets: string[],
): Promise<SendOutcome> {
  const { store } = deps;
  const at = () => deps.now().toISOString();
  const started = Date.now();
  let longest = 0;
  const sleep = deps.sleep ?? wait;
  for (let attempt = 1; ; attempt++) {
    const callStarted = Date.now();
    let sent: Awaited<ReturnType<ChannelDriver['send']>>;
    try {
      sent = await driver.send(prepared);
    } catch (err) {
      const e = err instanceof ChannelError ? err : new ChannelError((err as Error)?.message ?? String(err), { transient: false });
      const message = redact(e.message, secrets);
      const delay = deps.retry.delaysMs[Math.min(attempt - 1, deps.retry.delaysMs.length - 1)] ?? 0;
      longest = Math.max(longest, Date.now() - callStarted);
      const retry = e.transient && attempt < deps.retry.attempts && Date.now() - started + delay + longest <= deps.retry.budgetMs;
      if (retry) {
        await store.updateMessage(stored.id, { error: `attempt ${attempt}: ${message}`, attempts: stored.attempts + attempt }, at(), 'engine');
        await sleep(delay);
        // no answer at all (a timeout, a dropped connection), unlike a 429 or 5xx: the provider may have taken it
        const adopted = e.status === undefined && (await adoptTaken(deps, request, driver, prepared, stored, new Date(callStarted), secrets));
        if (adopted) return adopted;
        continue;
      }
      // given up on a call that got no answer: what the provider took is adopted rather than reported failed
      const taken = e.status === undefined && (await adoptTaken(deps, request, driver, prepared, stored, new Date(started), secrets));
      if (taken) return taken;
      const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
      const error = `channel ${request.channel}: ${message}${tries}`;
      await store.updateMessage(stored.id, { status: FAILED, statusRank: statusRank(FAILED), error, attempts: stored.attempts + attempt }, at(), 'engine');
      throw new MessageFailed(error, { messageId: stored.id, code: e.code, transient: e.transient });
    }
    // outside the provider call's error handling: a store failure here must never look like a send to retry
    const done = await store.updateMessage(
      stored.id,
      { providerId: sent.providerId, status: sent.status, statusRank: statusRank(sent.status) ?? SENDING_RANK + 1, error: null, attempts: stored.attempts + attempt },
      at(),
      'engine',
    );
    return outcome(done!);
  }
}

/** The contact a recipient address belongs to, when the execution has none. */
async function contactAt(store: Store, driver: ChannelDriver, to: string): Promise<string | null> {
  if (driver.address === 'phone') return (await store.findContact({ phone: to }))?.id ?? null;
  if (driver.address === 'email' || to.includes('@')) return (await store.findContact({ email: to.toLowerCase() }))?.id ?? null;
  return null;
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}
