import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openStore } from '../engine/store/open.ts';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';

const STEPS = ['one', 'two', 'three', 'four', 'five'];
/** the steps that call out (to the receiver below): journaled before the next step starts, so never called twice */
const CALLS = ['two', 'four'];
// each step does a little real work, so that executions are caught mid-run when the process dies
const flow = (receiver: string) => `version: 1
id: crash
trigger: { path: /crash }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
${STEPS.map((id, i) =>
  CALLS.includes(id)
    ? `  - id: ${id}\n    http: { method: POST, url: "${receiver}/${id}", body: { execution: "{{ $execution.id }}" } }`
    : `  - id: ${id}\n    set: { v${i}: "{{ $sum([1..40000]) + ${i} }}" }`,
).join('\n')}
`;

/**
 * A receiver of the flow's calls: counts them by step and execution (the Idempotency-Key the engine sends). `holdFirst`:
 * the first call of each key is never answered (the engine dies waiting); `delayMs`: answers come that much later, to
 * the calls of `delayStep` only when it is set. `waiting` counts, by step, the calls received and not yet answered.
 */
async function receiver(options: { holdFirst?: boolean; delayMs?: number; delayStep?: string } = {}): Promise<{ url: string; calls: Map<string, number>; waiting: Map<string, number>; drained(): Promise<void>; close(): Promise<void> }> {
  const calls = new Map<string, number>();
  const waiting = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const step = String(req.url).slice(1);
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      waiting.set(step, (waiting.get(step) ?? 0) + 1);
      if (options.holdFirst && calls.get(key) === 1) return;
      const answer = () => {
        waiting.set(step, waiting.get(step)! - 1);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
      if (options.delayMs && (!options.delayStep || options.delayStep === step)) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    waiting,
    // every connection closed: all a dead engine sent before it died has been read and counted
    drained: async () => {
      const open = () => new Promise<number>((resolve) => server.getConnections((_err, count) => resolve(count)));
      while ((await open()) > 0) await new Promise((r) => setTimeout(r, 10));
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('an async engine killed with SIGKILL under load', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let child: ChildProcess | undefined;
  let calls: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    dir = await scratchDir('hooks-crash-');
    // the last call is slow to answer: executions sit between their two calls long enough for the kill to catch some there
    calls = await receiver({ delayMs: 200, delayStep: 'four' });
    await dir.write('flows/crash.yaml', flow(calls.url));
    // a short lease: the restarted engine takes over the dead one's executions after it
    await dir.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\nqueue: { lease: 1s }\nhttp: { allowList: ["127.0.0.1"] }\n');
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await calls.close();
    await dir.remove();
  });

  it('loses no answered request and runs no journaled step twice after a restart', { timeout: 120_000 }, async () => {
    const config = `${dir.dir}/hooks.config.yaml`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawnServe(config, port);
    await waitReady(url);

    // 16 callers send until the engine dies under them
    const answered: string[] = [];
    let killed = false;
    const caller = async () => {
      while (!killed) {
        try {
          const res = await fetch(`${url}/hooks/crash`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
          if (res.status === 202) answered.push(((await res.json()) as { execution: string }).execution);
        } catch {
          // the connection died with the process: this request was never answered
        }
      }
    };
    const callers = Array.from({ length: 16 }, caller);
    // killed while some execution waits for its last call: its first call is journaled, so it is resumed mid-run
    while (answered.length < 400 || !calls.waiting.get('four')) await new Promise((r) => setTimeout(r, 10));
    const exited = new Promise((r) => child!.once('exit', r)); // listen first: the process may be gone at once
    child.kill('SIGKILL');
    killed = true;
    await Promise.all(callers);
    await exited;
    await calls.drained();

    const store = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
    const unfinishedAtCrash = (await Promise.all(answered.map((id) => store.getExecution(id)))).filter((e) => e?.status !== 'completed').length;
    // executions the kill caught between their two calls: resumed below at the first unfinished step, not from the start
    const midRun = (await Promise.all(answered.map((id) => store.journal(id)))).filter((j) => j.some((e) => e.stepId === 'two') && !j.some((e) => e.stepId === 'four')).length;
    const callsAtCrash = new Map(calls.calls);
    await store.close();

    child = spawnServe(config, port);
    await waitReady(url);
    const after = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
    try {
      for (let i = 0; i < 300 && (await after.queueDepth()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await after.queueDepth()).toBe(0);
      for (const id of answered) {
        const execution = await after.getExecution(id);
        expect(execution, `answered execution ${id} must exist`).toBeDefined();
        expect(execution!.status).toBe('completed');
        const journal = await after.journal(id);
        expect(journal.map((e) => e.stepId)).toEqual(STEPS);
        expect(journal.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
        for (const step of CALLS) {
          // a journaled call is never made again; a call the kill cut short is made again, with the same key (the
          // engine cannot know whether it arrived): a second call only where the first was made before the kill
          const key = `${id}:${step}`;
          const count = calls.calls.get(key) ?? 0;
          expect(count, `calls of ${key}`).toBeGreaterThanOrEqual(1);
          expect(count, `calls of ${key}`).toBeLessThanOrEqual(callsAtCrash.has(key) ? 2 : 1);
        }
      }
      const repeated = [...calls.calls].filter(([key, n]) => n > 1 && answered.includes(key.split(':')[0]));
      // at most one call in flight per worker slot (16) when the process died
      expect(repeated.length).toBeLessThanOrEqual(16);
      // the kill must really have interrupted work, mid-run for some, or this test proves nothing
      expect(unfinishedAtCrash).toBeGreaterThan(0);
      expect(midRun).toBeGreaterThan(0);
    } finally {
      await after.close();
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      child = undefined;
    }
  });
});

/** A sync flow that answers first and goes on: a call, then a step after it. */
const tailFlow = (receiver: string) => `version: 1
id: tail
trigger: { path: /tail }
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { execution: "{{ $execution.id }}" } }
  - id: call
    http: { method: POST, url: "${receiver}/call", body: { execution: "{{ $execution.id }}" } }
  - id: after
    set: { done: true }
`;

describe('a sync run that goes on after its answer', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    dir = await scratchDir('hooks-tail-');
    await dir.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\nqueue: { lease: 1s }\nhttp: { allowList: ["127.0.0.1"] }\n');
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await dir.remove();
  });

  async function start(receiverUrl: string): Promise<string> {
    await dir.write('flows/tail.yaml', tailFlow(receiverUrl));
    const port = await freePort();
    child = spawnServe(`${dir.dir}/hooks.config.yaml`, port);
    await waitReady(`http://127.0.0.1:${port}`);
    return `http://127.0.0.1:${port}`;
  }
  async function answered(url: string, count: number): Promise<string[]> {
    return Promise.all(
      Array.from({ length: count }, async () => {
        const res = await fetch(`${url}/hooks/tail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(res.status).toBe(200);
        return ((await res.json()) as { execution: string }).execution;
      }),
    );
  }
  async function stop(signal: NodeJS.Signals): Promise<void> {
    const exited = new Promise((r) => child!.once('exit', r));
    child!.kill(signal);
    await exited;
    child = undefined;
  }
  async function expectFinished(ids: string[]): Promise<void> {
    const store = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
    try {
      for (const id of ids) {
        const execution = await store.getExecution(id);
        expect(execution!.status, id).toBe('completed');
        const journal = await store.journal(id);
        expect(journal.map((e) => [e.seq, e.stepId])).toEqual([[1, 'answer'], [2, 'call'], [3, 'after']]);
        const log = await store.getLog(execution!.logId);
        expect([log!.outcome, log!.status]).toEqual(['completed', 200]);
      }
    } finally {
      await store.close();
    }
  }

  it('is resumed from its journal when the engine is killed before it ends', { timeout: 60_000 }, async () => {
    const calls = await receiver({ holdFirst: true });
    try {
      const url = await start(calls.url);
      const ids = await answered(url, 8);
      // every run is waiting for its call when the process dies
      while (calls.calls.size < ids.length) await new Promise((r) => setTimeout(r, 10));
      await stop('SIGKILL');
      const atCrash = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
      for (const id of ids) {
        expect((await atCrash.getExecution(id))!.status).toBe('running');
        expect((await atCrash.journal(id)).map((e) => e.stepId)).toEqual(['answer']);
      }
      await atCrash.close();

      await start(calls.url);
      const store = await openStore(`sqlite://${dir.dir}/data/hooks.db`);
      for (let i = 0; i < 200 && (await store.queueDepth()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      await store.close();
      await expectFinished(ids);
      // the call cut short by the kill is made again, with the same key; the respond already journaled is not run again
      for (const id of ids) expect(calls.calls.get(`${id}:call`)).toBe(2);
      await stop('SIGTERM');
    } finally {
      await calls.close();
    }
  });

  it('is finished before a graceful shutdown closes the store', { timeout: 30_000 }, async () => {
    const calls = await receiver({ delayMs: 500 });
    try {
      const url = await start(calls.url);
      const ids = await answered(url, 4);
      await stop('SIGTERM');
      await expectFinished(ids);
      for (const id of ids) expect(calls.calls.get(`${id}:call`)).toBe(1);
    } finally {
      await calls.close();
    }
  });
});
