/**
 * Inbound messages: a flow whose trigger declares `inbound: { channel, from, text }` receives messages the contact
 * sent (Twilio's inbound SMS webhook is the model). Each is stored as a message from the contact; the contact is
 * the one the flow identified or, for a flow without `identify:`, the one with the sender's phone (created when
 * new) or e-mail address. A channel that cannot start conversations may then answer that contact.
 */
import { channelAddress, inboundMessageId } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { Scope } from '../common/scope.ts';
import type { Contact, Message, Store } from '../store/types.ts';
import { identifySender, senderOf, type FoundContact } from '../contacts/identify.ts';
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
  how: FoundContact['how'] | null;
  message: Message;
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
  const given = await inbound.from.evaluate(scope, bindings);
  const body = inbound.text ? await inbound.text.evaluate(scope, bindings) : undefined;
  const sender = senderOf(given, channelAddress(deps.config.channels[inbound.channel]), flow.identify?.defaultCountry);
  // without identify:, the sender is the contact: found by phone or e-mail, or created from a phone
  const found = !flow.identify && !scope.contact ? await identifySender(deps, sender) : null;

  const content: Record<string, unknown> = {};
  if (body !== undefined && body !== null) content.text = typeof body === 'string' ? body : JSON.stringify(body);
  const { message } = await deps.store.insertMessage(
    {
      id: deps.newId('msg'),
      direction: 'inbound',
      channel: inbound.channel,
      driver: deps.config.channels[inbound.channel]?.driver ?? null,
      contactId: scope.contact?.id ?? found?.contact.id ?? null,
      to: null,
      from: sender.from,
      content: redactSecrets(content, flow.secrets),
      providerId: inboundMessageId(scope.body),
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
  return { contact: found?.contact ?? null, how: found?.how ?? null, message };
}
