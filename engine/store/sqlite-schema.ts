import type Database from 'better-sqlite3';

/**
 * The SQLite schema as an ordered list of migrations. A migration is never edited once released: a change is a new
 * entry with the next version. Times are ISO-8601 UTC text in one canonical form (Date#toISOString), so comparing
 * them as text compares them as times; JSON values are TEXT.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
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
    const latest = Math.max(0, ...migrations.map((m) => m.version));
    const newer = [...done].filter((v) => v > latest);
    if (newer.length > 0) {
      throw new Error(`database schema version ${Math.max(...newer)} is newer than this engine knows (${latest}): upgrade the engine`);
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now().toISOString());
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}
