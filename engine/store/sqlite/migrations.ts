import type Database from 'better-sqlite3';
import { pendingMigrations, type Migration } from '../migration.ts';

/**
 * The SQLite schema as one ordered list of migrations (see ../migration.ts). Times are ISO-8601 UTC text in one
 * canonical form (Date#toISOString), so comparing them as text compares them as times; JSON values are TEXT.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'webhook log, executions, journal',
    sql: `
      CREATE TABLE webhook_log (
        id             TEXT PRIMARY KEY,
        received_at    TEXT NOT NULL,
        flow_id        TEXT NOT NULL,
        revision       TEXT NOT NULL,
        method         TEXT NOT NULL,
        path           TEXT NOT NULL,
        headers        TEXT NOT NULL,
        query          TEXT NOT NULL,
        body           TEXT,
        body_truncated INTEGER NOT NULL,
        outcome        TEXT NOT NULL,
        reason         TEXT,
        status         INTEGER NOT NULL,
        duration_ms    REAL NOT NULL,
        execution_id   TEXT,
        contact_id     TEXT,
        identification TEXT,
        duplicate_of   TEXT,
        replay_of      TEXT
      );
      -- newest-first listing and keyset pagination, overall and per flow; also the sweep's range scan
      CREATE INDEX webhook_log_received ON webhook_log (received_at, id);
      CREATE INDEX webhook_log_flow_received ON webhook_log (flow_id, received_at, id);

      -- No foreign key to webhook_log: the sweep may delete a log row while its execution still waits or runs.
      CREATE TABLE executions (
        id          TEXT PRIMARY KEY,
        flow_id     TEXT NOT NULL,
        revision    TEXT NOT NULL,
        log_id      TEXT NOT NULL,
        mode        TEXT NOT NULL,
        status      TEXT NOT NULL,
        input       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT NOT NULL,
        started_at  TEXT,
        finished_at TEXT,
        error       TEXT,
        lease_until TEXT
      );
      -- what claimExecutions looks for: queued, or running with an expired lease, oldest first
      CREATE INDEX executions_runnable ON executions (status, lease_until, created_at);

      -- one row per finished step: the primary key makes a second entry for the same step impossible
      CREATE TABLE journal (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        step_id      TEXT NOT NULL,
        kind         TEXT NOT NULL,
        result       TEXT,
        vars         TEXT,
        stop         INTEGER NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT NOT NULL,
        duration_ms  REAL NOT NULL,
        PRIMARY KEY (execution_id, step_id)
      );
    `,
  },
  {
    version: 2,
    name: 'contacts and their field changes',
    sql: `
      CREATE TABLE contacts (
        id         TEXT PRIMARY KEY,
        phone      TEXT UNIQUE,
        email      TEXT UNIQUE,
        fields     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      -- old and new value of every field change, for the events that report them
      CREATE TABLE contact_field_changes (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        field      TEXT NOT NULL,
        old_value  TEXT,
        new_value  TEXT,
        changed_at TEXT NOT NULL,
        log_id     TEXT
      );
      CREATE INDEX contact_field_changes_contact ON contact_field_changes (contact_id, id);
      -- a contact's last webhooks
      CREATE INDEX webhook_log_contact ON webhook_log (contact_id, received_at, id) WHERE contact_id IS NOT NULL;
    `,
  },
  {
    version: 3,
    name: 'dedupe keys',
    sql: `
      -- one row per delivery key and flow: the first delivery's log entry and answer, until the window ends
      CREATE TABLE deliveries (
        flow_id      TEXT NOT NULL,
        key          TEXT NOT NULL,
        first_log_id TEXT NOT NULL,
        answer       TEXT,
        expires_at   TEXT NOT NULL,
        PRIMARY KEY (flow_id, key)
      );
      CREATE INDEX deliveries_expiry ON deliveries (expires_at);
    `,
  },
  {
    version: 4,
    name: 'messages and their status changes',
    sql: `
      -- every message a flow sent (stored before the provider is called) and every message a contact sent in
      CREATE TABLE messages (
        id           TEXT PRIMARY KEY,
        direction    TEXT NOT NULL,
        channel      TEXT NOT NULL,
        driver       TEXT,
        contact_id   TEXT,
        to_address   TEXT,
        from_address TEXT,
        content      TEXT NOT NULL,
        provider_id  TEXT,
        status       TEXT NOT NULL,
        status_rank  INTEGER NOT NULL,
        error        TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        flow_id      TEXT,
        execution_id TEXT,
        step_id      TEXT,
        log_id       TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      );
      -- one message per execution step: a resumed execution finds what it already attempted
      CREATE UNIQUE INDEX messages_step ON messages (execution_id, step_id) WHERE execution_id IS NOT NULL AND step_id IS NOT NULL;
      -- status callbacks find their message by the provider's id
      CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;
      -- newest-first listing, overall and per contact, ties in time broken by insertion order (the rowid, which
      -- every index entry carries); the inbound check per channel
      CREATE INDEX messages_created ON messages (created_at);
      CREATE INDEX messages_contact ON messages (contact_id, created_at) WHERE contact_id IS NOT NULL;
      CREATE INDEX messages_inbound ON messages (channel, contact_id, from_address) WHERE direction = 'inbound';
      -- a redelivered inbound webhook (same provider message id on the channel) is one message
      CREATE UNIQUE INDEX messages_inbound_provider ON messages (channel, provider_id) WHERE direction = 'inbound' AND provider_id IS NOT NULL;
      -- every status a message went through, for the events that report them
      CREATE TABLE message_status_changes (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        status     TEXT NOT NULL,
        at         TEXT NOT NULL,
        source     TEXT NOT NULL,
        error      TEXT
      );
      CREATE INDEX message_status_changes_message ON message_status_changes (message_id, id);
    `,
  },
  {
    // (version 4 is the messages migration; the list may reach a database with a gap, which `migrate` fills in order)
    version: 5,
    name: 'outbound events, their deliveries and attempts',
    sql: `
      -- one row per event that at least one subscription wanted: the payload exactly as it is sent
      CREATE TABLE events (
        id         TEXT PRIMARY KEY,
        type       TEXT NOT NULL,
        flow_id    TEXT,
        channel    TEXT,
        contact_id TEXT,
        payload    TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX events_created ON events (created_at);
      -- one row per event and subscription; the integer id is the order an ordered subscription receives them in
      CREATE TABLE event_deliveries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id TEXT NOT NULL,
        event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        event_type      TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_at         TEXT NOT NULL,
        lease_until     TEXT,
        created_at      TEXT NOT NULL,
        last_attempt_at TEXT,
        last_status     INTEGER,
        last_error      TEXT,
        finished_at     TEXT,
        replays         INTEGER NOT NULL DEFAULT 0
      );
      -- what a claim looks for: a subscription's pending deliveries that are due
      CREATE INDEX event_deliveries_due ON event_deliveries (subscription_id, next_at, id) WHERE status = 'pending';
      -- an ordered subscription's first pending delivery; listing, counting and replaying by status
      CREATE INDEX event_deliveries_subscription ON event_deliveries (subscription_id, status, id);
      CREATE INDEX event_deliveries_event ON event_deliveries (event_id);
      CREATE INDEX event_deliveries_finished ON event_deliveries (created_at) WHERE status <> 'pending';
      -- every attempt (and every delivery the circuit breaker held), for the health figures and the error list;
      -- no foreign key: the retention sweep removes them on their own schedule
      CREATE TABLE event_attempts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id     INTEGER NOT NULL,
        subscription_id TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        event_type      TEXT NOT NULL,
        attempt         INTEGER NOT NULL,
        at              TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        status          INTEGER,
        duration_ms     REAL,
        error           TEXT,
        body            TEXT
      );
      CREATE INDEX event_attempts_subscription ON event_attempts (subscription_id, at);
      CREATE INDEX event_attempts_errors ON event_attempts (subscription_id, id) WHERE outcome = 'error';
      CREATE INDEX event_attempts_delivery ON event_attempts (delivery_id);
      CREATE INDEX event_attempts_at ON event_attempts (at);
      -- the last open period of each subscription's circuit breaker
      CREATE TABLE event_breakers (
        subscription_id TEXT PRIMARY KEY,
        opened_at       TEXT NOT NULL,
        open_until      TEXT NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'journal kept in the execution row',
    sql: `
      -- a sync run that ended before its answer is committed as one execution row with its whole journal (JSON), not
      -- one row per step; the journal table keeps the steps of every other execution
      ALTER TABLE executions ADD COLUMN journal TEXT;
    `,
  },
  {
    version: 7,
    name: 'a finished sync run kept in its log row',
    sql: `
      -- a sync run that ended before its answer: the execution with its journal (JSON, less what the row itself holds) in
      -- the request's own row, not a row of executions (one row per request on the sync hot path); found through this index
      ALTER TABLE webhook_log ADD COLUMN execution TEXT;
      CREATE INDEX webhook_log_execution ON webhook_log (execution_id) WHERE execution IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'the dedupe keys table named dedupe_keys',
    sql: `
      -- migration 3's table, under a name that is not the event deliveries' (migration 5); its rows stay
      ALTER TABLE deliveries RENAME TO dedupe_keys;
      DROP INDEX deliveries_expiry;
      CREATE INDEX dedupe_keys_expiry ON dedupe_keys (expires_at);
    `,
  },
];

/**
 * Applies the migrations this database lacks, in order, in one write transaction (so two processes opening the same
 * new file do not both apply them). Returns the versions it applied: empty when the database was up to date.
 */
export function migrate(db: Database.Database, now: () => Date = () => new Date()): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const run = db.transaction((): number[] => {
    const done = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const applied: number[] = [];
    for (const m of pendingMigrations(migrations, done)) {
      db.exec(m.sql);
      record.run(m.version, m.name, now().toISOString());
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}
