import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../engine/store/open.ts';
import { migrate, migrations } from '../engine/store/sqlite-schema.ts';
import { openSqliteStore, type SqliteStore } from '../engine/store/sqlite.ts';
import type { ExecutionRecord, JournalEntry, LogEntry } from '../engine/store/types.ts';
import { scratchDir } from './support/files.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRITER = fileURLToPath(new URL('./support/sqlite-writer.ts', import.meta.url));
const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let opened: SqliteStore[] = [];
let children: ChildProcess[] = [];
let n = 0;

beforeAll(async () => {
  scratch = await scratchDir('hooks-store-');
});
afterEach(async () => {
  for (const s of opened) await s.close();
  opened = [];
  // a failed test must not leave a helper process behind
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children = [];
});
afterAll(() => scratch.remove());

/** A fresh database file per test (or a given one, to open it twice). */
async function open(file = join(scratch.dir, `db-${++n}`, 'hooks.db'), now?: () => Date) {
  const store = await openSqliteStore(file, { now });
  opened.push(store);
  return { store, file };
}

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

function step(executionId: string, seq: number, stepId: string, over: Partial<JournalEntry> = {}): JournalEntry {
  return {
    executionId, seq, stepId, kind: 'set', result: { ok: true }, vars: { seen: seq }, stop: false,
    startedAt: at(seq * 10), finishedAt: at(seq * 10 + 5), durationMs: 5, ...over,
  };
}

/** Accepted request `id` with execution `x-id`, created `ms` after T0. */
/** Runs test/support/sqlite-writer.ts in its own process. */
function helper(mode: 'write' | 'claim', file: string): ChildProcess & { stdin: NodeJS.WritableStream; stdout: NodeJS.ReadableStream } {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, mode, file], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

const accept = (store: SqliteStore, id: string, ms = 0) =>
  store.commitAccepted(log(id, { receivedAt: at(ms), executionId: `x-${id}` }), execution(`x-${id}`, id, { createdAt: at(ms) }));

