/**
 * The storage boundary. The runtime speaks only these interfaces, one port per concern (engine/store/ports/), each
 * defining its records; SQLite (embedded default, engine/store/sqlite/) and Postgres (engine/store/postgres/)
 * implement every port. Every method is async for Postgres's sake. Everything is importable from here.
 */
import type { ContactStore } from './ports/contacts.ts';
import type { DedupeStore } from './ports/dedupe.ts';
import type { EventStore } from './ports/events.ts';
import type { LogStore } from './ports/log.ts';
import type { MessageStore } from './ports/messages.ts';
import type { Writability } from './health.ts';

export type * from './ports/contacts.ts';
export type * from './ports/dedupe.ts';
export type * from './ports/events.ts';
export type * from './ports/log.ts';
export type * from './ports/messages.ts';
export { serialised, UnstorableError } from './ports/log.ts';
export type { Writability } from './health.ts';

/** A whole store: every port on one database, and the connection's end. */
export interface Store extends LogStore, DedupeStore, ContactStore, MessageStore, EventStore {
  /** commits what is queued, then closes the database */
  close(): Promise<void>;
  /** whether writes succeed now (a server's readiness) */
  writable(): Writability;
}

/** Group-commit counters: how many transactions the batched writes took (both backends count them). */
export interface CommitStats {
  batches: number;
  failedBatches: number;
}
