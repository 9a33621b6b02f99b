/**
 * A database written by the engine before the store's split into ports (commit a3d6c19, whose dedupe table was still
 * named `deliveries`) opens with this one's store, migrated, and serves every row it held: its webhook log,
 * executions and journal, dedupe keys (still claimed), contacts, messages and events; a queued execution and one whose
 * lease ran out are claimed and resume. SQLite: a copy of the file that version wrote; Postgres: the statements that
 * version sent, replayed into an empty database. Both fixtures hold the rows of fixtures/store-a3d6c19-rows.ts (made
 * by fixtures/make-store-a3d6c19.ts).
 */
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../engine/store/postgres/store.ts';
import { migrations as pgMigrations } from '../engine/store/postgres/migrations.ts';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import { migrations as sqliteMigrations } from '../engine/store/sqlite/migrations.ts';
import type { Message, NewMessage, Store } from '../engine/store/types.ts';
import * as old from './fixtures/store-a3d6c19-rows.ts';
import { scratchDir } from './support/files.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);
/** the new engine's clock: well after every time in the fixture, long before its dedupe keys expire */
const NOW = old.at(10_000);

interface OldDatabase {
  name: 'SQLite' | 'Postgres';
  /** a fresh copy of the fixture, opened with this engine's store */
  open(): Promise<{ store: Store; query(sql: string): Promise<Record<string, unknown>[]>; reopen(): Promise<Store> }>;
  migrations: readonly { version: number; name: string }[];
}

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let server: TestPostgres | undefined;
let opened: Store[] = [];
let copies = 0;

beforeAll(async () => {
  scratch = await scratchDir('hooks-store-migration-');
  server = await startPostgres();
});
afterEach(async () => {
  for (const store of opened) await store.close();
  opened = [];
});
afterAll(async () => {
  await server?.stop();
  await scratch.remove();
});

function track(store: Store): Store {
  opened.push(store);
  return store;
}

const sqlite: OldDatabase = {
  name: 'SQLite',
  migrations: sqliteMigrations,
  async open() {
    const file = join(scratch.dir, `copy-${++copies}.db`);
    await copyFile(new URL('store-a3d6c19.db', FIXTURES), file);
    const store = track(await openSqliteStore(file, { now: () => new Date(NOW) }));
    const query = async (sql: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    };
    return { store, query, reopen: async () => track(await openSqliteStore(file)) };
  },
};

const postgres: OldDatabase = {
  name: 'Postgres',
  migrations: pgMigrations,
  async open() {
    const url = await server!.database();
    const fixture = JSON.parse(await readFile(new URL('store-a3d6c19.pg.json', FIXTURES), 'utf8')) as { statements: { text: string; values: unknown[] }[] };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const statement of fixture.statements) await client.query(statement.text, statement.values);
    } finally {
      await client.end();
    }
    const store = track(await openPostgresStore(url, { now: () => new Date(NOW), poolSize: 2 }));
    const query = async (sql: string) => {
      const reader = new pg.Client({ connectionString: url });
      await reader.connect();
      try {
        return (await reader.query(sql)).rows;
      } finally {
        await reader.end();
      }
    };
    return { store, query, reopen: async () => track(await openPostgresStore(url, { poolSize: 2 })) };
  },
};

/** a message as the store hands it back, from what was stored and what happened to it since */
function message(stored: NewMessage, over: Partial<Message>): Message {
  const { statusRank: _, ...fields } = stored;
  return { ...fields, attempts: 0, createdAt: '', updatedAt: '', ...over };
}