describe('SQLite store: records', () => {
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
    await store.commitAccepted(bare, execution('x-bare', 'bare'));

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

describe('SQLite store: group commit', () => {
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

    const batch = [accept(store, 'p'), accept(store, 'q'), store.commitAccepted(log('p'), execution('x-other', 'p'))];
    const results = await Promise.allSettled(batch);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of results) expect((r as PromiseRejectedResult).reason.message).toMatch(/UNIQUE constraint failed: webhook_log.id/);
    expect(store.stats.failedBatches).toBe(failedBefore + 1);
    for (const id of ['p', 'q']) expect(await store.getLog(id)).toBeUndefined();
    for (const id of ['x-p', 'x-q', 'x-other']) expect(await store.getExecution(id)).toBeUndefined();

    // a duplicate of an already committed row fails its batch too, without touching the committed row
    await expect(accept(store, 'existing')).rejects.toThrow(/UNIQUE/);
    expect((await store.getLog('existing'))?.receivedAt).toBe(at(0));

    await accept(store, 'after');
    expect(await store.getLog('after')).toBeDefined();
    expect(await store.queueDepth()).toBe(2);
  });

  it('fails only its own caller when a value cannot be stored, not the rest of the batch', async () => {
    const { store } = await open();
    const results = await Promise.allSettled([
      accept(store, 'fine-1'),
      store.commitAccepted(log('bad', { receivedAt: 'yesterday-ish' }), execution('x-bad', 'bad')),
      accept(store, 'fine-2'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/receivedAt is not a valid time/);
    expect(await store.getLog('fine-2')).toBeDefined();
    expect(await store.getLog('bad')).toBeUndefined();
  });

  it('applies a later write after a queued one it was called after, and close() commits what is queued', async () => {
    const { store, file } = await open();
    const committed = store.commitLog(log('sync', { outcome: 'accepted', status: 200 }));
    await store.updateLogOutcome('sync', 'completed', 201, null, 40); // called before the batch's tick came
    await committed;
    expect(await store.getLog('sync')).toMatchObject({ outcome: 'completed', status: 201, durationMs: 40 });

    const pending = accept(store, 'queued-at-close');
    await store.close();
    await pending;
    await expect(store.getLog('sync')).rejects.toThrow(/closed/);
    const { store: reopened } = await open(file);
    expect(await reopened.getExecution('x-queued-at-close')).toBeDefined();
  });

  it('keeps every write a killed process had reported as committed', async () => {
    const file = join(scratch.dir, 'killed', 'hooks.db');
    const child = helper('write', file);
    const printed: string[] = [];
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    createInterface({ input: child.stdout }).on('line', (id) => {
      printed.push(id);
      // it never stops on its own: SIGKILL lands in the middle of its stream of group commits
      if (printed.length === 600) child.kill('SIGKILL');
    });
    expect(await exited).toBe('SIGKILL');

    const { store } = await open(file);
    const missing: string[] = [];
    for (const id of printed) {
      if (!(await store.getLog(id)) || !(await store.getExecution(`x-${id}`))) missing.push(id);
    }
    expect(printed.length).toBeGreaterThanOrEqual(600);
    expect(missing).toEqual([]);
  });
});

describe('SQLite store: claiming executions', () => {
  it('gives two stores on the same file disjoint claims, oldest first', async () => {
    const { store: a, file } = await open();
    const { store: b } = await open(file);
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
    const { store, file } = await open();
    await Promise.all(Array.from({ length: 600 }, (_, i) => accept(store, `m${i}`, i)));
    await store.close();
    opened = [];

    const claimers = [0, 1].map(() => {
      const child = helper('claim', file);
      const ids: string[] = [];
      const lines = createInterface({ input: child.stdout });
      const ready = new Promise<void>((resolve) => lines.on('line', (line) => (line === 'ready' ? resolve() : line !== 'done' && ids.push(line))));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      return { child, ids, ready, exited };
    });
    await Promise.all(claimers.map((c) => c.ready));
    for (const c of claimers) c.child.stdin.end('go\n'); // both start claiming together
    expect(await Promise.all(claimers.map((c) => c.exited))).toEqual([0, 0]);

    const [one, two] = claimers.map((c) => c.ids);
    expect(one.filter((id) => two.includes(id))).toEqual([]);
    expect(new Set([...one, ...two]).size).toBe(600);
    expect(one.length + two.length).toBe(600);
    const { store: after } = await open(file);
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

describe('SQLite store: journal, outcomes, queue depth and sweep', () => {
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
    await expect(store.appendJournal(step('nope', 1, 'a'))).rejects.toThrow(/FOREIGN KEY/);
  });

  it('stores a finished sync execution with its journal and its log row together', async () => {
    const { store } = await open();
    const exec = execution('x-s', 's', { mode: 'sync', status: 'completed', attempts: 1, startedAt: at(0), finishedAt: at(30) });
    await store.commitLog(log('s', { outcome: 'completed', status: 200, executionId: 'x-s' }), exec, [step('x-s', 1, 'a'), step('x-s', 2, 'b')]);
    expect((await store.journal('x-s')).map((e) => e.stepId)).toEqual(['a', 'b']);
    expect(await store.getExecution('x-s')).toEqual(exec);
    expect(await store.queueDepth()).toBe(0);
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

    expect(await store.sweep(at(-1000))).toBe(5); // the five log rows received a day ago
    for (const id of ['old-running', 'old-done', 'old-failed', 'old-stopped', 'old-queued']) expect(await store.getLog(id)).toBeUndefined();
    expect(await store.getLog('new-done')).toBeDefined();
    for (const id of ['x-old-done', 'x-old-failed', 'x-old-stopped']) expect(await store.getExecution(id)).toBeUndefined();
    expect(await store.journal('x-old-done')).toEqual([]);
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

describe('SQLite store: files and migrations', () => {
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

  it('refuses a database written by a newer engine', async () => {
    const { store, file } = await open();
    await store.close();
    opened = [];
    const raw = new Database(file);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')").run();
    raw.close();
    await expect(openSqliteStore(file)).rejects.toThrow(/schema version 999 is newer/);
  });
});

describe('openStore', () => {
  it('opens SQLite from sqlite:// urls, file or memory', async () => {
    const file = join(scratch.dir, 'by-url', 'hooks.db');
    for (const url of [`sqlite://${file}`, 'sqlite://:memory:']) {
      const store = await openStore(url);
      await store.commitLog(log('u'));
      expect(await store.getLog('u')).toBeDefined();
      await store.close();
    }
  });

  it('says Postgres is not available yet, and names the accepted schemes for anything else', async () => {
    await expect(openStore('postgres://user:secret@db/hooks')).rejects.toThrow(/Postgres storage is not available yet/);
    await expect(openStore('postgresql://db/hooks')).rejects.toThrow(/Postgres storage is not available yet/);
    const unknown = openStore('mysql://user:secret@db/hooks');
    await expect(unknown).rejects.toThrow(/mysql:.*sqlite:\/\/<absolute path>, sqlite:\/\/:memory: or postgres:\/\//);
    await expect(unknown).rejects.not.toThrow(/secret/);
    await expect(openStore('sqlite://data/hooks.db')).rejects.toThrow(/absolute file path/);
  });
});
