import { iso, toContact, toFieldChange } from '../rows.ts';
import type { Contact, ContactStore, FieldChange, OutboxEvent } from '../types.ts';
import { outboxStatements, outboxValues } from './events.ts';
import type { PostgresSession } from './session.ts';
import { inTransaction, insertStatements, jsonOrNull } from './sql.ts';

/** Contacts and their field changes on Postgres. */
export class PostgresContacts implements ContactStore {
  constructor(private readonly session: PostgresSession) {}

  async findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined> {
    await this.session.settle();
    const [column, value] = by.id !== undefined ? ['id', by.id] : by.phone !== undefined ? ['phone', by.phone] : by.email !== undefined ? ['email', by.email] : [];
    if (!column) return undefined;
    const { rows } = await this.session.pool.query(`SELECT * FROM contacts WHERE ${column} = $1`, [value]);
    return rows[0] && toContact(rows[0]);
  }

  async createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }> {
    await this.session.settle();
    const { pool } = this.session;
    const time = iso(at, 'at');
    // the unique phone and email decide who wins a race (a loser waits for the winner's commit); the loser reads the
    // winner's contact
    const { rowCount } = await pool.query(
      `INSERT INTO contacts (id, phone, email, fields, created_at, updated_at) VALUES ($1, $2, $3, '{}', $4, $4) ON CONFLICT DO NOTHING`,
      [contact.id, contact.phone, contact.email, time],
    );
    let { rows } = await pool.query('SELECT * FROM contacts WHERE phone = $1', [contact.phone]);
    if (!rows[0] && contact.email !== null) ({ rows } = await pool.query('SELECT * FROM contacts WHERE email = $1', [contact.email]));
    if (!rows[0]) throw new Error('the contact could not be created or found');
    return { contact: toContact(rows[0]), created: rowCount === 1 };
  }

  async setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null, eventFor?: (changes: FieldChange[]) => OutboxEvent | undefined): Promise<FieldChange[]> {
    await this.session.settle();
    const time = iso(at, 'at');
    let stored = false;
    const changes = await inTransaction(this.session.pool, async (client) => {
      // FOR UPDATE: two replicas mapping fields of one contact at once apply one after the other, none lost
      const { rows } = await client.query('SELECT fields FROM contacts WHERE id = $1 FOR UPDATE', [contactId]);
      if (!rows[0]) throw new Error(`no contact ${contactId}`);
      const current = JSON.parse(rows[0].fields) as Record<string, unknown>;
      const changes: FieldChange[] = [];
      for (const [field, value] of Object.entries(fields)) {
        if (JSON.stringify(current[field]) === JSON.stringify(value)) continue;
        changes.push({ contactId, field, oldValue: current[field] ?? null, newValue: value, changedAt: time, logId });
        current[field] = value;
      }
      if (changes.length === 0) return changes;
      await client.query('UPDATE contacts SET fields = $2, updated_at = $3 WHERE id = $1', [contactId, JSON.stringify(current), time]);
      for (const statement of insertStatements(
        'contact_field_changes',
        ['contact_id', 'field', 'old_value', 'new_value', 'changed_at', 'log_id'],
        changes.map((c) => [contactId, c.field, jsonOrNull(c.oldValue), jsonOrNull(c.newValue), time, logId]),
      )) {
        await client.query(statement);
      }
      // the changes' event commits with them (an outbox)
      const event = eventFor?.(changes);
      if (event) {
        for (const statement of outboxStatements([outboxValues(event)])) await client.query(statement);
        stored = true;
      }
      return changes;
    });
    if (stored) this.session.eventsCommitted.notify();
    return changes;
  }

  async listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query(
      `SELECT * FROM contacts WHERE ($1::text IS NULL OR phone = $1) AND ($2::text IS NULL OR email = $2)
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [query.phone ?? null, query.email ?? null, Math.max(1, Math.floor(query.limit))],
    );
    return rows.map(toContact);
  }

  async fieldChanges(contactId: string, limit: number): Promise<FieldChange[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM contact_field_changes WHERE contact_id = $1 ORDER BY id DESC LIMIT $2', [
      contactId,
      Math.max(1, Math.floor(limit)),
    ]);
    return rows.map(toFieldChange);
  }
}
