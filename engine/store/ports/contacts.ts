/** Contacts: the people the engine talks to, and every change of their fields. */
import type { OutboxEvent } from './events.ts';

/** A person the engine talks to. The id is the contact's user_ns. Phone is E.164 and email lower-case; both unique. */
export interface Contact {
  id: string;
  phone: string | null;
  email: string | null;
  fields: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** One contact field that changed value, kept so that events can report old and new values. */
export interface FieldChange {
  contactId: string;
  field: string;
  oldValue: unknown;
  newValue: unknown;
  changedAt: string;
  logId: string | null;
}

export interface ContactStore {
  findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined>;
  /**
   * Creates a contact with this phone unless one holds it already (or the email), and returns the contact that does:
   * concurrent requests for one new phone end with one contact.
   */
  createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }>;
  /**
   * Merges fields into the contact's, records each field whose value changed, and returns those changes. When some
   * changed, `eventFor` is called with them inside the transaction, and the event it builds (the `variables` event)
   * commits with them.
   */
  setContactFields(
    contactId: string,
    fields: Record<string, unknown>,
    at: string,
    logId: string | null,
    eventFor?: (changes: FieldChange[]) => OutboxEvent | undefined,
  ): Promise<FieldChange[]>;
  listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]>;
  /** newest first */
  fieldChanges(contactId: string, limit: number): Promise<FieldChange[]>;
}