describe.each([sqlite, postgres])('a $name database written by the store of commit a3d6c19', (backend) => {
  it('is migrated once: the dedupe table renamed to dedupe_keys, the earlier migrations as they were recorded', async () => {
    const { query, store, reopen } = await backend.open();
    const recorded = (await query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).map((r) => ({
      version: r.version,
      name: r.name,
      at: r.applied_at instanceof Date ? r.applied_at.toISOString() : r.applied_at,
    }));
    expect(recorded.map((r) => r.version)).toEqual(backend.migrations.map((m) => m.version));
    const [renamed] = recorded.filter((r) => r.version === 8);
    expect(renamed).toEqual({ version: 8, name: 'the dedupe keys table named dedupe_keys', at: NOW });
    expect(recorded.filter((r) => r.version !== 8).every((r) => r.at === old.MADE_AT)).toBe(true);
    const tables = backend.name === 'SQLite'
      ? await query("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('deliveries', 'dedupe_keys')")
      : await query("SELECT table_name AS name FROM information_schema.tables WHERE table_name IN ('deliveries', 'dedupe_keys')");
    expect(tables).toEqual([{ name: 'dedupe_keys' }]);
    const indexes = backend.name === 'SQLite'
      ? await query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dedupe_keys' ORDER BY name")
      : await query("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'dedupe_keys' ORDER BY indexname");
    // its primary key and its expiry index, named after it too
    expect(indexes.map((r) => r.name)).toEqual(backend.name === 'SQLite' ? ['dedupe_keys_expiry', 'sqlite_autoindex_dedupe_keys_1'] : ['dedupe_keys_expiry', 'dedupe_keys_pkey']);
    expect(await query('SELECT flow_id, key, first_log_id FROM dedupe_keys ORDER BY key')).toEqual([
      { flow_id: 'orders', key: 'order-7', first_log_id: 'log-queued' },
      { flow_id: 'orders', key: 'order-8', first_log_id: 'log-done' },
    ]);
    await store.close();
    opened = [];
    // a second start finds nothing left to do
    await reopen();
    expect(await query('SELECT CAST(count(*) AS integer) AS n FROM schema_migrations')).toEqual([{ n: backend.migrations.length }]);
  });

  it('serves its webhook log, executions and journal as they were written', async () => {
    const { store } = await backend.open();
    for (const entry of old.logsNewestFirst) expect(await store.getLog(entry.id)).toEqual(entry);
    expect(await store.listLogs({ limit: 10 })).toEqual(old.logsNewestFirst);
    expect(await store.listLogs({ limit: 2, before: 'log-resumable' })).toEqual(old.logsNewestFirst.slice(3, 5));
    expect(await store.listLogs({ outcome: 'duplicate', limit: 10 })).toEqual([old.duplicateLog]);
    expect(await store.listLogs({ contactId: 'ct-ann', limit: 10 })).toEqual([old.queuedLog]);

    expect(await store.getExecution('ex-queued')).toEqual(old.queued);
    expect(await store.getExecution('ex-sync')).toEqual(old.syncRun);
    expect(await store.journal('ex-sync')).toEqual(old.syncJournal);
    expect(await store.getExecution('ex-done')).toEqual({ ...old.doneRunning, status: 'completed', finishedAt: old.doneFinishedAt });
    expect(await store.journal('ex-done')).toEqual(old.doneJournal);
    expect(await store.getExecution('ex-resumable')).toEqual(old.resumableRunning);
    expect(await store.journal('ex-resumable')).toEqual(old.resumableJournal);
    expect(await store.queueDepth()).toBe(2);
  });

  it('hands its queued execution and the one whose lease ran out to the next claim, which resumes after the journaled step', async () => {
    const { store } = await backend.open();
    const claimed = await store.claimExecutions(10, 60_000, new Date(NOW));
    expect(claimed).toEqual([
      { ...old.queued, status: 'running', attempts: 1, startedAt: NOW },
      { ...old.resumableRunning, attempts: 2 },
    ]);
    expect(await store.claimExecutions(10, 60_000, new Date(NOW))).toEqual([]);
    expect(await store.journal('ex-resumable')).toEqual(old.resumableJournal);
    const next = old.step('ex-resumable', 2, 'second');
    await store.appendJournal(next);
    await store.finishExecution('ex-resumable', 'completed', null, old.at(10_100));
    expect(await store.getExecution('ex-resumable')).toMatchObject({ status: 'completed', finishedAt: old.at(10_100), attempts: 2 });
    expect(await store.journal('ex-resumable')).toEqual([...old.resumableJournal, next]);
    await store.updateLogOutcome('log-resumable', 'completed', 200, null, 6_100);
    expect(await store.getLog('log-resumable')).toEqual({ ...old.resumableLog, outcome: 'completed', status: 200, durationMs: 6_100 });
    expect(await store.queueDepth()).toBe(1);
  });

  it('keeps its dedupe keys claimed, with their answers, and lets them be answered, released and claimed again', async () => {
    const { store, query } = await backend.open();
    const until = old.at(86_400_000);
    const { answeredKey: answered, openKey: open } = old;
    expect(await store.claimDedupeKey(answered.flowId, answered.key, 'log-new', NOW, until)).toEqual({ first: false, firstLogId: answered.logId, answer: answered.answer });
    expect(await store.claimDedupeKey(open.flowId, open.key, 'log-new', NOW, until)).toEqual({ first: false, firstLogId: open.logId, answer: null });
    const answer = { status: 200, headers: {}, body: { done: true } };
    await store.recordDedupeAnswer(open.flowId, open.key, answer);
    expect(await store.claimDedupeKey(open.flowId, open.key, 'log-new', NOW, until)).toEqual({ first: false, firstLogId: open.logId, answer });
    await store.releaseDedupeKey(open.flowId, open.key);
    expect(await store.claimDedupeKey(open.flowId, open.key, 'log-new', NOW, until)).toEqual({ first: true, firstLogId: 'log-new', answer: null });
    expect(await store.claimDedupeKey('orders', 'order-9', 'log-9', NOW, until)).toEqual({ first: true, firstLogId: 'log-9', answer: null });
    // the sweep forgets keys whose window ended, and only those
    expect(await store.claimDedupeKey('orders', 'order-10', 'log-10', old.at(8_000), old.at(9_000))).toMatchObject({ first: true });
    await store.sweep(old.at(0));
    expect((await query('SELECT key FROM dedupe_keys ORDER BY key')).map((r) => r.key)).toEqual(['order-7', 'order-8', 'order-9']);
    expect(await store.claimDedupeKey(answered.flowId, answered.key, 'log-new', NOW, until)).toEqual({ first: false, firstLogId: answered.logId, answer: answered.answer });
  });

  it('serves its messages with their status history, and its contacts with their field changes', async () => {
    const { store } = await backend.open();
    const [sent, delivered] = old.outboundUpdates;
    const outbound = message(old.outbound, { status: 'delivered', providerId: 'SM0001', attempts: 1, createdAt: old.outboundAt, updatedAt: delivered.at });
    const inbound = message(old.inbound, { createdAt: old.inboundAt, updatedAt: old.inboundAt });
    expect(await store.getMessage('msg-out')).toEqual(outbound);
    expect(await store.getMessage('msg-in')).toEqual(inbound);
    expect(await store.listMessages({ limit: 10 })).toEqual([inbound, outbound]);
    expect(await store.listMessages({ direction: 'outbound', limit: 10 })).toEqual([outbound]);
    expect(await store.messageForStep('ex-done', 'notify')).toEqual(outbound);
    expect(await store.messagesByProviderId('SM0002')).toEqual([inbound]);
    expect(await store.hasInboundMessage('sms', { contactId: 'ct-ann' })).toBe(true);
    expect(await store.messageStatusChanges('msg-out')).toEqual([
      { messageId: 'msg-out', status: 'sending', at: old.outboundAt, source: 'engine', error: null },
      { messageId: 'msg-out', status: 'sent', at: sent.at, source: 'engine', error: null },
      { messageId: 'msg-out', status: 'delivered', at: delivered.at, source: 'callback', error: null },
    ]);

    const contact = { ...old.contact, fields: { name: 'Ann', tier: 'platinum' }, createdAt: old.at(1_005), updatedAt: old.at(3_010) };
    expect(await store.findContact({ phone: old.contact.phone })).toEqual(contact);
    expect(await store.listContacts({ email: old.contact.email, limit: 10 })).toEqual([contact]);
    expect(await store.fieldChanges(old.contact.id, 10)).toEqual([
      { contactId: 'ct-ann', field: 'tier', oldValue: 'gold', newValue: 'platinum', changedAt: old.at(3_010), logId: 'log-done' },
      { contactId: 'ct-ann', field: 'tier', oldValue: null, newValue: 'gold', changedAt: old.at(1_010), logId: 'log-queued' },
      { contactId: 'ct-ann', field: 'name', oldValue: null, newValue: 'Ann', changedAt: old.at(1_010), logId: 'log-queued' },
    ]);
  });

  it('serves its events: the delivery due again after its failed attempt, the attempt, and the breaker', async () => {
    const { store } = await backend.open();
    const [delivery] = await store.listEventDeliveries({ subscriptionId: 'crm', limit: 10 });
    expect(delivery).toEqual({
      id: delivery.id, subscriptionId: 'crm', eventId: 'evt-1', eventType: 'message.delivered', status: 'pending', attempts: 1,
      nextAt: old.eventRetryAt, createdAt: old.event.createdAt, lastAttemptAt: old.eventAttempt.at, lastStatus: 503, lastError: 'HTTP 503',
      finishedAt: null, replays: 0,
    });
    expect(await store.eventAttempts(delivery.id)).toEqual([{ ...old.eventAttempt, deliveryId: delivery.id }]);
    expect(await store.eventBreakers()).toEqual([old.breaker]);
    const [claimed] = await store.claimEventDeliveries('crm', 10, 30_000, new Date(old.at(20_000)), false);
    expect(claimed).toEqual({ ...delivery, payload: old.event.payload });
  });
});
