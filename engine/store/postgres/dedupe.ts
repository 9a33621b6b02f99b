import { iso } from '../rows.ts';
import type { DedupeAnswer, DedupeClaim, DedupeStore } from '../types.ts';
import type { ExpiredKeys } from './log.ts';
import type { PostgresSession } from './session.ts';
import { text } from './sql.ts';

/** Dedupe keys on Postgres (table dedupe_keys): one row per flow and key, until the key's window ends. */
export class PostgresDedupe implements DedupeStore, ExpiredKeys {
  constructor(private readonly session: PostgresSession) {}

  async claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim> {
    await this.session.settle();
    const { pool } = this.session;
    const at = iso(now, 'now');
    const until = iso(expiresAt, 'expiresAt');
    const storedKey = text(key);
    for (let attempt = 0; ; attempt++) {
      // one statement: insert the key, or take over a key whose window ended; a row comes back only then
      const claimed = await pool.query(
        `INSERT INTO dedupe_keys (flow_id, key, first_log_id, answer, expires_at) VALUES ($1, $2, $3, NULL, $5)
         ON CONFLICT (flow_id, key) DO UPDATE SET first_log_id = EXCLUDED.first_log_id, answer = NULL, expires_at = EXCLUDED.expires_at
           WHERE dedupe_keys.expires_at <= $4
         RETURNING first_log_id`,
        [flowId, storedKey, logId, at, until],
      );
      if (claimed.rowCount === 1) return { first: true, firstLogId: logId, answer: null };
      const { rows } = await pool.query('SELECT first_log_id, answer FROM dedupe_keys WHERE flow_id = $1 AND key = $2', [flowId, storedKey]);
      if (rows[0]) return { first: false, firstLogId: rows[0].first_log_id, answer: rows[0].answer === null ? null : JSON.parse(rows[0].answer) };
      // released between the two statements: claim again
      if (attempt >= 5) throw new Error(`dedupe key of flow ${flowId} could not be claimed`);
    }
  }

  async recordDedupeAnswer(flowId: string, key: string, answer: DedupeAnswer): Promise<void> {
    await this.session.settle();
    await this.session.pool.query('UPDATE dedupe_keys SET answer = $3 WHERE flow_id = $1 AND key = $2', [flowId, text(key), JSON.stringify(answer)]);
  }

  async releaseDedupeKey(flowId: string, key: string): Promise<void> {
    await this.session.settle();
    await this.session.pool.query('DELETE FROM dedupe_keys WHERE flow_id = $1 AND key = $2', [flowId, text(key)]);
  }

  /** part of the log's sweep (log.ts) */
  async sweepExpired(now: string): Promise<void> {
    await this.session.pool.query('DELETE FROM dedupe_keys WHERE expires_at <= $1', [now]);
  }
}
