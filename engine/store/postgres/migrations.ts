import type pg from 'pg';
import { pendingMigrations, type Migration } from '../migration.ts';
import { inTransaction } from './sql.ts';

/**
 * The Postgres schema as one ordered list of migrations (see ../migration.ts): the same tables, columns and meaning as
 * SQLite's (../sqlite/migrations.ts), version for version, in Postgres types.
 *
 * - Times are timestamptz; the Store API still speaks ISO strings (one canonical form, millisecond precision).
 * - JSON values are `json`, not `jsonb`: json keeps the text as written and accepts every string JSON can hold
 *   (jsonb refuses "\u0000" and lone surrogates, which any caller can put in a query string or body, and one such
 *   row would fail the whole group commit it is in).
 * - Ids that order listings are COLLATE "C": byte order, as in SQLite, whatever the database's locale.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'webhook log, executions, journal',
    sql: `
      CREATE TABLE webhook_log (
        id             text COLLATE "C" PRIMARY KEY,
        received_at    timestamptz NOT NULL,
        flow_id        text NOT NULL,
        revision       text NOT NULL,
        method         text NOT NULL,
        path           text NOT NULL,
        headers        json NOT NULL,
        query          json NOT NULL,
        body           text,
        body_truncated boolean NOT NULL,
        outcome        text NOT NULL,
        reason         text,
        status         integer NOT NULL,
        duration_ms    double precision NOT NULL,
        execution_id   text,
        contact_id     text,
        identification text,
        duplicate_of   text,
        replay_of      text
      );
      -- newest-first listing and keyset pagination, overall and per flow; also the sweep's range scan
      CREATE INDEX webhook_log_received ON webhook_log (received_at, id);
      CREATE INDEX webhook_log_flow_received ON webhook_log (flow_id, received_at, id);

      -- No foreign key to webhook_log: the sweep may delete a log row while its execution still waits or runs.
      CREATE TABLE executions (
        id          text COLLATE "C" PRIMARY KEY,
        flow_id     text NOT NULL,
        revision    text NOT NULL,
        log_id      text NOT NULL,
        mode        text NOT NULL,
        status      text NOT NULL,
        input       json NOT NULL,
        attempts    integer NOT NULL DEFAULT 0,
        created_at  timestamptz NOT NULL,
        started_at  timestamptz,
        finished_at timestamptz,
        error       text,
        lease_until timestamptz
      );
      -- what claimExecutions looks for, one index each: queued oldest first, and running with an expired lease
      CREATE INDEX executions_queued ON executions (created_at, id) WHERE status = 'queued';
      CREATE INDEX executions_leased ON executions (lease_until) WHERE status = 'running';
      -- what the sweep deletes
      CREATE INDEX executions_finished ON executions (created_at) WHERE status IN ('completed', 'failed', 'stopped');

      -- one row per finished step: the primary key makes a second entry for the same step impossible
      CREATE TABLE journal (
        execution_id text COLLATE "C" NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        seq          integer NOT NULL,
        step_id      text COLLATE "C" NOT NULL,
        kind         text NOT NULL,
        result       json,
        vars         json,
        stop         boolean NOT NULL,
        started_at   timestamptz NOT NULL,
        finished_at  timestamptz NOT NULL,
        duration_ms  double precision NOT NULL,
        PRIMARY KEY (execution_id, step_id)
      );
    `,
  },
  {
    version: 2,
    name: 'contacts and their field changes',
    sql: `
      CREATE TABLE contacts (
        id         text COLLATE "C" PRIMARY KEY,
        phone      text UNIQUE,
        email      text UNIQUE,
        fields     json NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      -- old and new value of every field change, for the events that report them
      CREATE TABLE contact_field_changes (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        field      text NOT NULL,
        old_value  json,
        new_value  json,
        changed_at timestamptz NOT NULL,
        log_id     text
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
        flow_id      text NOT NULL,
        key          text NOT NULL,
        first_log_id text NOT NULL,
        answer       json,
        expires_at   timestamptz NOT NULL,
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
        id           text COLLATE "C" PRIMARY KEY,
        direction    text NOT NULL,
        channel      text NOT NULL,
        driver       text,
        contact_id   text,
        to_address   text,
        from_address text,
        content      json NOT NULL,
        provider_id  text,
        status       text NOT NULL,
        status_rank  integer NOT NULL,
        error        text,
        attempts     integer NOT NULL DEFAULT 0,
        flow_id      text,
        execution_id text,
        step_id      text,
        log_id       text,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL
      );
      -- one message per execution step: a resumed execution finds what it already attempted
      CREATE UNIQUE INDEX messages_step ON messages (execution_id, step_id) WHERE execution_id IS NOT NULL AND step_id IS NOT NULL;
      -- status callbacks find their message by the provider's id
      CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;
      -- newest-first listing, overall and per contact; the inbound check per channel
      CREATE INDEX messages_created ON messages (created_at, id);
      CREATE INDEX messages_contact ON messages (contact_id, created_at, id) WHERE contact_id IS NOT NULL;
      CREATE INDEX messages_inbound ON messages (channel, contact_id, from_address) WHERE direction = 'inbound';
      -- a redelivered inbound webhook (same provider message id on the channel) is one message
      CREATE UNIQUE INDEX messages_inbound_provider ON messages (channel, provider_id) WHERE direction = 'inbound' AND provider_id IS NOT NULL;
      -- every status a message went through, for the events that report them
      CREATE TABLE message_status_changes (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        status     text NOT NULL,
        at         timestamptz NOT NULL,
        source     text NOT NULL,
        error      text
      );
      CREATE INDEX message_status_changes_message ON message_status_changes (message_id, id);
    `,
  },
  {
    version: 5,
    name: 'outbound events, their deliveries and attempts',
    sql: `
      -- one row per event that at least one subscription wanted: the payload exactly as it is sent
      CREATE TABLE events (
        id         text COLLATE "C" PRIMARY KEY,
        type       text NOT NULL,
        flow_id    text,
        channel    text,
        contact_id text,
        payload    text NOT NULL,
        created_at timestamptz NOT NULL
      );
      CREATE INDEX events_created ON events (created_at);
      -- one row per event and subscription; the id is the order an ordered subscription receives them in
      CREATE TABLE event_deliveries (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subscription_id text NOT NULL,
        event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        event_type      text NOT NULL,
        status          text NOT NULL,
        attempts        integer NOT NULL DEFAULT 0,
        next_at         timestamptz NOT NULL,
        lease_until     timestamptz,
        created_at      timestamptz NOT NULL,
        last_attempt_at timestamptz,
        last_status     integer,
        last_error      text,
        finished_at     timestamptz,
        replays         integer NOT NULL DEFAULT 0
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
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id     bigint NOT NULL,
        subscription_id text NOT NULL,
        event_id        text NOT NULL,
        event_type      text NOT NULL,
        attempt         integer NOT NULL,
        at              timestamptz NOT NULL,
        outcome         text NOT NULL,
        status          integer,
        duration_ms     double precision,
        error           text,
        body            text
      );
      CREATE INDEX event_attempts_subscription ON event_attempts (subscription_id, at);
      CREATE INDEX event_attempts_errors ON event_attempts (subscription_id, id) WHERE outcome = 'error';
      CREATE INDEX event_attempts_delivery ON event_attempts (delivery_id);
      CREATE INDEX event_attempts_at ON event_attempts (at);
      -- the last open period of each subscription's circuit breaker
      CREATE TABLE event_breakers (
        subscription_id text PRIMARY KEY,
        opened_at       timestamptz NOT NULL,
        open_until      timestamptz NOT NULL
      );
    `,
  },
  {
    // (versions 6 and 7 are SQLite's own: rows laid out for its hot path, which Postgres keeps as version 1 made them)
    version: 8,
    name: 'the dedupe keys table named dedupe_keys',
    sql: `
      -- migration 3's table, under a name that is not the event deliveries' (migration 5); its rows stay
      ALTER TABLE deliveries RENAME TO dedupe_keys;
      ALTER TABLE dedupe_keys RENAME CONSTRAINT deliveries_pkey TO dedupe_keys_pkey;
      ALTER INDEX deliveries_expiry RENAME TO dedupe_keys_expiry;
    `,
  },
];

/**
 * The advisory lock migrations run under: replicas starting together queue on it, the first applies what is
 * missing, the others then find nothing left to do. A transaction-level lock, so a migrating process that dies
 * releases it with its connection. (The number is arbitrary; it only has to be the same in every engine.)
 */
export const MIGRATION_LOCK = 0x686f6f6b; // "hook"

/**
 * Applies the migrations this database lacks, in order, all in one transaction under the advisory lock (Postgres DDL
 * is transactional: a failed migration leaves nothing half done). Returns the versions it applied.
 */
export async function migrate(pool: pg.Pool, now: () => Date = () => new Date()): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL
    )`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of pendingMigrations(migrations, done)) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now().toISOString()]);
      applied.push(m.version);
    }
    return applied;
  });
}
