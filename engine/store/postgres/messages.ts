import { iso, toMessage, toStatusChange } from '../rows.ts';
import type { Message, MessageQuery, MessageStatusChange, MessageStore, MessageUpdate, NewMessage } from '../types.ts';
import type { PostgresSession } from './session.ts';
import { inTransaction, insertStatements, text } from './sql.ts';

/** Messages and their status changes on Postgres. */

const MESSAGE_COLUMNS = ['id', 'direction', 'channel', 'driver', 'contact_id', 'to_address', 'from_address', 'content', 'provider_id',
  'status', 'status_rank', 'error', 'flow_id', 'execution_id', 'step_id', 'log_id', 'created_at', 'updated_at'];

export class PostgresMessages implements MessageStore {
  constructor(private readonly session: PostgresSession) {}

  async insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }> {
    await this.session.settle();
    const { pool } = this.session;
    const time = iso(at, 'at');
    const [insert] = insertStatements('messages', MESSAGE_COLUMNS, [messageValues(message, time)]);
    // the message and its first status in one statement; nothing when the step (or the inbound provider id) has one
    const { rows } = await pool.query(
      `WITH m AS (${insert.text} ON CONFLICT DO NOTHING RETURNING *),
            s AS (INSERT INTO message_status_changes (message_id, status, at, source, error) SELECT id, status, created_at, 'engine', error FROM m)
       SELECT * FROM m`,
      insert.values,
    );
    if (rows[0]) return { message: toMessage(rows[0]), created: true };
    // the unique step or inbound provider id: the message stored before stays the message
    const existing =
      message.executionId !== null && message.stepId !== null
        ? await pool.query('SELECT * FROM messages WHERE execution_id = $1 AND step_id = $2', [message.executionId, message.stepId])
        : message.providerId !== null
          ? await pool.query(`SELECT * FROM messages WHERE direction = 'inbound' AND channel = $1 AND provider_id = $2`, [message.channel, message.providerId])
          : undefined;
    if (!existing?.rows[0]) throw new Error(`message ${message.id} could not be stored`);
    return { message: toMessage(existing.rows[0]), created: false };
  }

  async messageForStep(executionId: string, stepId: string): Promise<Message | undefined> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM messages WHERE execution_id = $1 AND step_id = $2', [executionId, stepId]);
    return rows[0] && toMessage(rows[0]);
  }

  async updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined> {
    await this.session.settle();
    const time = iso(at, 'at');
    return inTransaction(this.session.pool, async (client) => {
      // FOR UPDATE: a status callback and the send that stored the message may land on different replicas at once
      const { rows } = await client.query('SELECT * FROM messages WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) return undefined;
      const current = toMessage(rows[0]);
      const rank = rows[0].status_rank as number;
      let status = current.status;
      let nextRank = rank;
      if (update.status !== undefined && update.status !== current.status) {
        // a status that comes late (sent after delivered) is history, not the message's state; the engine taking over
        // its own interrupted message (force) sets it whatever the rank, as the SQLite store does
        if (update.force || (update.statusRank ?? rank) >= rank) (status = update.status), (nextRank = update.statusRank ?? rank);
        await client.query('INSERT INTO message_status_changes (message_id, status, at, source, error) VALUES ($1, $2, $3, $4, $5)', [
          id,
          update.status,
          time,
          source,
          text(update.error ?? null),
        ]);
      }
      const updated = await client.query(
        `UPDATE messages SET to_address = $2, contact_id = $3, provider_id = $4, error = $5, attempts = $6, status = $7, status_rank = $8,
           updated_at = $9 WHERE id = $1 RETURNING *`,
        [
          id,
          update.to !== undefined ? update.to : current.to,
          update.contactId !== undefined ? update.contactId : current.contactId,
          update.providerId !== undefined ? update.providerId : current.providerId,
          text(update.error !== undefined ? update.error : current.error),
          update.attempts ?? current.attempts,
          status,
          nextRank,
          time,
        ],
      );
      return toMessage(updated.rows[0]);
    });
  }

  async getMessage(id: string): Promise<Message | undefined> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM messages WHERE id = $1', [id]);
    return rows[0] && toMessage(rows[0]);
  }

  async messagesByProviderId(providerId: string): Promise<Message[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM messages WHERE provider_id = $1 ORDER BY created_at DESC, id DESC', [providerId]);
    return rows.map(toMessage);
  }

  async listMessages(query: MessageQuery): Promise<Message[]> {
    await this.session.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (value: unknown) => `$${values.push(value)}`;
    if (query.contactId !== undefined) where.push(`contact_id = ${param(query.contactId)}`);
    if (query.channel !== undefined) where.push(`channel = ${param(query.channel)}`);
    if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
    if (query.direction !== undefined) where.push(`direction = ${param(query.direction)}`);
    if (query.before !== undefined) where.push(`(created_at, id) < (SELECT created_at, id FROM messages WHERE id = ${param(query.before)})`);
    const limit = param(Math.floor(query.limit));
    const { rows } = await this.session.pool.query(
      `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
      values,
    );
    return rows.map(toMessage);
  }

  async messageStatusChanges(messageId: string): Promise<MessageStatusChange[]> {
    await this.session.settle();
    const { rows } = await this.session.pool.query('SELECT * FROM message_status_changes WHERE message_id = $1 ORDER BY id', [messageId]);
    return rows.map(toStatusChange);
  }

  async hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean> {
    await this.session.settle();
    if (!by.contactId && !by.from) return false;
    const { rowCount } = await this.session.pool.query(
      `SELECT 1 FROM messages WHERE direction = 'inbound' AND channel = $1 AND (contact_id = $2 OR from_address = $3) LIMIT 1`,
      [channel, by.contactId ?? null, by.from ?? null],
    );
    return rowCount === 1;
  }
}

function messageValues(m: NewMessage, at: string): unknown[] {
  return [
    m.id, m.direction, m.channel, m.driver, m.contactId, m.to, m.from, JSON.stringify(m.content), m.providerId, m.status, m.statusRank,
    text(m.error), m.flowId, m.executionId, m.stepId, m.logId, at, at,
  ];
}
