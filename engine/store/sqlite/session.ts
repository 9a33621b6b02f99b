import type Database from 'better-sqlite3';
import type { Row } from '../rows.ts';
import { Batcher } from './batcher.ts';
import { WriteHealth } from '../health.ts';
import { CommitListeners } from '../ports/events.ts';

/**
 * What the SQLite store's parts (log.ts, dedupe.ts, contacts.ts, messages.ts, events.ts) share: the connection, the
 * clock, and the group commit that the log's and the events' writes join.
 */

export type Statement = Database.Statement<unknown[], Row>;

/**
 * One group-committed write: a request's log row (with its execution and journal when it has them), a later change
 * to an execution or a log row, an event with its deliveries, or an event delivery's attempt. All go through one
 * queue, in order, so each lands in the next shared transaction. Rows are serialised before they are queued, so a
 * value that cannot be stored fails its own caller and not the whole batch. A request, a journal entry and a finish
 * carry the events they cause (`events`, an outbox), written right after them in the same transaction.
 */
export type PendingLogWrite =
  | { kind: 'request'; log: unknown[]; execution?: unknown[]; journal: Row[]; events?: OutboxRows[] }
  | { kind: 'journal'; entry: Row; events?: OutboxRows[] }
  | { kind: 'finish'; finish: Row; events?: OutboxRows[] }
  | { kind: 'outcome'; outcome: Row };
/** an event's row and its deliveries' rows */
export type OutboxRows = { event: Row; deliveries: Row[] };
export type PendingEventWrite =
  | ({ kind: 'event' } & OutboxRows)
  | { kind: 'attempt'; attempt: Row; delivery: Row };
export type PendingWrite = PendingLogWrite | PendingEventWrite;

/** how long a write waits for another process's write transaction before failing with SQLITE_BUSY */
export const BUSY_TIMEOUT_MS = 5_000;
/** the sweeps delete in slices, yielding between them, so a large backlog does not stall requests or other writers */
export const SWEEP_SLICE = 1_000;

/** The connection's settings, before the migrations run. */
export function configure(db: Database.Database): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL'); // readers never block the writer; ':memory:' stays 'memory'
  // NORMAL in WAL mode: a commit is in the OS once the transaction returns, so it survives a killed process; only
  // a power loss or OS crash can lose the last commits before a checkpoint. This trade is documented for operators.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // SQLite's own default page cache, 2 MB: better-sqlite3 builds with 16 MB, which a server fills within seconds of
  // load (15 MB of its memory) while the pages it reads again (the tables' and indexes' newest) fit in far less, and
  // the rest are in the OS's file cache anyway (bench/README.md, "Start-up and memory at scale")
  db.pragma('cache_size = -2000');
}

export class SqliteSession {
  readonly batch: Batcher<PendingWrite>;
  closed = false;
  /** the WAL upkeep's (wal.ts): before a batch's transaction, and after it committed */
  beforeCommit: (() => void) | undefined;
  afterCommit: (() => void) | undefined;
  /** whether commits succeed; a server's store says so in its log (SqliteStore.watch) */
  readonly health = new WriteHealth(() => this.probeWrite(), (message) => this.onHealth(message));
  onHealth: (message: string) => void = () => undefined;
  /** told after each commit that stored events (the delivery worker's wake-up) */
  readonly eventsCommitted = new CommitListeners();
  private readonly filtered = new Map<string, Statement>();

  /** `commit` writes a batch in one transaction, or throws having rolled it back */
  constructor(
    readonly db: Database.Database,
    readonly now: () => Date,
    commit: (items: PendingWrite[]) => void,
  ) {
    this.batch = new Batcher((items) => {
      this.health.check();
      this.beforeCommit?.();
      try {
        commit(items);
      } catch (error) {
        this.health.failed(error);
        throw error;
      }
      this.health.succeeded();
      this.afterCommit?.();
      if (items.some(storesEvents)) this.eventsCommitted.notify();
    });
  }

  /** a write of its own, for the health probe: the database header's user_version, which nothing else uses */
  private probeWrite(): void {
    this.settle();
    this.db.pragma(`user_version = ${Math.floor(this.now().getTime() / 1000) % 2 ** 31}`);
  }

  /** Before any other read or write: commit what is queued, so operations apply in the order they were called. */
  settle(): void {
    this.ensureOpen();
    this.batch.flush();
  }

  ensureOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }

  /** a listing's statement, whose text depends on the filters it was given: prepared once per text */
  filteredStatement(sql: string): Statement {
    let statement = this.filtered.get(sql);
    if (!statement) this.filtered.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }
}

function storesEvents(item: PendingWrite): boolean {
  return item.kind === 'event' || ('events' in item && item.events !== undefined && item.events.length > 0);
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
