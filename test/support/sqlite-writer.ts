/**
 * A second process for the store tests (test/store.test.ts), run with `node --import tsx`. Prints one line per id on
 * stdout. <store> is a SQLite file or a storage url (sqlite://..., postgres://...).
 *   write <store>   commits accepted requests forever, printing each id once its promise has resolved (to be killed)
 *   claim <store>   prints "ready", waits for a line on stdin, then claims until nothing is left, printing each id
 */
import { createInterface } from 'node:readline';
import { openStore } from '../../engine/store/open.ts';
import { openSqliteStore } from '../../engine/store/sqlite/store.ts';
import type { ExecutionRecord, LogEntry } from '../../engine/store/types.ts';

const [mode, file] = process.argv.slice(2);
const store = file.includes('://') ? await openStore(file) : await openSqliteStore(file);
// stdout is a pipe: on Linux its writes are synchronous, so a printed id has left this process before the next write
const print = (line: string) => process.stdout.write(`${line}\n`);

if (mode === 'write') {
  for (let round = 0; ; round++) {
    // many writes per tick, so that the kill can land in the middle of a group commit
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => {
        const id = `w-${round}-${i}`;
        return store.commitLog(logEntry(id), execution(`x-${id}`, id)).then(() => print(id));
      }),
    );
  }
} else if (mode === 'claim') {
  print('ready');
  await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
  // bounded, so that a store that hands out the same rows again cannot keep it looping
  for (let round = 0; round < 10_000; round++) {
    const claimed = await store.claimExecutions(7, 60_000);
    if (claimed.length === 0) break;
    for (const e of claimed) print(e.id);
  }
  await store.close();
  print('done');
  process.exit(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}

function logEntry(id: string): LogEntry {
  return {
    id, receivedAt: new Date().toISOString(), flowId: 'writer', revision: 'r1', method: 'POST', path: '/hooks/writer',
    headers: {}, query: {}, body: '{}', bodyTruncated: false, outcome: 'accepted', reason: null, status: 202, durationMs: 1,
    executionId: `x-${id}`, contactId: null, identification: null, duplicateOf: null, replayOf: null,
  };
}

function execution(id: string, logId: string): ExecutionRecord {
  const now = new Date().toISOString();
  return {
    id, flowId: 'writer', revision: 'r1', logId, mode: 'async', status: 'queued', attempts: 0, createdAt: now,
    startedAt: null, finishedAt: null, error: null,
    input: { request: { method: 'POST', path: '/hooks/writer', headers: {}, query: {}, body: {}, ip: '127.0.0.1', receivedAt: now }, vars: {}, contactId: null },
  };
}
