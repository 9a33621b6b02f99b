/**
 * `node --import tsx bench/store-writes.ts [sync|async] [requests]`: what the SQLite store's writes cost a request,
 * without HTTP. It commits the rows the bench's flows (bench/flows.ts) commit for each request, with 32 requests in
 * flight as autocannon's 32 connections are, so the group commit batches them as in the server:
 * - sync: the log row and the finished execution with its journal inline, in one commit;
 * - async: the log row and the execution claimed by this process, then its finish with the held journal.
 * Prints CPU µs a request (all threads, the WAL checkpointer's too, as `hooks serve` runs it), and the write syscalls
 * and bytes a request (/proc/self/io: the WAL's frames and the checkpoints' copies).
 * With STORE_CHECKPOINTS=inline the writer checkpoints inside its commits, as SQLite does by default, instead of from a
 * thread on a timer: the run then does the same work every time, and counted under callgrind, its instructions a
 * request do not move with the machine's state as its CPU time does:
 *   STORE_CHECKPOINTS=inline valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *     node --single-threaded --predictable --hash-seed=1 --random-seed=1 --import tsx bench/store-writes.ts sync 5000
 * then again with 15000: the difference of the two totals over 10,000 (callgrind does not count the kernel's work).
 * The 5000-request totals have also moved by ±10% from one run to the next, the 15000 ones by 0.3%: to compare two
 * versions of the store, compare their 15000 totals.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import type { ExecutionRecord, JournalEntry, LogEntry } from '../engine/store/types.ts';
import { newId } from '../engine/common/ids.ts';
import { PAYLOAD } from './flows.ts';
import { payloadBodies, type PayloadKey } from './payloads.ts';

const mode = process.argv[2] === 'async' ? 'async' : 'sync';
const requests = Number(process.argv[3] ?? 20_000);
const IN_FLIGHT = 32;
const inline = process.env.STORE_CHECKPOINTS === 'inline';

const dir = await mkdtemp(join(tmpdir(), 'hooks-store-writes-'));
const file = join(dir, 'hooks.db');
const store = await openSqliteStore(file, inline ? {} : { backgroundCheckpoints: { onError: (message) => console.error(message) } });
// STORE_PAYLOAD=push (or stripe, 64k): one of the real bodies instead of the bench's 200 bytes
const TEXT = process.env.STORE_PAYLOAD ? payloadBodies([process.env.STORE_PAYLOAD as PayloadKey]).get(process.env.STORE_PAYLOAD as PayloadKey)! : PAYLOAD;
const body = JSON.parse(TEXT) as Record<string, unknown>;
const headers = { host: '127.0.0.1:3000', connection: 'keep-alive', 'content-type': 'application/json', 'content-length': String(TEXT.length) };

/** a journal entry as the interpreter writes it (engine/execution/interpreter.ts): these steps take under a millisecond */
function step(executionId: string, seq: number, stepId: string, kind: string, result: unknown, vars: Record<string, unknown> | null, at: string): JournalEntry {
  return { executionId, seq, stepId, kind, result, vars, stop: false, startedAt: at, finishedAt: at, durationMs: 0 };
}

/** one request's writes, as the pipeline (and for async, the worker) makes them */
function commitOne(): Promise<void> {
  const now = new Date();
  const at = now.toISOString();
  const path = `/bench-${mode}`;
  const id = newId('ex');
  const log: LogEntry = {
    id: newId('log'), receivedAt: at, flowId: `bench-${mode}`, revision: 'r1', method: 'POST', path, headers, query: {}, body: TEXT,
    bodyTruncated: false, outcome: mode === 'sync' ? 'completed' : 'accepted', reason: null, status: mode === 'sync' ? 200 : 202,
    durationMs: 0, executionId: id, contactId: null, identification: null, duplicateOf: null, replayOf: null,
  };
  const request = { method: 'POST', path, headers: headers as Record<string, unknown>, query: {}, body: body as unknown, ip: '127.0.0.1', receivedAt: at };
  const vars = { ...body, payer: 'Ann Lee', total: 125.5 };
  const execution: ExecutionRecord = {
    id, flowId: log.flowId, revision: 'r1', logId: log.id, mode, status: 'running', input: { request, vars, contactId: null },
    attempts: 1, createdAt: at, startedAt: at, finishedAt: null, error: null,
  };
  const branch = step(id, 1, 'decide', 'branch', { case: 0, matched: 'when' }, null, at);
  if (mode === 'sync') {
    // a finished sync run: its request is in the log row, not stored a second time (see runSync)
    const finished = { ...execution, status: 'completed' as const, finishedAt: at, input: { ...execution.input, request: { ...request, headers: {}, body: null } } };
    return store.commitLog(log, finished, [branch, step(id, 2, 'big', 'respond', { status: 200 }, null, at)]);
  }
  const lease = new Date(now.getTime() + 30_000).toISOString();
  return store.commitLog(log, execution, [], lease).then(() =>
    store.finishExecution(id, 'completed', null, new Date().toISOString(), [branch, step(id, 2, 'big', 'set', { tier: 'big' }, { tier: 'big' }, at)]));
}

async function run(count: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < count) await commitOne();
  }));
}

/** write syscalls and the bytes they wrote, this process so far */
function written(): { calls: number; bytes: number } {
  const io = Object.fromEntries(readFileSync('/proc/self/io', 'utf8').trim().split('\n').map((line) => line.split(': ')));
  return { calls: Number(io.syscw), bytes: Number(io.wchar) };
}

await run(2_000); // warm-up: the JIT, the first pages
const ioBefore = written();
const cpuBefore = process.cpuUsage();
await run(requests);
const cpu = process.cpuUsage(cpuBefore);
const io = written();
const per = (value: number) => (value / requests).toFixed(1);
console.log(`${mode}: ${requests} requests; a request: ${per(cpu.user + cpu.system)} CPU µs (${per(cpu.system)} in the kernel), ` +
  `${per(io.calls - ioBefore.calls)} writes of ${Math.round((io.bytes - ioBefore.bytes) / requests)} bytes`);
await store.close();
await rm(dir, { recursive: true, force: true });
