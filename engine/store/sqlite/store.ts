import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ComposedStore, type StoreParts } from '../compose.ts';
import type { CommitStats } from '../types.ts';
import type { Writability } from '../health.ts';
import { SqliteContacts } from './contacts.ts';
import { SqliteDedupe } from './dedupe.ts';
import { prepareEventWrites, SqliteEvents } from './events.ts';
import { prepareLogWrites, SqliteLog } from './log.ts';
import { SqliteMessages } from './messages.ts';
import { migrate } from './migrations.ts';
import { configure, SqliteSession, type PendingWrite } from './session.ts';
import { BackgroundCheckpoints } from './wal.ts';

export interface SqliteOptions {
  now?: () => Date;
  /** a server's store: the WAL is checkpointed by a worker thread (checkpointer.ts), started at the first write */
  backgroundCheckpoints?: { onError(message: string): void };
}

export async function openSqliteStore(file: string, options: SqliteOptions = {}): Promise<SqliteStore> {
  if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    const store = SqliteStore.on(db, options.now ?? (() => new Date()));
    if (options.backgroundCheckpoints && file !== ':memory:') {
      store.checkpointInBackground(file, options.backgroundCheckpoints.onError);
      store.watch(file, options.backgroundCheckpoints.onError);
    }
    return store;
  } catch (error) {
    db.close(); // e.g. a schema newer than this engine: do not leave the file open
    throw error;
  }
}

const FILE_CHECK_MS = 1_000;

/** The store on one SQLite database: its parts (one per port) share the connection and the group commit. */
export class SqliteStore extends ComposedStore {
  private checkpoints: BackgroundCheckpoints | undefined;
  private fileWatch: NodeJS.Timeout | undefined;

  /** Sets the connection up, applies the migrations it lacks, and prepares every part's statements. */
  static on(db: Database.Database, now: () => Date): SqliteStore {
    configure(db);
    migrate(db, now);
    const writeLog = prepareLogWrites(db);
    const writeEvent = prepareEventWrites(db);
    const commit = db.transaction((items: PendingWrite[]) => {
      for (const item of items) {
        if (item.kind === 'event' || item.kind === 'attempt') writeEvent(item);
        else writeLog(item);
      }
    });
    const session = new SqliteSession(db, now, (items) => commit.immediate(items));
    const dedupe = new SqliteDedupe(session);
    const parts: StoreParts = {
      log: new SqliteLog(session, dedupe),
      dedupe,
      contacts: new SqliteContacts(session),
      messages: new SqliteMessages(session),
      events: new SqliteEvents(session),
    };
    return new SqliteStore(session, parts);
  }

  private constructor(
    private readonly session: SqliteSession,
    parts: StoreParts,
  ) {
    super(parts);
  }

  /** Group-commit counters (read-only): how many transactions the batched writes took. */
  get stats(): CommitStats {
    return this.session.batch.stats;
  }

  /** Hands WAL checkpoints to a worker thread from the first write on (a store that only reads needs none). */
  checkpointInBackground(file: string, onError: (message: string) => void): void {
    this.checkpoints = new BackgroundCheckpoints(this.session, file, onError);
  }

  /**
   * A server's store: its health said in the log, and the file checked every second, so that a database removed or
   * replaced under the running server (an `rm -rf data/`, a restore over it) stops the engine taking requests instead
   * of answering them into a file nobody reads again.
   */
  watch(file: string, report: (message: string) => void): void {
    const { session } = this;
    session.onHealth = report;
    const identity = () => {
      const stats = statSync(file, { throwIfNoEntry: false });
      return stats ? `${stats.dev}:${stats.ino}` : 'none';
    };
    const opened = identity();
    // before every commit (a stat, next to the commit's own writes), and every second for an idle server's readiness
    session.health.verify = () => {
      const now = identity();
      return now === opened ? undefined : `the database file ${file} was ${now === 'none' ? 'removed' : 'replaced'} while in use`;
    };
    this.fileWatch = setInterval(() => {
      try {
        session.health.check();
      } catch {
        clearInterval(this.fileWatch); // lost, and said so
      }
    }, FILE_CHECK_MS).unref();
  }

  writable(): Writability {
    return this.session.health.state;
  }

  async close(): Promise<void> {
    const { session } = this;
    if (session.closed) return;
    clearInterval(this.fileWatch);
    session.health.close();
    session.batch.flush();
    session.closed = true;
    await this.checkpoints?.close();
    session.db.close();
  }
}
