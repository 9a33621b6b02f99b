/**
 * The store's contract, run against both backends: SQLite (a file per test) and Postgres (one embedded server for this
 * file, a database per test). Each `describe` below runs once per backend; what only one backend has (SQLite's
 * file, WAL and folder; Postgres's advisory-locked migrations and text it cannot hold) is in its own block, marked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../engine/store/open.ts';
import { migrate, migrations } from '../engine/store/sqlite/migrations.ts';
import { migrations as pgMigrations, MIGRATION_LOCK } from '../engine/store/postgres/migrations.ts';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import { startCheckpointer } from '../engine/store/sqlite/checkpointer.ts';
import { openPostgresStore } from '../engine/store/postgres/store.ts';
import { AsyncBatcher } from '../engine/store/postgres/batcher.ts';
import type { CommitStats, ExecutionRecord, JournalEntry, LogEntry, NewMessage, OutboxEvent, Store } from '../engine/store/types.ts';
import { scratchDir } from './support/files.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRITER = fileURLToPath(new URL('./support/sqlite-writer.ts', import.meta.url));
const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** Both stores count their group-commit transactions. */
type TestStore = Store & { readonly stats: CommitStats };

interface Backend {
  name: 'SQLite' | 'Postgres';
  /** a new, empty database: a file path (SQLite) or a postgres:// url */
  fresh(): Promise<string>;
  open(db: string, now?: () => Date): Promise<TestStore>;
  /** the database as a storage url (for openStore and helper processes) */
  url(db: string): string;
  /** what each backend says when a constraint fails (the assertions stay as strict as they were for SQLite) */
  errors: { duplicateLogId: RegExp; duplicate: RegExp; foreignKey: RegExp };
}

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let server: TestPostgres | undefined;
let opened: Store[] = [];
let children: ChildProcess[] = [];
let n = 0;

const sqlite: Backend = {
  name: 'SQLite',
  fresh: async () => join(scratch.dir, `db-${++n}`, 'hooks.db'),
  open: (file, now) => openSqliteStore(file, { now }),
  url: (file) => `sqlite://${file}`,
  errors: { duplicateLogId: /UNIQUE constraint failed: webhook_log.id/, duplicate: /UNIQUE/, foreignKey: /FOREIGN KEY/ },
};

const postgres: Backend = {
  name: 'Postgres',
  fresh: () => server!.database(),
  open: (url, now) => openPostgresStore(url, { now, poolSize: 4 }),
  url: (url) => url,
  errors: {
    duplicateLogId: /duplicate key value violates unique constraint "webhook_log_pkey"/,
    duplicate: /duplicate key value violates unique constraint/,
    foreignKey: /violates foreign key constraint "journal_execution_id_fkey"/,
  },
};

// one Postgres server for the whole file
beforeAll(async () => {
  scratch = await scratchDir('hooks-store-');
  server = await startPostgres();
});
afterEach(async () => {
  for (const s of opened) await s.close();
  opened = [];
  // a failed test must not leave a helper process behind
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children = [];
});
afterAll(async () => {
  await server?.stop();
  await scratch.remove();
});

function log(id: string, over: Partial<LogEntry> = {}): LogEntry {
  return {
    id, receivedAt: at(0), flowId: 'orders', revision: 'rev-1', method: 'POST', path: '/hooks/orders',
    headers: { 'content-type': 'application/json', authorization: '[redacted]' }, query: { a: '1' }, body: '{"n":1}',
    bodyTruncated: false, outcome: 'accepted', reason: null, status: 202, durationMs: 3, executionId: null,
    contactId: null, identification: null, duplicateOf: null, replayOf: null, ...over,
  };
}

function execution(id: string, logId: string, over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id, flowId: 'orders', revision: 'rev-1', logId, mode: 'async', status: 'queued', attempts: 0, createdAt: at(0),
    startedAt: null, finishedAt: null, error: null,
    input: {
      request: { method: 'POST', path: '/hooks/orders', headers: { 'x-id': '7' }, query: {}, body: { order: { id: 7, items: [1, 2] } }, ip: '203.0.113.9', receivedAt: at(0) },
      vars: { total: 12.5 }, contactId: null,
    },
    ...over,
  };
}

/** A sync run that ended before its answer, as the pipeline commits it with its log entry: the fields they share agree. */
function finishedRun(entry: LogEntry, over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  const run = execution(entry.executionId!, entry.id, { mode: 'sync', status: 'completed', attempts: 1, createdAt: entry.receivedAt, startedAt: entry.receivedAt, finishedAt: entry.receivedAt, ...over });
  const { method, path, query, receivedAt } = entry;
  return { ...run, input: { ...run.input, request: { ...run.input.request, method, path, query, receivedAt } } };
}

function step(executionId: string, seq: number, stepId: string, over: Partial<JournalEntry> = {}): JournalEntry {
  return {
    executionId, seq, stepId, kind: 'set', result: { ok: true }, vars: { seen: seq }, stop: false,
    startedAt: at(seq * 10), finishedAt: at(seq * 10 + 5), durationMs: 5, ...over,
  };
}

function outboundMessage(id: string, over: Partial<NewMessage> = {}): NewMessage {
  return {
    id, direction: 'outbound', channel: 'sms', driver: 'twilio-sms', contactId: 'c-1', to: '+14155550100', from: null,
    content: { text: 'hello ✓', nested: [1, null] }, providerId: null, status: 'sending', statusRank: 0, error: null,
    flowId: 'orders', executionId: 'x-1', stepId: 'text', logId: null, ...over,
  };
}

/** Runs test/support/sqlite-writer.ts (any storage url) in its own process. */
function helper(mode: 'write' | 'claim', url: string): ChildProcess & { stdin: NodeJS.WritableStream; stdout: NodeJS.ReadableStream } {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, mode, url], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

/** Accepted request `id` with execution `x-id`, created `ms` after T0. */
const accept = (store: Store, id: string, ms = 0) =>
  store.commitLog(log(id, { receivedAt: at(ms), executionId: `x-${id}` }), execution(`x-${id}`, id, { createdAt: at(ms) }));

