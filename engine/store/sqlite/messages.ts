import type Database from 'better-sqlite3';
import { iso, toMessage, toStatusChange, type Row } from '../rows.ts';
import type { Message, MessageQuery, MessageStatusChange, MessageStore, MessageUpdate, NewMessage } from '../types.ts';
import type { SqliteSession } from './session.ts';

/** Messages and their status changes on SQLite. */
export class SqliteMessages implements MessageStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly session: SqliteSession) {
    this.sql = prepare(session.db);
  }

  async insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }> {
    this.session.settle();
    const time = iso(at, 'at');
    const write = this.session.db.transaction((): { message: Message; created: boolean } => {
      const created = this.sql.insert.run(messageRow(message, time)).changes === 1;
      if (created) {
        this.sql.insertStatusChange.run({ messageId: message.id, status: message.status, at: time, source: 'engine', error: message.error });
        return { message: toMessage(this.sql.byId.get(message.id)!), created };
      }
      // the unique step or inbound provider id: the message stored before stays the message
      const existing =
        message.executionId !== null && message.stepId !== null
          ? this.sql.forStep.get({ executionId: message.executionId, stepId: message.stepId })
          : message.providerId !== null
            ? this.sql.inboundByProvider.get({ channel: message.channel, providerId: message.providerId })
            : undefined;
      if (!existing) throw new Error(`message ${message.id} could not be stored`);
      return { message: toMessage(existing), created: false };
    });
    return write.immediate();
  }

  async messageForStep(executionId: string, stepId: string): Promise<Message | undefined> {
    this.session.settle();
    const row = this.sql.forStep.get({ executionId, stepId });
    return row && toMessage(row);
  }

  async updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined> {
    this.session.settle();
    const time = iso(at, 'at');
    const write = this.session.db.transaction((): Message | undefined => {
      const row = this.sql.byId.get(id);
      if (!row) return undefined;
      const current = toMessage(row);
      const rank = row.status_rank as number;
      const next: Row = {
        id,
        to: update.to !== undefined ? update.to : current.to,
        contactId: update.contactId !== undefined ? update.contactId : current.contactId,
        providerId: update.providerId !== undefined ? update.providerId : current.providerId,
        error: update.error !== undefined ? update.error : current.error,
        attempts: update.attempts ?? current.attempts,
        status: current.status,
        rank,
        at: time,
      };
      const newStatus = update.status !== undefined && update.status !== current.status;
      if (newStatus) {
        // a status that comes late (sent after delivered) is history, not the message's state
        if (update.force || (update.statusRank ?? rank) >= rank) Object.assign(next, { status: update.status, rank: update.statusRank ?? rank });
        this.sql.insertStatusChange.run({ messageId: id, status: update.status, at: time, source, error: update.error ?? null });
      }
      this.sql.update.run(next);
      return toMessage(this.sql.byId.get(id)!);
    });
    return write.immediate();
  }

  async getMessage(id: string): Promise<Message | undefined> {
    this.session.settle();
    const row = this.sql.byId.get(id);
    return row && toMessage(row);
  }

  async messagesByProviderId(providerId: string): Promise<Message[]> {
    this.session.settle();
    return this.sql.byProvider.all(providerId).map(toMessage);
  }

  async listMessages(query: MessageQuery): Promise<Message[]> {
    this.session.settle();
    if (query.limit <= 0) return [];
    const where: string[] = [];
    const params: Row = { limit: Math.floor(query.limit) };
    if (query.contactId !== undefined) (where.push('contact_id = @contactId'), (params.contactId = query.contactId));
    if (query.channel !== undefined) (where.push('channel = @channel'), (params.channel = query.channel));
    if (query.status !== undefined) (where.push('status = @status'), (params.status = query.status));
    if (query.direction !== undefined) (where.push('direction = @direction'), (params.direction = query.direction));
    if (query.before !== undefined) {
      // keyset: strictly older than the cursor message; messages stored in the same millisecond keep their order
      where.push('(created_at, rowid) < (SELECT created_at, rowid FROM messages WHERE id = @before)');
      params.before = query.before;
    }
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT @limit`;
    return this.session.filteredStatement(sql).all(params).map(toMessage);
  }

  async messageStatusChanges(messageId: string): Promise<MessageStatusChange[]> {
    this.session.settle();
    return this.sql.statusChanges.all(messageId).map(toStatusChange);
  }

  async hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean> {
    this.session.settle();
    if (!by.contactId && !by.from) return false;
    return this.sql.hasInbound.get({ channel, contactId: by.contactId ?? null, from: by.from ?? null }) !== undefined;
  }
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  return {
    insert: s(`INSERT INTO messages (id, direction, channel, driver, contact_id, to_address, from_address, content, provider_id,
        status, status_rank, error, attempts, flow_id, execution_id, step_id, log_id, created_at, updated_at)
      VALUES (@id, @direction, @channel, @driver, @contact_id, @to_address, @from_address, @content, @provider_id, @status,
        @status_rank, @error, 0, @flow_id, @execution_id, @step_id, @log_id, @at, @at)
      ON CONFLICT DO NOTHING`),
    byId: s('SELECT * FROM messages WHERE id = ?'),
    forStep: s('SELECT * FROM messages WHERE execution_id = @executionId AND step_id = @stepId'),
    inboundByProvider: s(`SELECT * FROM messages WHERE direction = 'inbound' AND channel = @channel AND provider_id = @providerId`),
    byProvider: s('SELECT * FROM messages WHERE provider_id = ? ORDER BY created_at DESC, rowid DESC'),
    update: s(`UPDATE messages SET to_address = @to, contact_id = @contactId, provider_id = @providerId, error = @error,
        attempts = @attempts, status = @status, status_rank = @rank, updated_at = @at WHERE id = @id`),
    insertStatusChange: s(`INSERT INTO message_status_changes (message_id, status, at, source, error)
      VALUES (@messageId, @status, @at, @source, @error)`),
    statusChanges: s('SELECT * FROM message_status_changes WHERE message_id = ? ORDER BY id'),
    hasInbound: s(`SELECT 1 FROM messages WHERE direction = 'inbound' AND channel = @channel
        AND (contact_id = @contactId OR from_address = @from) LIMIT 1`),
  };
}

function messageRow(m: NewMessage, at: string): Row {
  return {
    id: m.id,
    direction: m.direction,
    channel: m.channel,
    driver: m.driver,
    contact_id: m.contactId,
    to_address: m.to,
    from_address: m.from,
    content: JSON.stringify(m.content),
    provider_id: m.providerId,
    status: m.status,
    status_rank: m.statusRank,
    error: m.error,
    flow_id: m.flowId,
    execution_id: m.executionId,
    step_id: m.stepId,
    log_id: m.logId,
    at,
  };
}
