import type Database from 'better-sqlite3';
import { iso, toContact, toFieldChange, type Row } from '../rows.ts';
import type { Contact, ContactStore, FieldChange, OutboxEvent } from '../types.ts';
import { outboxRows, prepareOutboxWrite } from './events.ts';
import type { SqliteSession } from './session.ts';

/** Contacts and their field changes on SQLite. */
export class SqliteContacts implements ContactStore {
  private readonly sql: ReturnType<typeof prepare>;
  private readonly writeOutbox: ReturnType<typeof prepareOutboxWrite>;

  constructor(private readonly session: SqliteSession) {
    this.sql = prepare(session.db);
    this.writeOutbox = prepareOutboxWrite(session.db);
  }

  async findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined> {
    this.session.settle();
    const row = by.id !== undefined ? this.sql.byId.get(by.id) : by.phone !== undefined ? this.sql.byPhone.get(by.phone) : by.email !== undefined ? this.sql.byEmail.get(by.email) : undefined;
    return row && toContact(row);
  }

  async createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }> {
    this.session.settle();
    const time = iso(at, 'at');
    // the unique phone and email decide who wins a race; the loser reads the winner's contact
    const created = this.sql.insert.run({ ...contact, at: time }).changes === 1;
    const row = this.sql.byPhone.get(contact.phone) ?? (contact.email !== null ? this.sql.byEmail.get(contact.email) : undefined);
    if (!row) throw new Error('the contact could not be created or found');
    return { contact: toContact(row), created };
  }

  async setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null, eventFor?: (changes: FieldChange[]) => OutboxEvent | undefined): Promise<FieldChange[]> {
    this.session.settle();
    const time = iso(at, 'at');
    let stored = false;
    const write = this.session.db.transaction((): FieldChange[] => {
      const row = this.sql.byId.get(contactId);
      if (!row) throw new Error(`no contact ${contactId}`);
      const current = JSON.parse(row.fields as string) as Record<string, unknown>;
      const changes: FieldChange[] = [];
      for (const [field, value] of Object.entries(fields)) {
        if (JSON.stringify(current[field]) === JSON.stringify(value)) continue;
        changes.push({ contactId, field, oldValue: current[field] ?? null, newValue: value, changedAt: time, logId });
        current[field] = value;
      }
      if (changes.length === 0) return changes;
      this.sql.updateFields.run({ id: contactId, fields: JSON.stringify(current), at: time });
      for (const c of changes) {
        this.sql.insertFieldChange.run({ contactId, field: c.field, oldValue: JSON.stringify(c.oldValue), newValue: JSON.stringify(c.newValue), at: time, logId });
      }
      // the changes' event commits with them (an outbox)
      const event = eventFor?.(changes);
      if (event) {
        this.writeOutbox(outboxRows(event));
        stored = true;
      }
      return changes;
    });
    const changes = write.immediate();
    if (stored) this.session.eventsCommitted.notify();
    return changes;
  }

  async listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]> {
    this.session.settle();
    return this.sql.list.all({ phone: query.phone ?? null, email: query.email ?? null, limit: Math.max(1, Math.floor(query.limit)) }).map(toContact);
  }

  async fieldChanges(contactId: string, limit: number): Promise<FieldChange[]> {
    this.session.settle();
    return this.sql.fieldChanges.all({ contactId, limit: Math.max(1, Math.floor(limit)) }).map(toFieldChange);
  }
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  return {
    byId: s('SELECT * FROM contacts WHERE id = ?'),
    byPhone: s('SELECT * FROM contacts WHERE phone = ?'),
    byEmail: s('SELECT * FROM contacts WHERE email = ?'),
    insert: s(`INSERT INTO contacts (id, phone, email, fields, created_at, updated_at) VALUES (@id, @phone, @email, '{}', @at, @at)
      ON CONFLICT DO NOTHING`),
    updateFields: s('UPDATE contacts SET fields = @fields, updated_at = @at WHERE id = @id'),
    insertFieldChange: s(`INSERT INTO contact_field_changes (contact_id, field, old_value, new_value, changed_at, log_id)
      VALUES (@contactId, @field, @oldValue, @newValue, @at, @logId)`),
    list: s(`SELECT * FROM contacts WHERE (@phone IS NULL OR phone = @phone) AND (@email IS NULL OR email = @email)
      ORDER BY created_at DESC, id DESC LIMIT @limit`),
    fieldChanges: s('SELECT * FROM contact_field_changes WHERE contact_id = @contactId ORDER BY id DESC LIMIT @limit'),
  };
}