describe.each([sqlite, postgres])('$name store', (backend) => {
  /** A fresh database per test (or a given one, to open it twice). */
  async function open(db?: string, now?: () => Date) {
    db ??= await backend.fresh();
    const store = await backend.open(db, now);
    opened.push(store);
    return { store, db };
  }

  describe('records', () => {
    it('round-trips a log entry and an execution with every field, JSON values and nulls', async () => {
      const { store } = await open();
      const full = log('full', {
        body: 'ünïcødé ✓ '.repeat(3), bodyTruncated: true, outcome: 'failed', reason: 'step "charge" failed', status: 500,
        durationMs: 12.75, executionId: 'x-full', contactId: 'c-1', identification: 'phone', duplicateOf: 'older', replayOf: 'orig',
        headers: { 'x-list': ['a', 'b'], nested: { deep: [1, null, true] } }, query: { q: ['1', '2'] },
      });
      const bare = log('bare', { body: null, headers: {}, query: {} });
      const exec = execution('x-full', 'full', { status: 'completed', attempts: 2, startedAt: at(1), finishedAt: at(2), error: 'boom', mode: 'sync' });
      await store.commitLog(full, exec);
      await store.commitLog(bare, execution('x-bare', 'bare'));

      expect(await store.getLog('full')).toEqual(full);
      expect(await store.getLog('bare')).toEqual(bare);
      expect(await store.getExecution('x-full')).toEqual(exec);
      expect(await store.getExecution('x-bare')).toEqual(execution('x-bare', 'bare'));
      expect(await store.getLog('missing')).toBeUndefined();
      expect(await store.getExecution('missing')).toBeUndefined();
    });

    it('lists logs newest first with filters, and pages through ties in received_at without gaps or repeats', async () => {
      const { store } = await open();
      // three share one instant: the id breaks the tie
      const entries = [
        log('a', { receivedAt: at(0), flowId: 'orders', status: 202, outcome: 'accepted' }),
        log('b', { receivedAt: at(1000), flowId: 'signup', status: 401, outcome: 'rejected' }),
        log('c', { receivedAt: at(1000), flowId: 'orders', status: 202, outcome: 'accepted' }),
        log('d', { receivedAt: at(1000), flowId: 'orders', status: 500, outcome: 'failed' }),
        log('e', { receivedAt: at(2000), flowId: 'signup', status: 200, outcome: 'completed' }),
        log('f', { receivedAt: at(3000), flowId: 'orders', status: 202, outcome: 'duplicate', duplicateOf: 'c' }),
        log('g', { receivedAt: at(3000), flowId: 'orders', status: 202, outcome: 'accepted' }),
      ];
      await Promise.all(entries.map((e) => store.commitLog(e)));
      const ids = (list: LogEntry[]) => list.map((e) => e.id);

      expect(ids(await store.listLogs({ limit: 100 }))).toEqual(['g', 'f', 'e', 'd', 'c', 'b', 'a']);
      expect(ids(await store.listLogs({ limit: 100, flowId: 'orders' }))).toEqual(['g', 'f', 'd', 'c', 'a']);
      expect(ids(await store.listLogs({ limit: 100, status: 202 }))).toEqual(['g', 'f', 'c', 'a']);
      expect(ids(await store.listLogs({ limit: 100, outcome: 'rejected' }))).toEqual(['b']);
      expect(ids(await store.listLogs({ limit: 100, since: at(1000) }))).toEqual(['g', 'f', 'e', 'd', 'c', 'b']); // inclusive
      expect(ids(await store.listLogs({ limit: 100, flowId: 'orders', status: 202, since: at(500) }))).toEqual(['g', 'f', 'c']);
      expect(ids(await store.listLogs({ limit: 2 }))).toEqual(['g', 'f']);
      expect(await store.listLogs({ limit: 0 })).toEqual([]);

      const pages = async (query: { flowId?: string }) => {
        const seen: string[][] = [];
        let before: string | undefined;
        for (;;) {
          const page = ids(await store.listLogs({ ...query, limit: 2, before }));
          if (page.length === 0) return seen;
          seen.push(page);
          before = page[page.length - 1];
        }
      };
      expect(await pages({})).toEqual([['g', 'f'], ['e', 'd'], ['c', 'b'], ['a']]);
      expect(await pages({ flowId: 'orders' })).toEqual([['g', 'f'], ['d', 'c'], ['a']]);
      expect(ids(await store.listLogs({ limit: 100, before: 'd' }))).toEqual(['c', 'b', 'a']);
      // a cursor that no longer exists (swept) has nothing older left
      expect(await store.listLogs({ limit: 100, before: 'gone' })).toEqual([]);
    });
  });

  describe('group commit', () => {
    it('commits 500 concurrent accepted requests in fewer transactions than calls, all readable afterwards', async () => {
      const { store } = await open();
      const before = store.stats.batches;
      const calls = Array.from({ length: 500 }, (_, i) => accept(store, `g-${String(i).padStart(3, '0')}`, i));
      await Promise.all(calls);
      const batches = store.stats.batches - before;

      expect(batches).toBeGreaterThan(0);
      expect(batches).toBeLessThanOrEqual(2); // one transaction per 256 queued writes at most
      expect(await store.listLogs({ limit: 1000 })).toHaveLength(500);
      expect(await store.queueDepth()).toBe(500);
      expect((await store.getExecution('x-g-499'))?.logId).toBe('g-499');
    });

    it('rejects every caller of a failed batch, commits none of it, and keeps working for the next batch', async () => {
      const { store } = await open();
      await accept(store, 'existing');
      const failedBefore = store.stats.failedBatches;

      const batch = [accept(store, 'p'), accept(store, 'q'), store.commitLog(log('p'), execution('x-other', 'p'))];
      const results = await Promise.allSettled(batch);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      for (const r of results) expect((r as PromiseRejectedResult).reason.message).toMatch(backend.errors.duplicateLogId);
      expect(store.stats.failedBatches).toBe(failedBefore + 1);
      for (const id of ['p', 'q']) expect(await store.getLog(id)).toBeUndefined();
      for (const id of ['x-p', 'x-q', 'x-other']) expect(await store.getExecution(id)).toBeUndefined();

      // a duplicate of an already committed row fails its batch too, without touching the committed row
      await expect(accept(store, 'existing')).rejects.toThrow(backend.errors.duplicate);
      expect((await store.getLog('existing'))?.receivedAt).toBe(at(0));

      await accept(store, 'after');
      expect(await store.getLog('after')).toBeDefined();
      expect(await store.queueDepth()).toBe(2);
    });

    it('fails only its own caller when a value cannot be stored, not the rest of the batch', async () => {
      const { store } = await open();
      const results = await Promise.allSettled([
        accept(store, 'fine-1'),
        store.commitLog(log('bad', { receivedAt: 'yesterday-ish' }), execution('x-bad', 'bad')),
        accept(store, 'fine-2'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/receivedAt is not a valid time/);
      expect(await store.getLog('fine-2')).toBeDefined();
      expect(await store.getLog('bad')).toBeUndefined();
    });

    it('applies a later write after a queued one it was called after, and close() commits what is queued', async () => {
      const { store, db } = await open();
      const committed = store.commitLog(log('sync', { outcome: 'accepted', status: 200 }));
      await store.updateLogOutcome('sync', 'completed', 201, null, 40); // called before the batch's tick came
      await committed;
      expect(await store.getLog('sync')).toMatchObject({ outcome: 'completed', status: 201, durationMs: 40 });

      const pending = accept(store, 'queued-at-close');
      await store.close();
      await pending;
      await expect(store.getLog('sync')).rejects.toThrow(/closed/);
      const { store: reopened } = await open(db);
      expect(await reopened.getExecution('x-queued-at-close')).toBeDefined();
    });

    it('keeps every write a killed process had reported as committed', async () => {
      const db = await backend.fresh();
      const child = helper('write', backend.url(db));
      const printed: string[] = [];
      // 'close', not 'exit': the lines still in the pipe when the process ends are read first
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
      createInterface({ input: child.stdout }).on('line', (id) => {
        printed.push(id);
        // it never stops on its own: SIGKILL lands in the middle of its stream of group commits
        if (printed.length === 600) child.kill('SIGKILL');
      });
      expect(await exited).toBe('SIGKILL');

      const { store } = await open(db);
      const missing: string[] = [];
      for (const id of printed) {
        if (!(await store.getLog(id)) || !(await store.getExecution(`x-${id}`))) missing.push(id);
      }
      expect(printed.length).toBeGreaterThanOrEqual(600);
      expect(missing).toEqual([]);
    });
  });

  describe('claiming executions', () => {
    it('gives two stores on the same file disjoint claims, oldest first', async () => {
      const { store: a, db } = await open();
      const { store: b } = await open(db);
      for (let i = 0; i < 10; i++) await accept(a, `e${i}`, i);

      const ids = (list: ExecutionRecord[]) => list.map((e) => e.id);
      const first = await a.claimExecutions(3, 60_000, new Date(T0 + 100));
      const second = await b.claimExecutions(3, 60_000, new Date(T0 + 100));
      const third = await a.claimExecutions(10, 60_000, new Date(T0 + 100));
      expect(ids(first)).toEqual(['x-e0', 'x-e1', 'x-e2']);
      expect(ids(second)).toEqual(['x-e3', 'x-e4', 'x-e5']);
      expect(ids(third)).toEqual(['x-e6', 'x-e7', 'x-e8', 'x-e9']);
      expect(await b.claimExecutions(10, 60_000, new Date(T0 + 100))).toEqual([]);
      expect(first[0]).toMatchObject({ status: 'running', attempts: 1, startedAt: at(100) });
      expect(await b.getExecution('x-e0')).toMatchObject({ status: 'running', attempts: 1 });
    });

    it('never lets two processes claim the same execution', async () => {
      const { store, db } = await open();
      await Promise.all(Array.from({ length: 600 }, (_, i) => accept(store, `m${i}`, i)));
      await store.close();
      opened = [];

      const claimers = [0, 1].map(() => {
        const child = helper('claim', backend.url(db));
        const ids: string[] = [];
        const lines = createInterface({ input: child.stdout });
        const ready = new Promise<void>((resolve) => lines.on('line', (line) => (line === 'ready' ? resolve() : line !== 'done' && ids.push(line))));
        // 'close', not 'exit': every id printed is read before the ids are compared
        const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
        return { child, ids, ready, exited };
      });
      await Promise.all(claimers.map((c) => c.ready));
      for (const c of claimers) c.child.stdin.end('go\n'); // both start claiming together
      expect(await Promise.all(claimers.map((c) => c.exited))).toEqual([0, 0]);

      const [one, two] = claimers.map((c) => c.ids);
      expect(one.filter((id) => two.includes(id))).toEqual([]);
      expect(new Set([...one, ...two]).size).toBe(600);
      expect(one.length + two.length).toBe(600);
      const { store: after } = await open(db);
      expect(await after.getExecution('x-m599')).toMatchObject({ status: 'running', attempts: 1 });
    });

    it('reclaims an execution whose lease expired, counting the attempt; renewLease keeps it claimed', async () => {
      let clock = T0;
      const { store } = await open(undefined, () => new Date(clock));
      await accept(store, 'slow');

      expect(await store.claimExecutions(5, 1000, new Date(T0))).toMatchObject([{ id: 'x-slow', attempts: 1, startedAt: at(0) }]);
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 999))).toEqual([]); // lease still held

      clock = T0 + 900;
      await store.renewLease('x-slow', 1000); // held until T0 + 1900
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 1500))).toEqual([]);

      // the process that held it went away: its lease runs out and another claim takes it over
      const reclaimed = await store.claimExecutions(5, 1000, new Date(T0 + 1901));
      expect(reclaimed).toMatchObject([{ id: 'x-slow', status: 'running', attempts: 2, startedAt: at(0) }]);
      // claimExecutions without `now` uses the store's clock
      clock = T0 + 5000;
      expect(await store.claimExecutions(5, 1000)).toMatchObject([{ id: 'x-slow', attempts: 3 }]);
    });

    it('leaves an execution committed as claimed to its process until the lease runs out, then lets another take it', async () => {
      const { store } = await open();
      const running = execution('x-own', 'own', { status: 'running', attempts: 1, startedAt: at(0) });
      await store.commitLog(log('own', { executionId: 'x-own' }), running, [], at(1000));

      expect(await store.getExecution('x-own')).toEqual(running);
      expect(await store.queueDepth()).toBe(1);
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 999))).toEqual([]);
      // its process died before finishing: the next claim after the lease resumes it as a second attempt
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 1001))).toMatchObject([{ id: 'x-own', attempts: 2, startedAt: at(0) }]);
    });

    it('leases a sync run that goes on after its answer, with the journal so far, and lets another resume it', async () => {
      const { store } = await open();
      const running = execution('x-tail', 'tail', { mode: 'sync', status: 'running', attempts: 1, startedAt: at(0) });
      await store.commitLog(log('tail', { outcome: 'completed', status: 200, executionId: 'x-tail' }), running, [step('x-tail', 1, 'answer')], at(1000));

      expect(await store.getExecution('x-tail')).toEqual(running);
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 999))).toEqual([]);
      expect(await store.claimExecutions(5, 1000, new Date(T0 + 1001))).toMatchObject([{ id: 'x-tail', mode: 'sync', attempts: 2 }]);
      expect((await store.journal('x-tail')).map((e) => e.stepId)).toEqual(['answer']);
    });

    it('never claims a finished execution, even long after its lease', async () => {
      const { store } = await open();
      await accept(store, 'done');
      await store.commitLog(log('sync'), execution('x-sync', 'sync', { mode: 'sync', status: 'completed', startedAt: at(0), finishedAt: at(1) }));
      await store.claimExecutions(5, 1000, new Date(T0));
      await store.finishExecution('x-done', 'failed', 'gave up', at(500));

      expect(await store.claimExecutions(5, 1000, new Date(T0 + 86_400_000))).toEqual([]);
      expect(await store.getExecution('x-done')).toMatchObject({ status: 'failed', error: 'gave up', finishedAt: at(500), attempts: 1 });
    });
  });

  describe('journal, outcomes, queue depth and sweep', () => {
    it('keeps the journal in seq order and ignores a second entry for the same step', async () => {
      const { store } = await open();
      await accept(store, 'j');
      await store.appendJournal(step('x-j', 2, 'send', { kind: 'send', result: null, vars: null, stop: true }));
      await store.appendJournal(step('x-j', 1, 'fetch', { kind: 'http', result: { status: 200, body: [1, 'two'] } }));
      await store.appendJournal(step('x-j', 3, 'fetch', { result: 'a second run must not overwrite the first' }));
      await store.appendJournal(step('x-j', 4, 'note', { result: undefined }));

      const journal = await store.journal('x-j');
      expect(journal.map((e) => [e.seq, e.stepId])).toEqual([[1, 'fetch'], [2, 'send'], [4, 'note']]);
      expect(journal[0]).toEqual(step('x-j', 1, 'fetch', { kind: 'http', result: { status: 200, body: [1, 'two'] } }));
      expect(journal[1]).toEqual(step('x-j', 2, 'send', { kind: 'send', result: null, vars: null, stop: true }));
      expect(journal[2].result).toBeUndefined();
      expect(await store.journal('unknown')).toEqual([]);
      // a journal entry for an execution that does not exist is a bug, not something to store
      await expect(store.appendJournal(step('nope', 1, 'a'))).rejects.toThrow(backend.errors.foreignKey);
    });

    it('stores a finished sync execution with its journal and its log row together', async () => {
      const { store } = await open();
      const entry = log('s', { outcome: 'completed', status: 200, executionId: 'x-s' });
      const run = finishedRun(entry, { finishedAt: at(30), error: 'a note' });
      const exec = { ...run, input: { ...run.input, vars: { total: 12.5, list: [1, { a: null }] }, contactId: 'c-9' } };
      const steps = [step('x-s', 1, 'a'), step('x-s', 2, 'b', { kind: 'respond', result: undefined, vars: null, stop: true }), step('x-s', 3, 'c', { result: null, vars: null })];
      await store.commitLog(entry, exec, steps);
      expect(await store.journal('x-s')).toEqual(steps);
      expect(await store.getExecution('x-s')).toEqual(exec);
      expect(await store.getLog('s')).toEqual(entry);
      expect(await store.queueDepth()).toBe(0);
      // one that does not share its log row's request (another path) is stored as given too
      const other = log('s2', { outcome: 'completed', status: 200, executionId: 'x-s2' });
      const otherRun = finishedRun(other);
      const moved = { ...otherRun, input: { ...otherRun.input, request: { ...otherRun.input.request, path: '/elsewhere' } } };
      await store.commitLog(other, moved, [step('x-s2', 1, 'a')]);
      expect(await store.getExecution('x-s2')).toEqual(moved);
      expect(await store.journal('x-s2')).toEqual([step('x-s2', 1, 'a')]);
    });

    it('commits the entries held back to the finish with it, after the appended ones, a step journaled once', async () => {
      const { store } = await open();
      await accept(store, 'h');
      await store.claimExecutions(1, 60_000, new Date(T0));
      await store.appendJournal(step('x-h', 1, 'calc'));
      await store.appendJournal(step('x-h', 2, 'call', { kind: 'http' }));
      const held = [step('x-h', 3, 'tidy'), step('x-h', 4, 'end', { kind: 'stop', result: undefined, vars: null, stop: true })];
      await store.finishExecution('x-h', 'stopped', null, at(90), [step('x-h', 2, 'call', { result: 'a second run must not overwrite the first' }), ...held]);

      expect(await store.journal('x-h')).toEqual([step('x-h', 1, 'calc'), step('x-h', 2, 'call', { kind: 'http' }), ...held]);
      expect(await store.getExecution('x-h')).toMatchObject({ status: 'stopped', finishedAt: at(90) });
    });

    it('finishes executions and updates log outcomes', async () => {
      const { store } = await open();
      await accept(store, 'r');
      await store.claimExecutions(1, 60_000, new Date(T0));
      await store.finishExecution('x-r', 'completed', null, at(75));
      expect(await store.getExecution('x-r')).toMatchObject({ status: 'completed', error: null, finishedAt: at(75), startedAt: at(0) });

      await store.updateLogOutcome('r', 'failed', 502, 'upstream said no', 81.5);
      expect(await store.getLog('r')).toEqual(log('r', { executionId: 'x-r', outcome: 'failed', status: 502, reason: 'upstream said no', durationMs: 81.5 }));
    });

    it('counts queued and running executions as the queue depth', async () => {
      const { store } = await open();
      for (const id of ['q1', 'q2', 'q3', 'q4']) await accept(store, id);
      expect(await store.queueDepth()).toBe(4);
      await store.claimExecutions(2, 60_000, new Date(T0));
      expect(await store.queueDepth()).toBe(4); // running still counts
      await store.finishExecution('x-q1', 'completed', null, at(1));
      await store.finishExecution('x-q2', 'stopped', null, at(1));
      expect(await store.queueDepth()).toBe(2);
    });

    it('sweeps old log rows and old finished executions with their journal, never queued or running ones', async () => {
      const { store } = await open();
      const day = 86_400_000;
      // created a day ago; the queued one last, so that claiming oldest first leaves it queued
      for (const [i, id] of ['old-running', 'old-done', 'old-failed', 'old-stopped', 'old-queued'].entries()) await accept(store, id, -day + i);
      await accept(store, 'new-done', 0);
      expect((await store.claimExecutions(4, 60_000, new Date(T0 - day + 10))).map((e) => e.id)).toEqual(['x-old-running', 'x-old-done', 'x-old-failed', 'x-old-stopped']);
      await store.appendJournal(step('x-old-done', 1, 'a'));
      await store.finishExecution('x-old-done', 'completed', null, at(-day + 20));
      await store.finishExecution('x-old-failed', 'failed', 'boom', at(-day + 20));
      await store.finishExecution('x-old-stopped', 'stopped', null, at(-day + 20));
      await store.finishExecution('x-new-done', 'completed', null, at(1));
      // sync runs that ended before their answer, committed in their log rows
      const syncRun = (id: string, ms: number) => {
        const entry = log(id, { receivedAt: at(ms), outcome: 'completed', status: 200, executionId: `x-${id}` });
        return store.commitLog(entry, finishedRun(entry, { finishedAt: at(ms + 1) }), [step(`x-${id}`, 1, 'a')]);
      };
      await syncRun('old-sync', -day + 5);
      await syncRun('new-sync', 0);

      expect(await store.sweep(at(-1000))).toBe(6); // the six log rows received a day ago
      for (const id of ['old-running', 'old-done', 'old-failed', 'old-stopped', 'old-queued']) expect(await store.getLog(id)).toBeUndefined();
      expect(await store.getLog('new-done')).toBeDefined();
      for (const id of ['x-old-done', 'x-old-failed', 'x-old-stopped', 'x-old-sync']) expect(await store.getExecution(id)).toBeUndefined();
      expect(await store.journal('x-old-done')).toEqual([]);
      expect(await store.journal('x-old-sync')).toEqual([]);
      expect(await store.getExecution('x-new-sync')).toMatchObject({ status: 'completed', mode: 'sync' });
      expect(await store.journal('x-new-sync')).toEqual([step('x-new-sync', 1, 'a')]);
      expect(await store.getExecution('x-old-running')).toMatchObject({ status: 'running' });
      expect(await store.getExecution('x-old-queued')).toMatchObject({ status: 'queued' });
      expect(await store.getExecution('x-new-done')).toMatchObject({ status: 'completed' });
      expect(await store.queueDepth()).toBe(2);
      expect(await store.sweep(at(-1000))).toBe(0);
    });

    it('sweeps a backlog larger than one delete slice', async () => {
      const { store } = await open();
      await Promise.all(Array.from({ length: 2500 }, (_, i) => store.commitLog(log(`b${i}`, { receivedAt: at(i) }))));
      expect(await store.sweep(at(2400))).toBe(2400);
      expect(await store.listLogs({ limit: 1000 })).toHaveLength(100);
    });
  });

  describe('messages', () => {
    it('stores a message once per execution step and once per inbound provider id, with its first status', async () => {
      const { store } = await open();
      const first = await store.insertMessage(outboundMessage('m-1'), at(0));
      expect(first.created).toBe(true);
      expect(first.message).toEqual({
        id: 'm-1', direction: 'outbound', channel: 'sms', driver: 'twilio-sms', contactId: 'c-1', to: '+14155550100', from: null,
        content: { text: 'hello ✓', nested: [1, null] }, providerId: null, status: 'sending', error: null, attempts: 0, flowId: 'orders',
        executionId: 'x-1', stepId: 'text', logId: null, createdAt: at(0), updatedAt: at(0),
      });
      // a resumed execution stores the same step again: the first message stays the message
      const again = await store.insertMessage(outboundMessage('m-2', { content: { text: 'other' } }), at(5));
      expect(again).toEqual({ message: first.message, created: false });
      expect(await store.getMessage('m-2')).toBeUndefined();
      expect(await store.messageForStep('x-1', 'text')).toEqual(first.message);
      expect(await store.messageForStep('x-1', 'other')).toBeUndefined();

      const inbound = (id: string) =>
        outboundMessage(id, { direction: 'inbound', channel: 'replies', to: null, from: '+14155550100', providerId: 'SM-in-1', status: 'received', statusRank: 5, executionId: null, stepId: null, logId: 'log-9' });
      expect((await store.insertMessage(inbound('in-1'), at(10))).created).toBe(true);
      expect(await store.insertMessage(inbound('in-2'), at(11))).toMatchObject({ created: false, message: { id: 'in-1', logId: 'log-9' } });
      expect(await store.messageStatusChanges('m-1')).toEqual([{ messageId: 'm-1', status: 'sending', at: at(0), source: 'engine', error: null }]);
      expect(await store.messageStatusChanges('in-1')).toEqual([{ messageId: 'in-1', status: 'received', at: at(10), source: 'engine', error: null }]);
    });

    it('moves a status only forward, keeps every reported status in the history, and updates the other fields', async () => {
      const { store } = await open();
      await store.insertMessage(outboundMessage('m-1'), at(0));
      expect(await store.updateMessage('m-1', { status: 'queued', statusRank: 1, providerId: 'SM1', attempts: 1 }, at(1), 'engine')).toMatchObject({
        status: 'queued', providerId: 'SM1', attempts: 1, updatedAt: at(1),
      });
      await store.updateMessage('m-1', { status: 'delivered', statusRank: 5 }, at(3), 'callback');
      // a late "sent" is history only
      const late = await store.updateMessage('m-1', { status: 'sent', statusRank: 3, error: null }, at(4), 'callback');
      expect(late).toMatchObject({ status: 'delivered', providerId: 'SM1', attempts: 1, updatedAt: at(4) });
      const failed = await store.updateMessage('m-1', { status: 'undelivered', statusRank: 5, error: 'carrier said no' }, at(5), 'callback');
      expect(failed).toMatchObject({ status: 'undelivered', error: 'carrier said no' });
      // no status: other fields only, no history entry
      expect(await store.updateMessage('m-1', { to: '+14155550199', contactId: null }, at(6), 'engine')).toMatchObject({ to: '+14155550199', contactId: null, status: 'undelivered' });
      expect((await store.messageStatusChanges('m-1')).map((c) => [c.status, c.at, c.source, c.error])).toEqual([
        ['sending', at(0), 'engine', null],
        ['queued', at(1), 'engine', null],
        ['delivered', at(3), 'callback', null],
        ['sent', at(4), 'callback', null],
        ['undelivered', at(5), 'callback', 'carrier said no'],
      ]);
      expect(await store.updateMessage('missing', { status: 'sent', statusRank: 3 }, at(7), 'callback')).toBeUndefined();
    });

    it('lists messages newest first with filters and pages, finds them by provider id, and knows open conversations', async () => {
      const { store } = await open();
      const rows: [string, Partial<NewMessage>, number][] = [
        ['a', { channel: 'sms', contactId: 'c-1', stepId: 's1' }, 0],
        ['b', { channel: 'email', contactId: 'c-2', stepId: 's2', providerId: 'P-1' }, 1000],
        ['c', { channel: 'sms', contactId: 'c-1', stepId: 's3', providerId: 'P-1' }, 1000],
        ['d', { direction: 'inbound', channel: 'sms', contactId: 'c-2', from: '+14155550111', executionId: null, stepId: null, status: 'received', statusRank: 5 }, 2000],
      ];
      for (const [id, over, ms] of rows) await store.insertMessage(outboundMessage(id, over), at(ms));
      const ids = (list: { id: string }[]) => list.map((m) => m.id);
      expect(ids(await store.listMessages({ limit: 10 }))).toEqual(['d', 'c', 'b', 'a']);
      expect(ids(await store.listMessages({ limit: 10, contactId: 'c-1' }))).toEqual(['c', 'a']);
      expect(ids(await store.listMessages({ limit: 10, channel: 'sms', direction: 'outbound' }))).toEqual(['c', 'a']);
      expect(ids(await store.listMessages({ limit: 10, status: 'received' }))).toEqual(['d']);
      expect(ids(await store.listMessages({ limit: 2 }))).toEqual(['d', 'c']);
      expect(ids(await store.listMessages({ limit: 10, before: 'c' }))).toEqual(['b', 'a']);
      expect(await store.listMessages({ limit: 0 })).toEqual([]);
      expect(ids(await store.messagesByProviderId('P-1'))).toEqual(['c', 'b']);
      expect(await store.hasInboundMessage('sms', { contactId: 'c-2' })).toBe(true);
      expect(await store.hasInboundMessage('sms', { from: '+14155550111' })).toBe(true);
      expect(await store.hasInboundMessage('sms', { contactId: 'c-1', from: '+14155550100' })).toBe(false);
      expect(await store.hasInboundMessage('email', { contactId: 'c-2' })).toBe(false);
      expect(await store.hasInboundMessage('sms', {})).toBe(false);
    });
  });

  describe('outbound events', () => {
    const event = (id: string, ms = 0) => ({ id, type: 'message', flowId: 'orders', channel: 'sms', contactId: 'c-1', payload: JSON.stringify({ id, n: ms }), createdAt: at(ms) });

    it('claims due deliveries with a lease, one claimer at a time, and again once the lease ran out', async () => {
      const { store, db } = await open();
      const { store: other } = await open(db);
      await store.addEvent(event('ev-1'), [{ subscriptionId: 'crm', nextAt: at(0) }, { subscriptionId: 'audit', nextAt: at(0) }]);
      await store.addEvent(event('ev-2', 10), [{ subscriptionId: 'crm', nextAt: at(10) }]);
      await store.addEvent(event('ev-3', 20), [{ subscriptionId: 'crm', nextAt: at(5_000) }]); // not due yet

      const claimed = await store.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 100), false);
      expect(claimed.map((d) => [d.eventId, d.status, d.attempts, d.nextAt])).toEqual([['ev-1', 'pending', 0, at(0)], ['ev-2', 'pending', 0, at(10)]]);
      expect(JSON.parse(claimed[0].payload)).toEqual({ id: 'ev-1', n: 0 });
      expect(claimed[1].id).toBeGreaterThan(claimed[0].id);
      expect(await other.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 200), false)).toEqual([]);
      expect((await other.claimEventDeliveries('audit', 10, 1000, new Date(T0 + 200), false)).map((d) => d.eventId)).toEqual(['ev-1']);
      // the claimer went away: after its lease, another takes the deliveries over
      expect((await other.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 1101), false)).map((d) => d.eventId)).toEqual(['ev-1', 'ev-2']);
      expect(await store.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 2000), false)).toEqual([]); // ev-3 is not due yet
      expect((await store.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 6000), false)).map((d) => d.eventId)).toEqual(['ev-1', 'ev-2', 'ev-3']);
      expect(await store.claimEventDeliveries('crm', 0, 1000, new Date(T0 + 9000), false)).toEqual([]);
    });

    it('records attempts: retried later, delivered, or dead-lettered; an ordered subscription gets one at a time, oldest first', async () => {
      const { store } = await open();
      for (const [i, id] of ['ev-1', 'ev-2', 'ev-3'].entries()) await store.addEvent(event(id, i), [{ subscriptionId: 'ord', nextAt: at(i) }]);
      const claim = (ms: number) => store.claimEventDeliveries('ord', 10, 1000, new Date(T0 + ms), true);
      const [head] = await claim(100);
      expect(head.eventId).toBe('ev-1');
      expect(await claim(100)).toEqual([]); // the head is leased: nobody else goes meanwhile
      const attempt = { deliveryId: head.id, subscriptionId: 'ord', eventId: 'ev-1', eventType: 'message', attempt: 1, at: at(150), outcome: 'error' as const, status: 503, durationMs: 12.5, error: 'HTTP 503', body: 'busy' };
      await store.recordEventAttempt(attempt, { status: 'pending', nextAt: at(5_000) });
      expect(await claim(200)).toEqual([]); // the head waits for its retry, and the others wait for the head
      const [retry] = await claim(5_000);
      expect(retry).toMatchObject({ eventId: 'ev-1', attempts: 1, lastStatus: 503, lastError: 'HTTP 503', lastAttemptAt: at(150), finishedAt: null });
      await store.recordEventAttempt({ ...attempt, attempt: 2, at: at(5_010), outcome: 'success', status: 200, error: null, body: 'ok' }, { status: 'delivered', nextAt: null });
      const [second] = await claim(5_020);
      expect(second.eventId).toBe('ev-2');
      await store.recordEventAttempt({ ...attempt, deliveryId: second.id, eventId: 'ev-2', attempt: 8, at: at(5_030), error: 'gave up' }, { status: 'failed', nextAt: null });
      // a late attempt of a delivery that is no longer pending changes nothing
      await store.recordEventAttempt({ ...attempt, at: at(5_040), outcome: 'error', error: 'late' }, { status: 'pending', nextAt: at(9_000) });

      const list = await store.listEventDeliveries({ subscriptionId: 'ord', limit: 10 });
      expect(list.map((d) => [d.eventId, d.status, d.attempts])).toEqual([['ev-3', 'pending', 0], ['ev-2', 'failed', 8], ['ev-1', 'delivered', 2]]);
      expect(list[2]).toMatchObject({ finishedAt: at(5_010), lastStatus: 200, lastError: null, replays: 0 });
      expect(list[1]).toMatchObject({ finishedAt: at(5_030), lastError: 'gave up' });
      expect((await store.listEventDeliveries({ subscriptionId: 'ord', limit: 10, status: 'failed' })).map((d) => d.eventId)).toEqual(['ev-2']);
      expect((await store.listEventDeliveries({ subscriptionId: 'ord', limit: 10, before: list[0].id })).map((d) => d.eventId)).toEqual(['ev-2', 'ev-1']);
      expect(await store.eventDeliveryCounts('ord')).toEqual({ pending: 1, delivered: 1, failed: 1 });
      expect(await store.eventDeliveryCounts('nobody')).toEqual({ pending: 0, delivered: 0, failed: 0 });
      expect((await store.eventAttempts(head.id)).map((a) => [a.attempt, a.outcome, a.status, a.body])).toEqual([[1, 'error', 503, 'busy'], [2, 'success', 200, 'ok'], [1, 'error', 503, 'busy']]);
      expect((await store.eventErrors('ord', 2)).map((a) => [a.eventId, a.error])).toEqual([['ev-1', 'late'], ['ev-2', 'gave up']]);

      // the dead letter comes back, by id or by time
      expect(await store.replayEventDeliveries('ord', { ids: [second.id, head.id] }, at(6_000))).toBe(1);
      expect((await store.listEventDeliveries({ subscriptionId: 'ord', limit: 1, status: 'pending', before: list[0].id }))[0]).toMatchObject({ eventId: 'ev-2', attempts: 0, replays: 1, nextAt: at(6_000), finishedAt: null });
      expect(await store.replayEventDeliveries('ord', { since: at(0) }, at(6_000))).toBe(0);
    });

    it('holds due deliveries for the breaker, keeps breakers, sums health by minute, and sweeps old finished ones', async () => {
      const { store } = await open();
      await store.addEvent(event('ev-1'), [{ subscriptionId: 'crm', nextAt: at(0) }]);
      await store.addEvent(event('ev-2'), [{ subscriptionId: 'crm', nextAt: at(0) }]);
      await store.addEvent(event('ev-3'), [{ subscriptionId: 'crm', nextAt: at(60_000) }]);
      expect(await store.holdEventDeliveries('crm', at(1000), at(600_000), 'circuit breaker open')).toBe(2);
      expect(await store.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 120_000), false).then((l) => l.map((d) => d.eventId))).toEqual(['ev-3']);
      const held = (await store.listEventDeliveries({ subscriptionId: 'crm', limit: 10 })).filter((d) => d.eventId !== 'ev-3');
      expect(held.map((d) => [d.nextAt, d.attempts])).toEqual([[at(600_000), 0], [at(600_000), 0]]);
      expect((await store.eventAttempts(held[0].id)).map((a) => [a.outcome, a.attempt, a.status, a.error, a.at])).toEqual([['rejected', 1, null, 'circuit breaker open', at(1000)]]);

      await store.saveEventBreaker({ subscriptionId: 'crm', openedAt: at(0), openUntil: at(600_000) });
      await store.saveEventBreaker({ subscriptionId: 'crm', openedAt: at(1), openUntil: at(700_000) });
      expect(await store.eventBreakers()).toEqual([{ subscriptionId: 'crm', openedAt: at(1), openUntil: at(700_000) }]);

      const attempt = { subscriptionId: 'crm', eventId: 'ev-3', eventType: 'message', attempt: 1, body: null };
      const [ev3] = await store.claimEventDeliveries('crm', 10, 1000, new Date(T0 + 200_000), false);
      await store.recordEventAttempt({ ...attempt, deliveryId: ev3.id, at: at(200_010), outcome: 'slow', status: 200, durationMs: 30, error: null }, { status: 'delivered', nextAt: null });
      const health = await store.eventHealth('crm', at(0));
      const minute = (ms: number) => at(ms).slice(0, 16);
      expect(health).toEqual([
        { minute: minute(1000), outcome: 'rejected', count: 2, timed: 0, minMs: null, maxMs: null, sumMs: 0 },
        { minute: minute(200_010), outcome: 'slow', count: 1, timed: 1, minMs: 30, maxMs: 30, sumMs: 30 },
      ]);
      expect(await store.eventHealth('crm', at(150_000))).toHaveLength(1);

      // a day later: the delivered one and its event and attempts go; the held (pending) ones stay, however old
      expect(await store.sweepEvents(at(86_400_000))).toBe(1);
      expect((await store.listEventDeliveries({ subscriptionId: 'crm', limit: 10 })).map((d) => d.eventId).sort()).toEqual(['ev-1', 'ev-2']);
      expect(await store.eventAttempts(ev3.id)).toEqual([]);
      expect(await store.sweepEvents(at(86_400_000))).toBe(0);
    });

    it('held again in the same breaker opening, a delivery is postponed without a second rejection; in a new opening it counts again', async () => {
      const { store } = await open();
      await store.addEvent(event('ev-1'), [{ subscriptionId: 'crm', nextAt: at(0) }]);
      await store.addEvent(event('ev-2'), [{ subscriptionId: 'crm', nextAt: at(0) }]);
      const opened = at(500);
      expect(await store.holdEventDeliveries('crm', at(1000), at(60_000), 'circuit breaker open', opened)).toBe(2);
      // the probe after the cool-down failed and the breaker opened again: the same opening, held again
      await store.addEvent(event('ev-3', 60_000), [{ subscriptionId: 'crm', nextAt: at(60_000) }]);
      expect(await store.holdEventDeliveries('crm', at(61_000), at(120_000), 'circuit breaker open', opened)).toBe(3);
      const rejected = async () => (await store.eventHealth('crm', at(0))).filter((r) => r.outcome === 'rejected').reduce((sum, r) => sum + r.count, 0);
      expect(await rejected()).toBe(3); // ev-1 and ev-2 once, ev-3 once
      const byEvent = await store.listEventDeliveries({ subscriptionId: 'crm', limit: 10 });
      expect(byEvent.map((d) => [d.eventId, d.nextAt])).toEqual([['ev-3', at(120_000)], ['ev-2', at(120_000)], ['ev-1', at(120_000)]]);
      // a later opening (the breaker closed in between) counts each held delivery again
      expect(await store.holdEventDeliveries('crm', at(121_000), at(180_000), 'circuit breaker open', at(120_500))).toBe(3);
      expect(await rejected()).toBe(6);
    });
  });

  describe('events committed with their cause (an outbox)', () => {
    const outbox = (id: string, ms = 0): OutboxEvent => ({
      event: { id, type: 'execution', flowId: 'orders', channel: null, contactId: null, payload: JSON.stringify({ id }), createdAt: at(ms) },
      deliveries: [{ subscriptionId: 'crm', nextAt: at(ms) }],
    });
    const stored = async (store: Store) => (await store.listEventDeliveries({ subscriptionId: 'crm', limit: 100 })).map((d) => d.eventId).sort();

    it('an event committed with a request\'s log row, a journal entry or a finish is there with it; a failed batch leaves neither', async () => {
      const { store } = await open();
      await store.commitLog(log('a', { executionId: 'x-a' }), execution('x-a', 'a'), [], undefined, [outbox('ev-request')]);
      await store.appendJournal(step('x-a', 1, 'text', { kind: 'send' }), [outbox('ev-message'), outbox('ev-status')]);
      await store.finishExecution('x-a', 'completed', null, at(50), [step('x-a', 2, 'after')], [outbox('ev-execution')]);
      expect(await stored(store)).toEqual(['ev-execution', 'ev-message', 'ev-request', 'ev-status']);
      expect((await store.journal('x-a')).map((e) => e.stepId)).toEqual(['text', 'after']);
      expect((await store.getExecution('x-a'))?.status).toBe('completed');

      // each cause in a batch that fails (a log id already stored): the batch rejects them all, and stores no event
      await accept(store, 'b');
      const batch = await Promise.allSettled([
        store.appendJournal(step('x-b', 1, 'text', { kind: 'send' }), [outbox('ev-b-message')]),
        store.finishExecution('x-b', 'completed', null, at(60), [], [outbox('ev-b-execution')]),
        store.commitLog(log('c', { executionId: 'x-c' }), execution('x-c', 'c'), [], undefined, [outbox('ev-c-request')]),
        store.commitLog(log('a')),
      ]);
      expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect(await store.journal('x-b')).toEqual([]);
      expect((await store.getExecution('x-b'))?.status).toBe('queued');
      expect(await store.getLog('c')).toBeUndefined();
      expect(await stored(store)).toEqual(['ev-execution', 'ev-message', 'ev-request', 'ev-status']);
    });

    it('a sync run committed finished with its log row has its events in that commit, read back with it', async () => {
      const { store } = await open();
      const entry = log('s', { executionId: 'x-s', outcome: 'completed', status: 200 });
      const run = finishedRun(entry);
      await store.commitLog(entry, run, [step('x-s', 1, 'text', { kind: 'send' })], undefined, [outbox('ev-s-message'), outbox('ev-s-execution')]);
      expect(await stored(store)).toEqual(['ev-s-execution', 'ev-s-message']);
      expect(await store.getExecution('x-s')).toEqual(run);
      const failing = await Promise.allSettled([store.commitLog(entry, run, [], undefined, [outbox('ev-again')])]);
      expect(failing[0].status).toBe('rejected'); // the same log id: nothing of it is stored
      expect(await stored(store)).toEqual(['ev-s-execution', 'ev-s-message']);
    });

    it('a step journaled again (a resumed run) brings the same event ids: one event, one delivery each', async () => {
      const { store } = await open();
      await accept(store, 'r');
      await store.appendJournal(step('x-r', 1, 'text', { kind: 'send' }), [outbox('evt_msg_1'), outbox('evt_msg_1_queued')]);
      await Promise.all([
        store.appendJournal(step('x-r', 1, 'text', { kind: 'send' }), [outbox('evt_msg_1'), outbox('evt_msg_1_queued')]),
        store.appendJournal(step('x-r', 1, 'text', { kind: 'send' }), [outbox('evt_msg_1')]),
      ]);
      expect(await stored(store)).toEqual(['evt_msg_1', 'evt_msg_1_queued']);
      expect(await store.journal('x-r')).toHaveLength(1);
    });

    it('a contact\'s field changes commit with their event: neither without the other', async () => {
      const { store } = await open();
      const { contact } = await store.createContact({ id: 'c-1', phone: '+14155550100', email: null }, at(0));
      const asked: string[][] = [];
      const eventFor = (id: string) => (changes: { field: string }[]) => {
        asked.push(changes.map((c) => c.field));
        return outbox(id);
      };
      await store.setContactFields(contact.id, { first_name: 'Ann', plan: 'pro' }, at(1), 'log-1', eventFor('ev-variables'));
      // nothing changes: no event is asked for
      await store.setContactFields(contact.id, { first_name: 'Ann' }, at(2), 'log-2', eventFor('ev-none'));
      expect(asked).toEqual([['first_name', 'plan']]);
      expect(await stored(store)).toEqual(['ev-variables']);

      // an event that cannot be stored (a time that is none) takes its changes down with it
      const broken = (): OutboxEvent => ({ ...outbox('ev-broken'), event: { ...outbox('ev-broken').event, createdAt: 'soon' } });
      await expect(store.setContactFields(contact.id, { plan: 'team' }, at(3), 'log-3', broken)).rejects.toThrow(/createdAt is not a valid time/);
      expect((await store.findContact({ id: contact.id }))?.fields).toEqual({ first_name: 'Ann', plan: 'pro' });
      expect(await store.fieldChanges(contact.id, 10)).toHaveLength(2);
      expect(await stored(store)).toEqual(['ev-variables']);
    });

    it('tells its listeners after each commit that stored events, not after others; a listener removed hears nothing more', async () => {
      const { store } = await open();
      let heard = 0;
      const stop = store.onEventsCommitted(() => heard++);
      await accept(store, 'quiet');
      expect(heard).toBe(0);
      await store.appendJournal(step('x-quiet', 1, 'text', { kind: 'send' }), [outbox('ev-1')]);
      expect(heard).toBe(1);
      await store.addEvent(outbox('ev-2').event, outbox('ev-2').deliveries);
      expect(heard).toBe(2);
      await store.finishExecution('x-quiet', 'completed', null, at(9), [], [outbox('ev-3')]);
      expect(heard).toBe(3);
      stop();
      await store.commitLog(log('loud'), undefined, [], undefined, [outbox('ev-4')]);
      expect(heard).toBe(3);
      expect(await stored(store)).toEqual(['ev-1', 'ev-2', 'ev-3', 'ev-4']);
    });
  });
});

