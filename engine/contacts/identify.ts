import type { AddressKind } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { ContactView, Scope } from '../common/scope.ts';
import type { Contact, FieldChange, OutboxEvent, Store } from '../store/types.ts';
import { normalisePhone } from './phone.ts';
import { fitField } from './fields.ts';

export type Identified =
  | { ok: true; contact: Contact | null; how: 'userNs' | 'phone' | 'email' | 'created' | 'none' }
  | { ok: false; reason: string };

/** A contact found (or created) by an address. */
export type FoundContact = { contact: Contact; how: 'phone' | 'email' | 'created' };

type ContactDeps = { store: Store; newId(prefix: string): string; now(): Date };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** A new contact with this phone (E.164): one contact per phone, so under a race it is the one that won, found by phone. */
async function createWithPhone(deps: ContactDeps, phone: string, email: string | null): Promise<FoundContact> {
  const { contact, created } = await deps.store.createContact({ id: deps.newId('ct'), phone, email }, deps.now().toISOString());
  return { contact, how: created ? 'created' : 'phone' };
}

/**
 * Who a request is about, by the flow's rules in order: an existing contact id (userNs); an existing contact by phone
 * (E.164 after normalising) or by e-mail (case-insensitive); a new contact from a valid phone; else reject or go on
 * without a contact.
 */
export async function identifyContact(
  flow: CompiledFlow,
  scope: Scope,
  bindings: Record<string, unknown>,
  deps: ContactDeps,
): Promise<Identified> {
  const rules = flow.identify;
  if (!rules) return { ok: true, contact: null, how: 'none' };
  const tried: string[] = [];

  const userNs = text(rules.userNs ? await rules.userNs.evaluate(scope, bindings) : undefined);
  if (userNs) {
    const found = await deps.store.findContact({ id: userNs });
    if (found) return { ok: true, contact: found, how: 'userNs' };
    tried.push(`no contact with id "${userNs}"`);
  }
  const phoneGiven = rules.phone ? await rules.phone.evaluate(scope, bindings) : undefined;
  const phone = text(phoneGiven) ? normalisePhone(text(phoneGiven), rules.defaultCountry) : undefined;
  if (phone?.ok) {
    const found = await deps.store.findContact({ phone: phone.e164 });
    if (found) return { ok: true, contact: found, how: 'phone' };
  } else if (phone) tried.push(phone.reason);
  const emailGiven = text(rules.email ? await rules.email.evaluate(scope, bindings) : undefined)?.toLowerCase();
  const email = emailGiven && EMAIL.test(emailGiven) ? emailGiven : undefined;
  if (emailGiven && !email) tried.push(`"${emailGiven}" is not an e-mail address`);
  if (email) {
    const found = await deps.store.findContact({ email });
    if (found) return { ok: true, contact: found, how: 'email' };
    if (!phone?.ok) tried.push(`no contact with e-mail ${email}`);
  }
  // 'created' also when a concurrent request created it first: this request asked for a new contact
  if (phone?.ok) return { ok: true, contact: (await createWithPhone(deps, phone.e164, email ?? null)).contact, how: 'created' };
  if (rules.onUnidentified === 'continue') return { ok: true, contact: null, how: 'none' };
  if (tried.length === 0) tried.push('the request has no contact id, phone or e-mail');
  return { ok: false, reason: `contact not identified: ${tried.join('; ')}` };
}

/** An inbound message's sender as stored (E.164, an e-mail address in lower case, else as given), and as an address. */
export type Sender = { from: string | null; phone?: string; email?: string };

/**
 * Reads an inbound message's sender by what the channel's addresses are: a phone number (E.164, national formats read
 * with `defaultCountry`) on a phone channel, or on a channel of any addresses when it has no @; else an e-mail address.
 */
export function senderOf(given: unknown, address: AddressKind, defaultCountry?: string): Sender {
  const from = text(given);
  if (!from) return { from: null };
  if (address === 'phone' || (address === 'any' && !from.includes('@'))) {
    const phone = normalisePhone(from, defaultCountry);
    return phone.ok ? { from: phone.e164, phone: phone.e164 } : { from };
  }
  return EMAIL.test(from) ? { from: from.toLowerCase(), email: from.toLowerCase() } : { from };
}

/**
 * Who sent an inbound message to a flow without identify: the contact with the sender's phone (created when new) or
 * e-mail address (never created: an e-mail address alone makes no contact, as with identify:).
 */
export async function identifySender(deps: ContactDeps, sender: Sender): Promise<FoundContact | null> {
  if (sender.phone) {
    const found = await deps.store.findContact({ phone: sender.phone });
    return found ? { contact: found, how: 'phone' } : createWithPhone(deps, sender.phone, null);
  }
  if (!sender.email) return null;
  const found = await deps.store.findContact({ email: sender.email });
  return found ? { contact: found, how: 'email' } : null;
}

/**
 * Writes the flow's `map:` to the contact. A value that does not fit its declared type is reported with the field
 * named, and the other fields are still written. Returns the changes and the problems. `eventFor` builds the changes'
 * event, which commits with them (Store.setContactFields).
 */
export async function mapFields(
  flow: CompiledFlow,
  contact: Contact,
  scope: Scope,
  bindings: Record<string, unknown>,
  deps: { store: Store; config: EngineConfig; now(): Date },
  logId: string,
  eventFor?: (changes: FieldChange[]) => OutboxEvent | undefined,
): Promise<{ contact: Contact; changes: FieldChange[]; problems: string[] }> {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [field, expression] of flow.map) {
    let value: unknown;
    try {
      value = await expression.evaluate(scope, bindings);
    } catch (err) {
      problems.push(`field ${field}: ${(err as Error).message}`);
      continue;
    }
    if (value === undefined) continue; // nothing in this request for the field: keep what the contact has
    const fitted = fitField(deps.config.fields[field], value);
    if (fitted.ok) values[field] = fitted.value;
    else problems.push(`field ${field}: ${fitted.reason}`);
  }
  const changes = Object.keys(values).length > 0 ? await deps.store.setContactFields(contact.id, values, deps.now().toISOString(), logId, eventFor) : [];
  return { contact: { ...contact, fields: { ...contact.fields, ...values } }, changes, problems };
}

export function contactView(contact: Contact): ContactView {
  return { id: contact.id, userNs: contact.id, phone: contact.phone, email: contact.email, fields: contact.fields };
}

/** How executions find their contact again: by id, as the view expressions see. */
export function contactFinder(store: Store): (contactId: string) => Promise<ContactView | null> {
  return async (id) => {
    const contact = await store.findContact({ id });
    return contact ? contactView(contact) : null;
  };
}
