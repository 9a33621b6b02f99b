import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';

/**
 * A store the engine can no longer write, or that is not the one it opened, is noticed: the engine says so in its log,
 * fails readiness and answers 503 (never 2xx into a file nobody reads again), and is ready again once it can write.
 */
const FLOW = `version: 1
id: orders
trigger: { path: /orders }
mode: async
response: { status: 202, body: { accepted: true } }
steps:
  - id: note
    set: { seen: true }
`;

describe('a store the engine can no longer write', () => {
  let child: ChildProcess | undefined;
  let removeScratch: (() => Promise<void>) | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    await removeScratch?.();
  });

  async function serve() {
    const scratch = await scratchDir('hooks-health-');
    removeScratch = scratch.remove;
    await scratch.write('flows/orders.yaml', FLOW);
    const config = await scratch.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\n');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logs: string[] = [];
    child = spawnServe(config, port, { args: ['--no-watch'], logs });
    await waitReady(url);
    const post = () => fetch(`${url}/hooks/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":1}' });
    const ready = async () => (await fetch(`${url}/readyz`)).status;
    return { dir: scratch.dir, url, logs, post, ready, pid: child.pid! };
  }

  const until = async (check: () => Promise<boolean>, ms = 5_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await check()) return true;
    return false;
  };

  it('answers 503 and is not ready once its database is removed, and says why in its log', async () => {
    const engine = await serve();
    expect((await engine.post()).status).toBe(202);
    await rm(`${engine.dir}/data`, { recursive: true, force: true });
    // the very next request: the commit checks the file first
    const refused = await engine.post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await engine.ready()).toBe(503);
    expect(await (await fetch(`${engine.url}/readyz`)).json()).toEqual({ status: 'storage unavailable' });
    expect(engine.logs.some((line) => line.includes('was removed while in use'))).toBe(true);
    for (let i = 0; i < 5; i++) expect((await engine.post()).status).toBe(503);
  });

  it('notices a removed database while idle: readiness fails within seconds', async () => {
    const engine = await serve();
    expect((await engine.post()).status).toBe(202);
    await rm(`${engine.dir}/data`, { recursive: true, force: true });
    expect(await until(async () => (await engine.ready()) === 503)).toBe(true);
  });

  it('answers 503 while its files cannot grow, and is ready again once they can', async () => {
    const engine = await serve();
    expect((await engine.post()).status).toBe(202);
    // no write past the first byte of any file: every commit fails (EFBIG), as on a full disk
    execFileSync('prlimit', ['--pid', String(engine.pid), '--fsize=1:']);
    let failed: Response | undefined;
    await until(async () => (failed = await engine.post()).status !== 202);
    expect(failed!.status).toBe(503);
    expect(await engine.ready()).toBe(503);
    expect(engine.logs.some((line) => line.includes('the store cannot write'))).toBe(true);
    execFileSync('prlimit', ['--pid', String(engine.pid), '--fsize=unlimited:']);
    expect(await until(async () => (await engine.ready()) === 200)).toBe(true);
    expect(engine.logs.some((line) => line.includes('the store can write again'))).toBe(true);
    expect((await engine.post()).status).toBe(202);
  });
});