describe('SQLite only: files and migrations', () => {
  async function open(file: string) {
    const store = await openSqliteStore(file);
    opened.push(store);
    return { store };
  }

  it('creates the folder, uses WAL, and on reopen applies no migration twice and keeps the data', async () => {
    const file = join(scratch.dir, 'reopen', 'nested', 'hooks.db');
    const first = await openSqliteStore(file);
    await accept(first, 'kept');
    await first.close();

    const raw = new Database(file);
    const recorded = raw.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all();
    expect(recorded.map((r: any) => r.version)).toEqual(migrations.map((m) => m.version));
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(migrate(raw)).toEqual([]); // nothing left to apply
    raw.close();

    const { store } = await open(file);
    expect(await store.getExecution('x-kept')).toMatchObject({ logId: 'kept', status: 'queued' });
    await store.close();
    const again = new Database(file, { readonly: true });
    expect(again.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all()).toEqual(recorded);
    again.close();
  });

  it('keeps a finished sync run in its log row without what the row holds, and reads rows written with every field', async () => {
    const file = await sqlite.fresh();
    const { store } = await open(file);
    const entry = log('s', { outcome: 'completed', status: 200, executionId: 'x-s' });
    const run = finishedRun(entry, { finishedAt: at(30) });
    await store.commitLog(entry, run, [step('x-s', 1, 'a')]);
    // as before this layout: the whole execution in the row, as a database written by the previous version holds it
    const whole = log('w', { outcome: 'completed', status: 200, executionId: 'x-w' });
    await store.commitLog(whole);
    const wholeRun = finishedRun(whole, { finishedAt: at(40) });
    const { executionId: _, ...wholeStep } = step('x-w', 1, 'a');
    await store.close();
    opened = [];

    const raw = new Database(file);
    raw.prepare('UPDATE webhook_log SET execution = ? WHERE id = ?').run(JSON.stringify({ ...wholeRun, journal: [wholeStep] }), 'w');
    expect(raw.prepare('SELECT count(*) FROM executions').pluck().get()).toBe(0);
    const stored = JSON.parse(raw.prepare("SELECT execution FROM webhook_log WHERE id = 's'").pluck().get() as string);
    raw.close();
    // the id, flow, revision, log id, times and request line are the row's own columns, not repeated in its JSON
    for (const key of ['id', 'flowId', 'revision', 'logId', 'createdAt']) expect(stored).not.toHaveProperty(key);
    expect(Object.keys(stored.input.request).sort()).toEqual(['body', 'headers', 'ip']);

    const { store: reopened } = await open(file);
    expect(await reopened.getExecution('x-s')).toEqual(run);
    expect(await reopened.journal('x-s')).toEqual([step('x-s', 1, 'a')]);
    expect(await reopened.getExecution('x-w')).toEqual(wholeRun);
    expect(await reopened.journal('x-w')).toEqual([step('x-w', 1, 'a')]);
  });

  it('refuses a database written by a newer engine', async () => {
    const file = await sqlite.fresh();
    const { store } = await open(file);
    await store.close();
    opened = [];
    const raw = new Database(file);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')").run();
    raw.close();
    await expect(openSqliteStore(file)).rejects.toThrow(/schema version 999 is newer/);
  });
});

