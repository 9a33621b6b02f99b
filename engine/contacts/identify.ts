import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { ContactView, Scope } from '../common/scope.ts';
import type { Contact, FieldChange, Store } from '../store/types.ts';
import { normalisePhone } from './phone.ts';
import { fitField } from './fields.ts';

export type Identified =
  | { ok: true; contact: Contact | null; how: 'userNs' | 'phone' | 'email' | 'created' | 'none' }
  | { ok: false; reason: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
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
  deps: { store: Store; newId(prefix: string): string; now(): Date },
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
  if (phone?.ok) {
    const { contact } = await deps.store.createContact({ id: deps.newId('ct'), phone: phone.e164, email: email ?? null }, deps.now().toISOString());
    return { ok: true, contact, how: 'created' };
  }
  if (rules.onUnidentified === 'continue') return { ok: true, contact: null, how: 'none' };
  if (tried.length === 0) tried.push('the request has no contact id, phone or e-mail');
  return { ok: false, reason: `contact not identified: ${tried.join('; ')}` };
}

/**
 * Writes the flow's `map:` to the contact. A value that does not fit its declared type is reported with the field
 * named, and the other fields are still written. Returns the changes and the problems.
 */
export async function mapFields(
  flow: CompiledFlow,
  contact: Contact,
  scope: Scope,
  bindings: Record<string, unknown>,
  deps: { store: Store; config: EngineConfig; now(): Date },
  logId: string,
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
  const changes = Object.keys(values).length > 0 ? await deps.store.setContactFields(contact.id, values, deps.now().toISOString(), logId) : [];
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
