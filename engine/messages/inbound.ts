/**
 * Inbound messages: a flow whose trigger declares `inbound: { channel, from, text }` receives messages the contact
 * sent (Twilio's inbound SMS webhook is the model). Each is stored as a message from the contact; the contact is
 * the one the flow identified or, for a flow without `identify:`, the one with the sender's phone (created when
 * new). A channel that cannot start conversations may then answer that contact.
 */
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { Scope } from '../common/scope.ts';
import type { Contact, Message, Store } from '../store/types.ts';
import { normalisePhone } from '../contacts/phone.ts';
import { redactSecrets } from '../common/redact.ts';
import { RECEIVED, statusRank } from './status.ts';

export interface InboundDeps {
  config: EngineConfig;
  store: Store;
  newId(prefix: string): string;
  now(): Date;
}

export interface InboundResult {
  /** the contact found or created from the sender (only when the flow has no identify:) */
  contact: Contact | null;
  how: 'phone' | 'email' | 'created' | null;
  message: Message;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Twilio's id of the inbound message (MessageSid, SmsSid) or call (CallSid), when the body carries one. */
function providerIdOf(body: unknown): string | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  for (const key of ['MessageSid', 'SmsSid', 'CallSid']) if (typeof b[key] === 'string' && b[key]) return b[key] as string;
  return null;
}

/** Whether senders on this channel are phone numbers: Twilio drivers, or an outbox channel given a phone-like sender. */
function phoneChannel(config: EngineConfig, channel: string, from: string): boolean {
  const driver = config.channels[channel]?.driver;
  if (driver === 'twilio-sms' || driver === 'twilio-voice') return true;
  if (driver === 'smtp') return false;
  return !from.includes('@');
}

/**
 * Records the inbound message of one request, after the flow's own identification (`contactId`: whom it found).
 * Idempotent for a redelivered webhook that carries the provider's message id.
 */
export async function recordInbound(
  deps: InboundDeps,
  flow: CompiledFlow,
  scope: Scope,
  bindings: Record<string, unknown>,
  logId: string,
): Promise<InboundResult | undefined> {
  const inbound = flow.inbound;
  if (!inbound) return undefined;
  const given = text(await inbound.from.evaluate(scope, bindings));
  const body = inbound.text ? await inbound.text.evaluate(scope, bindings) : undefined;
  let from: string | null = given ?? null;
  let contact: Contact | null = null;
  let how: InboundResult['how'] = null;

  if (given && phoneChannel(deps.config, inbound.channel, given)) {
    const phone = normalisePhone(given, flow.identify?.defaultCountry);
    if (phone.ok) {
      from = phone.e164;
      // without identify:, the sender is the contact: found by phone, or created (one contact per phone under races)
      if (!flow.identify && !scope.contact) {
        const found = await deps.store.findContact({ phone: phone.e164 });
        if (found) (contact = found), (how = 'phone');
        else {
          const created = await deps.store.createContact({ id: deps.newId('ct'), phone: phone.e164, email: null }, deps.now().toISOString());
          contact = created.contact;
          how = created.created ? 'created' : 'phone';
        }
      }
    }
  } else if (given && EMAIL.test(given)) {
    from = given.toLowerCase();
    if (!flow.identify && !scope.contact) {
      const found = await deps.store.findContact({ email: from });
      if (found) (contact = found), (how = 'email');
    }
  }

  const content: Record<string, unknown> = {};
  if (body !== undefined && body !== null) content.text = typeof body === 'string' ? body : JSON.stringify(body);
  const { message } = await deps.store.insertMessage(
    {
      id: deps.newId('msg'),
      direction: 'inbound',
      channel: inbound.channel,
      driver: deps.config.channels[inbound.channel]?.driver ?? null,
      contactId: scope.contact?.id ?? contact?.id ?? null,
      to: null,
      from,
      content: redactSecrets(content, flow.secrets),
      providerId: providerIdOf(scope.body),
      status: RECEIVED,
      statusRank: statusRank(RECEIVED)!,
      error: null,
      flowId: flow.id,
      executionId: null,
      stepId: null,
      logId,
    },
    deps.now().toISOString(),
  );
  return { contact, how, message };
}
