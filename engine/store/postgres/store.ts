import type pg from 'pg';
import { ComposedStore, type StoreParts } from '../compose.ts';
import type { CommitStats } from '../types.ts';
import type { Writability } from '../health.ts';
import { groupCommit } from './commit.ts';
import { PostgresContacts } from './contacts.ts';
import { PostgresDedupe } from './dedupe.ts';
import { PostgresEvents } from './events.ts';
import { PostgresLog } from './log.ts';
import { PostgresMessages } from './messages.ts';
import { migrate } from './migrations.ts';
import { PostgresSession } from './session.ts';

/**
 * The store on Postgres: the same contract as the SQLite store, for several engine replicas sharing one database.
 * Request writes are group-committed like SQLite's: every write queued in one turn of the event loop (and, while a
 * batch is in flight, every write queued meanwhile) goes into one transaction; no caller hears "committed" before
 * COMMIT returned. How replicas share the queue and the event deliveries: log.ts, events.ts.
 */

// json and jsonb arrive as text: the store parses them itself, so that SQL NULL (undefined) and JSON null differ
const JSON_OIDS = new Set([114, 3802]);
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    JSON_OIDS.has(oid) ? (value: string) => value : driver!.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

// the driver loads with the first Postgres store: a server on SQLite never needs its modules (about 3 MB of heap)
let driver: typeof pg | undefined;

export interface PostgresStoreOptions {
  now?: () => Date;
  /** connections per store (per engine process); default 10 */
  poolSize?: number;
}

export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const now = options.now ?? (() => new Date());
  driver ??= (await import('pg')).default;
  const pool = new driver.Pool({ connectionString: url, max: options.poolSize ?? 10, types: TYPES, application_name: 'hooks' });
  // an idle connection that broke (a server restart): the pool drops it; the next query reports the problem
  pool.on('error', () => undefined);
  try {
    await migrate(pool, now);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return PostgresStore.on(pool, now);
}

/** The store on one Postgres database: its parts (one per port) share the pool and the group commit. */
export class PostgresStore extends ComposedStore {
  static on(pool: pg.Pool, now: () => Date): PostgresStore {
    const session = new PostgresSession(pool, now, groupCommit(pool));
    const dedupe = new PostgresDedupe(session);
    const parts: StoreParts = {
      log: new PostgresLog(session, dedupe),
      dedupe,
      contacts: new PostgresContacts(session),
      messages: new PostgresMessages(session),
      events: new PostgresEvents(session),
    };
    return new PostgresStore(session, parts);
  }

  private constructor(
    private readonly session: PostgresSession,
    parts: StoreParts,
  ) {
    super(parts);
  }

  /** Group-commit counters (read-only): how many transactions the batched writes took. */
  get stats(): CommitStats {
    return this.session.batch.stats;
  }

  /** A server's store: its health said in the log. */
  watch(report: (message: string) => void): void {
    this.session.onHealth = report;
  }

  writable(): Writability {
    return this.session.health.state;
  }

  async close(): Promise<void> {
    const { session } = this;
    if (session.closed) return;
    session.health.close();
    session.closed = true; // no new calls; what is queued still commits
    await session.batch.flush();
    await session.pool.end();
  }
}
