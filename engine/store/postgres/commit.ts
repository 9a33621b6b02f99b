import type pg from 'pg';
import { eventStatements } from './events.ts';
import { logStatements } from './log.ts';
import type { PendingEventWrite, PendingLogWrite, PendingWrite } from './session.ts';
import { combine, inTransaction, MAX_COMBINED_PARAMETERS } from './sql.ts';

/**
 * The group commit's write (session.ts): one batch of queued writes in one transaction, inserts first (logs,
 * executions, journal, events), then updates.
 */
export function groupCommit(pool: pg.Pool): (items: PendingWrite[]) => Promise<void> {
  return async (items) => {
    const logWrites: PendingLogWrite[] = [];
    const eventWrites: PendingEventWrite[] = [];
    for (const item of items) {
      if (item.kind === 'event' || item.kind === 'attempt') eventWrites.push(item);
      else {
        logWrites.push(item);
        // the events this write causes, in its transaction (an outbox)
        if (item.kind !== 'outcome' && item.events) for (const values of item.events) eventWrites.push({ kind: 'event', ...values });
      }
    }
    const log = logStatements(logWrites);
    const events = eventStatements(eventWrites);
    const statements = [...log.inserts, ...events.inserts, ...log.updates, ...events.updates];
    // One statement when it can be: the writes as data-modifying CTEs of one statement, which is one round trip and
    // its own transaction. Not when an update targets a row inserted in the same batch (every part of one statement
    // sees the same snapshot, so the update would miss it), nor when two updates hit one row.
    const single =
      statements.length === 1 ||
      (!log.updatesInserted() &&
        new Set(events.updatedIds).size === events.updatedIds.length &&
        statements.reduce((n, s) => n + s.values.length, 0) <= MAX_COMBINED_PARAMETERS);
    if (single) {
      await pool.query(statements.length === 1 ? statements[0] : combine(statements));
      return;
    }
    await inTransaction(pool, async (client) => {
      for (const statement of statements) await client.query(statement);
    });
  };
}
