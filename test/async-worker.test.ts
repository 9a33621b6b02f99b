/**
 * The async worker in a real engine (SQLite): executions it accepted run in the answering process without a claim
 * round, at most `queue.concurrency` at once; those that wait for a slot stay claimed by it, their lease renewed, so
 * another process looking for work does not take them; beyond what it may hold, executions are queued for anyone.
 * The store is asked for queued work when some was queued, and on the poll, not after every execution. A slot is free
 * once its execution's steps are done, before their finish commits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../engine/store/sqlite/store.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { eventually } from './support/twilio-faults.ts';

/** A receiver that keeps every call open until released: executions stay in their http step meanwhile. */
async function gate() {
  const waiting: http.ServerResponse[] = [];
  let open = false;
  const server = http.createServer((req, res) => {
    req.resume();
    if (open) res.end('{}');
    else waiting.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    waiting,
    release() {
      open = true;
      for (const res of waiting.splice(0)) res.end('{}');
    },
    hold() {
      open = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** true once every one of the executions has completed */
const allCompleted = (engine: TestEngine, ids: string[]) => async () =>
  (await Promise.all(ids.map((id) => engine.store.getExecution(id)))).every((e) => e?.status === 'completed') || undefined;

describe('the async worker', () => {
  let engine: TestEngine;
  let receiver: Awaited<ReturnType<typeof gate>>;

  beforeAll(async () => {
    receiver = await gate();
    const flow = `version: 1
id: slow
trigger: { path: /slow }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: call
    http: { method: POST, url: "${receiver.url}/x", timeout: 20s }
`;
    const fast = flow.replace(/slow/g, 'fast').replace(/steps:[^]*/, 'steps:\n  - id: mark\n    set: { done: true }\n');
    // two slots, a short lease: a held execution whose lease were not renewed would be claimable within the test
    engine = await startTestEngine({ 'slow.yaml': flow, 'fast.yaml': fast }, 'queue: { concurrency: 2, lease: 1s }\nhttp: { allowList: ["127.0.0.1"], timeout: 20s }\n');
  });
  afterAll(async () => {
    receiver.release();
    await engine?.stop();
    await receiver.close();
  });

  it('runs two at once, holds two more claimed with their leases renewed, and queues the rest for any process', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(((await engine.request('/hooks/slow', { json: {} })).body as { execution: string }).execution);
    await eventually(async () => (receiver.waiting.length === 2 ? true : undefined), 5_000, 'two calls in flight');

    const statuses = async () => Promise.all(ids.map(async (id) => (await engine.store.getExecution(id))!.status));
    // the first four are this process's (two running, two waiting for a slot); the last two are queued
    expect(await statuses()).toEqual(['running', 'running', 'running', 'running', 'queued', 'queued']);

    // longer than the lease: another process finds only the queued two, never one this process holds
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const other = await openSqliteStore(`${engine.dir}/data/hooks.db`);
    try {
      const taken = await other.claimExecutions(10, 60_000);
      expect(taken.map((e) => e.id).sort()).toEqual(ids.slice(4).sort());
    } finally {
      await other.close();
    }
    expect(receiver.waiting).toHaveLength(2);

    receiver.release();
    await eventually(allCompleted(engine, ids.slice(0, 4)), 10_000, 'the four held executions');
    // each ran once, in this process: none was claimed a second time
    for (const id of ids.slice(0, 4)) expect(await engine.store.getExecution(id)).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('runs what it queued once slots free, and then stops asking the store after each execution', async () => {
    receiver.hold();
    const queued: string[] = [];
    for (let i = 0; i < 6; i++) queued.push(((await engine.request('/hooks/slow', { json: {} })).body as { execution: string }).execution);
    await eventually(async () => (receiver.waiting.length === 2 ? true : undefined), 5_000, 'two calls in flight');
    receiver.release();
    await eventually(allCompleted(engine, queued), 10_000, 'six executions');
    // the two beyond what it may hold went through the queue and were claimed by this process: once each
    for (const id of queued) expect(await engine.store.getExecution(id)).toMatchObject({ status: 'completed', attempts: 1 });

    const claims = vi.spyOn(engine.store, 'claimExecutions');
    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const answer = await engine.request('/hooks/fast', { json: { i } });
      expect(answer.status).toBe(202);
      ids.push((answer.body as { execution: string }).execution);
    }
    await eventually(allCompleted(engine, ids), 10_000, 'forty executions');
    // only the poll, once a second, asked: before, every finished execution did (40 here)
    expect(claims.mock.calls.length).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 1_000) + 1);
    claims.mockRestore();
  });

  it('frees a slot when the steps are done, so a steady stream is run as accepted, not queued', async () => {
    // waves of four requests at once, the next as soon as all four are answered: as many as the worker may hold (2
    // slots, 2 held)
    const claimed: string[] = [];
    const original = engine.store.claimExecutions.bind(engine.store);
    const spy = vi.spyOn(engine.store, 'claimExecutions').mockImplementation(async (...args) => {
      const taken = await original(...args);
      claimed.push(...taken.map((e) => e.id));
      return taken;
    });
    const ids: string[] = [];
    for (let wave = 0; wave < 25; wave++) {
      const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => engine.request('/hooks/fast', { json: { wave, i } })));
      ids.push(...answers.map((answer) => (answer.body as { execution: string }).execution));
    }
    await eventually(allCompleted(engine, ids), 10_000, 'a hundred executions');
    spy.mockRestore();
    // an execution waiting only for its finish to commit used to keep its slot: the next requests found the worker full
    expect(claimed.filter((id) => ids.includes(id))).toEqual([]);
  });
});