describe('SQLite only: WAL checkpoints in a worker thread (a server\'s store)', () => {
  const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
  async function openServing(file: string, errors: string[] = []) {
    const store = await openSqliteStore(file, { backgroundCheckpoints: { onError: (message) => errors.push(message) } });
    opened.push(store);
    return store;
  }
  const requests = (store: Store, prefix: string, count: number, body = '{"n":1}') =>
    Promise.all(Array.from({ length: count }, (_, i) => store.commitLog(log(`${prefix}-${i}`, { body, executionId: `x-${prefix}-${i}` }), execution(`x-${prefix}-${i}`, `${prefix}-${i}`))));

  it('copies committed pages into the database file without waiting for the WAL to fill up', async () => {
    // far below SQLite's own threshold (1,000 pages): a store without the worker leaves everything in the WAL
    const plain = await sqlite.fresh();
    const plainStore = await openSqliteStore(plain);
    opened.push(plainStore);
    const serving = await sqlite.fresh();
    const servingStore = await openServing(serving);
    const emptySize = size(serving);
    await requests(plainStore, 'p', 200);
    await requests(servingStore, 's', 200);
    await expect.poll(() => size(serving), { timeout: 3_000, interval: 50 }).toBeGreaterThan(emptySize + 100_000);
    expect(size(plain)).toBe(emptySize);
    // the copies are complete: what the store reads back is there
    expect(await servingStore.getExecution('x-s-199')).toMatchObject({ logId: 's-199', status: 'queued' });
  });

  it('keeps the WAL bounded under commits that never pause, and closes the worker before the database', async () => {
    const file = await sqlite.fresh();
    const errors: string[] = [];
    const store = await openServing(file, errors);
    // about 55 MB of log rows, back to back: the worker's copies never catch up with the last commit, so only the
    // writer's own checkpoint at 40 MB lets the WAL start over. While the worker copies a backlog, the writer's cannot
    // run; past 48 MB the writer waits for the copy and empties the WAL (without that wait: 50–74 MB here).
    const body = 'x'.repeat(4_000);
    for (let round = 0; round < 120; round++) await requests(store, `r${round}`, 100, body);
    expect(size(`${file}-wal`)).toBeLessThan(48 * 1024 * 1024);
    await store.close();
    // the last connection to close checkpoints and removes the WAL: the worker's connection was closed first
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(errors).toEqual([]);
  }, 60_000);

  it('reports a worker that cannot open its database as stopped', async () => {
    const errors: string[] = [];
    const stopped: boolean[] = [];
    const checkpointer = startCheckpointer(join(scratch.dir, 'no-such-folder', 'hooks.db'), (message, hasStopped) => {
      errors.push(message);
      stopped.push(hasStopped);
    });
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBe(1);
    expect(errors[0]).toMatch(/^WAL checkpointer stopped: .*directory does not exist/);
    expect(stopped).toEqual([true]);
    await checkpointer.close(); // already gone: resolves at once
  });
});

