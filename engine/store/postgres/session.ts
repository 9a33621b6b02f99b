import type pg from 'pg';
import { AsyncBatcher } from './batcher.ts';
import { WriteHealth } from '../health.ts';
import { CommitListeners } from '../ports/events.ts';

/**
 * What the Postgres store's parts (log.ts, dedupe.ts, contacts.ts, messages.ts, events.ts) share: the pool, the clock,
 * and the group commit that the log's and the events' writes join (commit.ts).
 */

/**
 * One group-committed write, already turned into column values (so a value that cannot be stored fails its caller):
 * a request's log row (with its execution and journal), a later change to an execution or a log row, an event with
 * its deliveries, or an event delivery's attempt. A request, a journal entry and a finish carry the events they cause
 * (`events`, an outbox), written in the same transaction.
 */
export type PendingLogWrite =
  | { kind: 'request'; log: unknown[]; execution?: unknown[]; journal: unknown[][]; events?: OutboxValues[] }
  | { kind: 'journal'; entry: unknown[]; events?: OutboxValues[] }
  | { kind: 'finish'; id: string; finish: unknown[]; events?: OutboxValues[] }
  | { kind: 'outcome'; id: string; outcome: unknown[] };
/** an event's column values and its deliveries' */
export type OutboxValues = { event: unknown[]; deliveries: unknown[][] };
export type PendingEventWrite =
  | ({ kind: 'event' } & OutboxValues)
  | { kind: 'attempt'; attempt: unknown[]; delivery: unknown[] };
export type PendingWrite = PendingLogWrite | PendingEventWrite;

/** the sweeps delete in slices, so that a large backlog never holds many row locks in one transaction */
export const SWEEP_SLICE = 1_000;

export class PostgresSession {
  readonly batch: AsyncBatcher<PendingWrite>;
  closed = false;
  /** whether commits succeed; a server's store says so in its log */
  readonly health = new WriteHealth(() => this.probeWrite(), (message) => this.onHealth(message));
  onHealth: (message: string) => void = () => undefined;
  /** told after each commit that stored events (the delivery worker's wake-up) */
  readonly eventsCommitted = new CommitListeners();

  /** `commit` writes a batch in one transaction, or throws having committed none of it */
  constructor(
    readonly pool: pg.Pool,
    readonly now: () => Date,
    commit: (items: PendingWrite[]) => Promise<void>,
  ) {
    this.batch = new AsyncBatcher(async (items) => {
      try {
        await commit(items);
      } catch (error) {
        this.health.failed(error);
        throw error;
      }
      this.health.succeeded();
      if (items.some(storesEvents)) this.eventsCommitted.notify();
    });
  }

  /** the probe: a connection that answers, on a server that takes writes (not a standby in recovery) */
  private async probeWrite(): Promise<void> {
    const { rows } = await this.pool.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
    if (rows[0].recovering) throw new Error('the server is a read-only standby');
  }

  /** Before any other read or write: wait for what is queued, so operations apply in the order they were called. */
  settle(): Promise<void> {
    this.ensureOpen();
    return this.batch.flush();
  }

  ensureOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}

function storesEvents(item: PendingWrite): boolean {
  return item.kind === 'event' || ('events' in item && item.events !== undefined && item.events.length > 0);
}
