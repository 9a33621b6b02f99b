import type Database from 'better-sqlite3';
import { iso, type Row } from '../rows.ts';
import type { DedupeAnswer, DedupeClaim, DedupeStore } from '../types.ts';
import type { ExpiredKeys } from './log.ts';
import type { SqliteSession } from './session.ts';

/** Dedupe keys on SQLite (table dedupe_keys): one row per flow and key, until the key's window ends. */
export class SqliteDedupe implements DedupeStore, ExpiredKeys {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly session: SqliteSession) {
    this.sql = prepare(session.db);
  }

  async claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim> {
    this.session.settle();
    const claim = this.session.db.transaction((): DedupeClaim => {
      // a key whose window ended is free again
      this.sql.expire.run({ flowId, key, now: iso(now, 'now') });
      if (this.sql.insert.run({ flowId, key, logId, expiresAt: iso(expiresAt, 'expiresAt') }).changes === 1) return { first: true, firstLogId: logId, answer: null };
      const row = this.sql.get.get({ flowId, key })!;
      return { first: false, firstLogId: row.first_log_id as string, answer: row.answer === null ? null : JSON.parse(row.answer as string) };
    });
    return claim.immediate();
  }

  async recordDedupeAnswer(flowId: string, key: string, answer: DedupeAnswer): Promise<void> {
    this.session.settle();
    this.sql.answer.run({ flowId, key, answer: JSON.stringify(answer) });
  }

  async releaseDedupeKey(flowId: string, key: string): Promise<void> {
    this.session.settle();
    this.sql.release.run({ flowId, key });
  }

  /** part of the log's sweep (log.ts) */
  sweepExpired(now: string): void {
    this.sql.sweep.run({ now });
  }
}

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare<unknown[], Row>(sql);
  return {
    expire: s('DELETE FROM dedupe_keys WHERE flow_id = @flowId AND key = @key AND expires_at <= @now'),
    insert: s(`INSERT INTO dedupe_keys (flow_id, key, first_log_id, expires_at) VALUES (@flowId, @key, @logId, @expiresAt)
      ON CONFLICT DO NOTHING`),
    get: s('SELECT first_log_id, answer FROM dedupe_keys WHERE flow_id = @flowId AND key = @key'),
    answer: s('UPDATE dedupe_keys SET answer = @answer WHERE flow_id = @flowId AND key = @key'),
    release: s('DELETE FROM dedupe_keys WHERE flow_id = @flowId AND key = @key'),
    sweep: s('DELETE FROM dedupe_keys WHERE expires_at <= @now'),
  };
}