describe('Postgres only: migrations under an advisory lock, and text Postgres cannot hold', () => {
  async function sql(url: string, text: string, values: unknown[] = []) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it('applies each migration once when several replicas open a new database at the same time, after whoever holds the lock', async () => {
    const url = await postgres.fresh();
    // someone else is migrating: the replicas wait for the lock
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    let openedCount = 0;
    const replicas = Array.from({ length: 4 }, () => openPostgresStore(url, { poolSize: 2 }).then((s) => (openedCount++, opened.push(s), s)));
    await new Promise((r) => setTimeout(r, 300));
    expect(openedCount).toBe(0);
    await holder.query('COMMIT');
    await holder.end();
    const stores = await Promise.all(replicas);

    const recorded = await sql(url, 'SELECT version, name FROM schema_migrations ORDER BY version');
    expect(recorded).toEqual(pgMigrations.map((m) => ({ version: m.version, name: m.name })));
    await accept(stores[0], 'kept');
    expect(await stores[3].getExecution('x-kept')).toMatchObject({ logId: 'kept', status: 'queued' });
    // and a later start finds nothing to do
    const later = await openPostgresStore(url);
    opened.push(later);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM schema_migrations')).toEqual([{ n: pgMigrations.length }]);
  });

  it('refuses a database written by a newer engine', async () => {
    const url = await postgres.fresh();
    await (await openPostgresStore(url)).close();
    await sql(url, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', now())");
    await expect(openPostgresStore(url)).rejects.toThrow(/schema version 999 is newer/);
  });

  it('stores a NUL in free text as U+FFFD and JSON with \\u0000 and lone surrogates exactly, without failing the batch', async () => {
    const store = await openPostgresStore(await postgres.fresh());
    opened.push(store);
    const odd = log('odd', { body: 'a\u0000b', reason: 'bad \u0000 byte', headers: { 'x-nul': 'a\u0000b', 'x-half': '\ud800' }, query: { q: '\u0000' } });
    const exec = execution('x-odd', 'odd', { input: { ...execution('x', 'odd').input, vars: { nul: '\u0000', half: 'x\udfff' } } });
    await Promise.all([store.commitLog(odd, exec, [step('x-odd', 1, 'a', { result: { text: '\u0000\ud800' } })]), accept(store, 'neighbour')]);
    expect(await store.getLog('odd')).toEqual({ ...odd, body: 'a\ufffdb', reason: 'bad \ufffd byte' });
    expect(await store.getExecution('x-odd')).toEqual(exec);
    expect((await store.journal('x-odd'))[0].result).toEqual({ text: '\u0000\ud800' });
    expect(await store.getLog('neighbour')).toBeDefined();
    // a dedupe key with a NUL is a key like any other
    expect(await store.claimDedupeKey('orders', 'k\u0000', 'odd', at(0), at(1000))).toEqual({ first: true, firstLogId: 'odd', answer: null });
    expect(await store.claimDedupeKey('orders', 'k\u0000', 'other', at(1), at(1000))).toMatchObject({ first: false, firstLogId: 'odd' });
  });
});

describe('AsyncBatcher: the group commit of the Postgres store', () => {
  it('writes one batch at a time in call order; a flush waits for what was queued before it, not after', async () => {
    const written: number[][] = [];
    let release: (() => void) | undefined;
    const batcher = new AsyncBatcher<number>(async (items) => {
      written.push(items);
      if (items.includes(-1)) throw new Error('refused');
      await new Promise<void>((resolve) => (release = resolve));
    }, 3);
    const first = [1, 2, 3, 4].map((n) => batcher.add(n)); // 4 in one turn, 3 per batch at most
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual([[1, 2, 3]]); // one in flight; 4 waits for it
    const flushed = batcher.flush();
    let flushedYet = false;
    void flushed.then(() => (flushedYet = true));
    const later = batcher.add(5);
    release!();
    await first[0];
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual([[1, 2, 3], [4, 5]]);
    const more = [6, 7, 8, 9].map((n) => batcher.add(n)); // queued while [4, 5] is in flight
    release!();
    await flushed; // settles with [4, 5]: the writes queued after it do not hold it up
    expect(written).toEqual([[1, 2, 3], [4, 5], [6, 7, 8]]);
    expect(flushedYet).toBe(true);
    release!();
    await new Promise((r) => setImmediate(r));
    release!();
    await Promise.all([later, ...more]);
    expect(written).toEqual([[1, 2, 3], [4, 5], [6, 7, 8], [9]]);
    const failed = await Promise.allSettled([batcher.add(6), batcher.add(-1)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(batcher.stats).toEqual({ batches: 4, failedBatches: 1 });
    await batcher.flush(); // nothing queued: resolves at once
  });
});

describe('openStore', () => {
  it('opens SQLite from sqlite:// urls, file or memory, and Postgres from postgres:// and postgresql:// urls', async () => {
    const file = join(scratch.dir, 'by-url', 'hooks.db');
    const url = await postgres.fresh();
    for (const [i, storage] of [`sqlite://${file}`, 'sqlite://:memory:', url, url.replace(/^postgres:/, 'postgresql:')].entries()) {
      const store = await openStore(storage);
      await store.commitLog(log(`u-${i}`));
      expect(await store.getLog(`u-${i}`)).toBeDefined();
      await store.close();
    }
  });

  it('names the Postgres server it could not open without its password, and the accepted schemes for anything else', async () => {
    const down = openStore('postgres://hooks:s3cret-pw@127.0.0.1:1/hooks');
    await expect(down).rejects.toThrow(/storage postgres:\/\/hooks@127.0.0.1:1\/hooks could not be opened: .*ECONNREFUSED/);
    await expect(down).rejects.not.toThrow(/s3cret/);
    const wrong = openStore(`${server!.url.replace(':test-password@', ':not-the-password@')}`);
    await expect(wrong).rejects.toThrow(/password authentication failed/);
    await expect(wrong).rejects.not.toThrow(/not-the-password/);
    const unknown = openStore('mysql://user:secret@db/hooks');
    await expect(unknown).rejects.toThrow(/mysql:.*sqlite:\/\/<absolute path>, sqlite:\/\/:memory: or postgres:\/\//);
    await expect(unknown).rejects.not.toThrow(/secret/);
    await expect(openStore('sqlite://data/hooks.db')).rejects.toThrow(/absolute file path/);
  });
});
