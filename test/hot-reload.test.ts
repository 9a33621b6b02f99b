import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestEngine, type TestEngine, type TestEngineOptions } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe } from './support/serve.ts';

/** A sync flow that answers which flow and version it is. */
function flow(id: string, version: string, path = `/${id}`): string {
  return `version: 1
id: ${id}
trigger: { path: ${path} }
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { flow: ${id}, version: ${version} } }
`;
}

const revision = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Answer {
  worker: number;
  path: string;
  status: number;
  version: string | undefined;
  body: string;
}

/** Sends requests without pause from a few sequential workers until stopped; keeps every answer. */
function traffic(url: string, paths: string[], workers = 4) {
  let stopped = false;
  const answers: Answer[] = [];
  const runs = Array.from({ length: workers }, async (_, worker) => {
    for (let i = worker; !stopped; i++) {
      const path = paths[i % paths.length];
      try {
        const res = await fetch(`${url}/hooks${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        const body = await res.text();
        let version: string | undefined;
        try {
          version = JSON.parse(body).version;
        } catch {
          // not JSON: the body says what went wrong
        }
        answers.push({ worker, path, status: res.status, version, body });
      } catch (err) {
        answers.push({ worker, path, status: 0, version: undefined, body: String(err) });
      }
    }
  });
  return {
    answers,
    count: (path?: string) => answers.filter((a) => !path || a.path === path).length,
    async stop(): Promise<Answer[]> {
      stopped = true;
      await Promise.all(runs);
      return answers;
    },
  };
}

/** Answers that are neither the old nor the new version of their route. */
function unexpected(answers: Answer[], allowed: Record<string, (a: Answer) => boolean>): Answer[] {
  return answers.filter((a) => !allowed[a.path](a));
}

/** Once a sequential worker has seen the new version of a route, it never sees the old one again: the swap is atomic. */
function flipBacks(answers: Answer[], path: string, isNew: (a: Answer) => boolean): Answer[] {
  const seenNew = new Set<number>();
  return answers.filter((a) => {
    if (a.path !== path) return false;
    if (isNew(a)) seenNew.add(a.worker);
    else if (seenNew.has(a.worker)) return true;
    return false;
  });
}

const v = (version: string) => (a: Answer) => a.status === 200 && a.version === version;
const either = (...checks: ((a: Answer) => boolean)[]) => (a: Answer) => checks.some((c) => c(a));
const gone = (a: Answer) => a.status === 404;

let engine: TestEngine | undefined;
const extra: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  for (const cleanup of extra.splice(0)) await cleanup();
});

async function start(flows: Record<string, string>, config = '', options: TestEngineOptions = {}): Promise<TestEngine> {
  engine = await startTestEngine(flows, config, {}, options);
  return engine;
}

const flowsDir = (e: TestEngine) => join(e.dir, 'flows');
const answerOf = async (e: TestEngine, path: string) => {
  const res = await e.request(`/hooks${path}`, { method: 'POST', json: {} });
  return { status: res.status, version: (res.body as { version?: string })?.version };
};
const fileStatus = async (e: TestEngine, name: string) => ((await e.admin('/api/flows')).body as any[]).find((f) => f.file.endsWith(`/${name}`));

/** Runs traffic, waits for enough answers before and after the change, and returns every answer. */
async function during(e: TestEngine, paths: string[], change: () => Promise<void>, done: () => Promise<boolean>): Promise<Answer[]> {
  const load = traffic(e.url, paths);
  await waitFor('traffic before the change', async () => load.count() >= 40);
  await change();
  await waitFor('the change to be served', async () => (await done()) || undefined);
  const after = load.count();
  await waitFor('traffic after the change', async () => load.count() >= after + 40);
  return load.stop();
}

describe('hot reload: every request gets the old or the new version', () => {
  it('serves an edited file as a new version', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1'), 'other.yaml': flow('other', 'v1') });
    const answers = await during(e, ['/greet', '/other'], () => writeFile(join(flowsDir(e), 'greet.yaml'), flow('greet', 'v2')), async () => (await answerOf(e, '/greet')).version === 'v2');
    expect(unexpected(answers, { '/greet': either(v('v1'), v('v2')), '/other': v('v1') })).toEqual([]);
    expect(flipBacks(answers, '/greet', v('v2'))).toEqual([]);
    expect(answers.some(v('v1')) && answers.some(v('v2'))).toBe(true);
    const status = await fileStatus(e, 'greet.yaml');
    expect(status).toMatchObject({ id: 'greet', route: '/hooks/greet', revision: revision(flow('greet', 'v2')), status: 'ok', lastError: null });
    expect(Date.parse(status.loadedAt)).toBeGreaterThan(0);
  });

  it('serves an added file as a new route and keeps the others', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1') });
    expect((await answerOf(e, '/added')).status).toBe(404);
    const answers = await during(e, ['/greet', '/added'], () => writeFile(join(flowsDir(e), 'added.yaml'), flow('added', 'v1')), async () => (await answerOf(e, '/added')).status === 200);
    expect(unexpected(answers, { '/greet': v('v1'), '/added': either(gone, v('v1')) })).toEqual([]);
    expect(flipBacks(answers, '/added', v('v1'))).toEqual([]);
  });

  it('answers 404 for a removed file and keeps the others', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1'), 'doomed.yaml': flow('doomed', 'v1') });
    const answers = await during(e, ['/greet', '/doomed'], () => unlink(join(flowsDir(e), 'doomed.yaml')), async () => (await answerOf(e, '/doomed')).status === 404);
    expect(unexpected(answers, { '/greet': v('v1'), '/doomed': either(v('v1'), gone) })).toEqual([]);
    expect(flipBacks(answers, '/doomed', gone)).toEqual([]);
    expect(await fileStatus(e, 'doomed.yaml')).toBeUndefined();
  });

  it('keeps serving a renamed file under the same id, without a gap', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1') });
    const answers = await during(
      e,
      ['/greet'],
      () => rename(join(flowsDir(e), 'greet.yaml'), join(flowsDir(e), 'renamed.yaml')),
      async () => (await fileStatus(e, 'renamed.yaml'))?.status === 'ok',
    );
    expect(unexpected(answers, { '/greet': v('v1') })).toEqual([]);
    expect(await fileStatus(e, 'greet.yaml')).toBeUndefined();
    expect(await fileStatus(e, 'renamed.yaml')).toMatchObject({ id: 'greet', revision: revision(flow('greet', 'v1')), status: 'ok' });
  });

  it('keeps the last good version when a file is renamed and broken in one change', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1') });
    const answers = await during(
      e,
      ['/greet'],
      async () => {
        await writeFile(join(flowsDir(e), 'moved.yaml'), flow('greet', 'v2').replace('respond:', 'respnod:'));
        await unlink(join(flowsDir(e), 'greet.yaml'));
      },
      async () => (await fileStatus(e, 'moved.yaml'))?.status === 'stale' && !(await fileStatus(e, 'greet.yaml')),
    );
    expect(unexpected(answers, { '/greet': v('v1') })).toEqual([]);
    expect(await fileStatus(e, 'moved.yaml')).toMatchObject({ id: 'greet', route: '/hooks/greet', revision: revision(flow('greet', 'v1')), status: 'stale' });
  });

  it('applies a burst of 200 changed files as a few reloads, never dropping a route', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    let reloads = 0;
    const e = await start(Object.fromEntries(names.map((n) => [`${n}.yaml`, flow(n, 'v1')])), '', { onReload: () => reloads++ });
    const sample = names.filter((_, i) => i % 10 === 0).map((n) => `/${n}`);
    const before = reloads;
    const answers = await during(
      e,
      sample,
      async () => {
        await Promise.all(names.map((n) => writeFile(join(flowsDir(e), `${n}.yaml`), flow(n, 'v2'))));
      },
      async () => {
        const files = (await e.admin('/api/flows')).body as any[];
        return files.length === 200 && files.every((f) => f.status === 'ok' && f.revision === revision(flow(f.id, 'v2')));
      },
    );
    expect(unexpected(answers, Object.fromEntries(sample.map((p) => [p, either(v('v1'), v('v2'))])))).toEqual([]);
    for (const path of sample) expect(flipBacks(answers, path, v('v2'))).toEqual([]);
    for (const n of names) expect(await answerOf(e, `/${n}`)).toEqual({ status: 200, version: 'v2' });
    // debounced: a burst is a handful of reloads, not one per file
    expect(reloads - before).toBeLessThan(20);
  });

  it('keeps the last good version while a file has a syntax error, and serves the fix', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1'), 'other.yaml': flow('other', 'v1') }, '', { captureLogs: true });
    const file = join(flowsDir(e), 'greet.yaml');
    const load = traffic(e.url, ['/greet', '/other']);
    await waitFor('traffic', async () => load.count() >= 40);

    await writeFile(file, 'version: 1\nid: greet\ntrigger: { path: /greet\nmode: sync\n');
    const stale = await waitFor('the error to be reported', async () => {
      const status = await fileStatus(e, 'greet.yaml');
      return status?.status === 'stale' && status;
    });
    expect(stale).toMatchObject({ id: 'greet', route: '/hooks/greet', revision: revision(flow('greet', 'v1')) });
    expect(stale.lastError).toMatch(/greet\.yaml:\d+:\d+ /);
    expect(e.logs.some((line) => line.includes('flow not loaded') && line.includes('greet.yaml') && line.includes('stays live'))).toBe(true);
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    expect(metrics).toContain('hooks_flow_files{status="stale"} 1');
    expect(metrics).toMatch(/hooks_flow_file_errors\{file="[^"]*greet\.yaml",status="stale"\} 1/);
    expect(await answerOf(e, '/greet')).toEqual({ status: 200, version: 'v1' });

    await writeFile(file, flow('greet', 'v2'));
    await waitFor('the fix to be served', async () => (await answerOf(e, '/greet')).version === 'v2');
    const after = load.count();
    await waitFor('traffic after the fix', async () => load.count() >= after + 40);
    const answers = await load.stop();
    expect(unexpected(answers, { '/greet': either(v('v1'), v('v2')), '/other': v('v1') })).toEqual([]);
    expect(await fileStatus(e, 'greet.yaml')).toMatchObject({ status: 'ok', lastError: null, revision: revision(flow('greet', 'v2')) });
    expect(e.logs.some((line) => line.includes('loads again'))).toBe(true);
    expect(await (await fetch(`${e.url}/metrics`)).text()).toContain('hooks_flow_files{status="stale"} 0');
  });

  it('reports a new file that fails, serving nothing for it', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1') });
    await writeFile(join(flowsDir(e), 'broken.yaml'), flow('broken', 'v1').replace('mode: sync', 'mode: sometimes'));
    const status = await waitFor('the failure to be reported', async () => fileStatus(e, 'broken.yaml'));
    expect(status).toMatchObject({ id: 'broken', route: null, revision: null, status: 'failed' });
    expect(status.lastError).toContain('mode');
    expect((await answerOf(e, '/broken')).status).toBe(404);
    expect(await answerOf(e, '/greet')).toEqual({ status: 200, version: 'v1' });
  });

  it('leaves a flow id with its live owner when another file claims it', async () => {
    // the newcomer sorts first: the live owner wins, not path order
    const e = await start({ 'z-owner.yaml': flow('shared', 'v1', '/shared') });
    const answers = await during(
      e,
      ['/shared', '/claim'],
      () => writeFile(join(flowsDir(e), 'a-claim.yaml'), flow('shared', 'v2', '/claim')),
      async () => (await fileStatus(e, 'a-claim.yaml'))?.status === 'failed',
    );
    expect(unexpected(answers, { '/shared': v('v1'), '/claim': gone })).toEqual([]);
    const claim = await fileStatus(e, 'a-claim.yaml');
    expect(claim.lastError).toMatch(/flow id "shared" is already used by .*z-owner\.yaml/);
    expect(await fileStatus(e, 'z-owner.yaml')).toMatchObject({ id: 'shared', status: 'ok' });

    // once the owner is gone, the other file takes the id over
    await unlink(join(flowsDir(e), 'z-owner.yaml'));
    await waitFor('the claim to be served', async () => (await answerOf(e, '/claim')).version === 'v2');
    expect((await answerOf(e, '/shared')).status).toBe(404);
    expect(await fileStatus(e, 'a-claim.yaml')).toMatchObject({ id: 'shared', status: 'ok', lastError: null });
  });

  it('follows a Kubernetes ConfigMap update (..data symlink swap inside the directory)', async () => {
    const e = await start({}, '', {
      async setup(dir) {
        const flows = join(dir, 'flows');
        await mkdir(join(flows, '..2024_01_01_v1'), { recursive: true });
        await writeFile(join(flows, '..2024_01_01_v1', 'a.yaml'), flow('a', 'v1'));
        await writeFile(join(flows, '..2024_01_01_v1', 'b.yaml'), flow('b', 'v1'));
        await symlink('..2024_01_01_v1', join(flows, '..data'));
        await symlink('..data/a.yaml', join(flows, 'a.yaml'));
        await symlink('..data/b.yaml', join(flows, 'b.yaml'));
      },
    });
    const flows = flowsDir(e);
    expect(await answerOf(e, '/a')).toEqual({ status: 200, version: 'v1' });
    // what the kubelet does: write a new timestamped folder, swap ..data in one rename, fix the links, drop the old
    const answers = await during(
      e,
      ['/a', '/b', '/c'],
      async () => {
        await mkdir(join(flows, '..2024_01_02_v2'));
        await writeFile(join(flows, '..2024_01_02_v2', 'a.yaml'), flow('a', 'v2'));
        await writeFile(join(flows, '..2024_01_02_v2', 'c.yaml'), flow('c', 'v2'));
        await symlink('..2024_01_02_v2', join(flows, '..data_tmp'));
        await rename(join(flows, '..data_tmp'), join(flows, '..data'));
        await symlink('..data/c.yaml', join(flows, 'c.yaml'));
        await unlink(join(flows, 'b.yaml'));
        await rm(join(flows, '..2024_01_01_v1'), { recursive: true });
      },
      async () => (await answerOf(e, '/a')).version === 'v2' && (await answerOf(e, '/c')).version === 'v2' && (await answerOf(e, '/b')).status === 404,
    );
    expect(unexpected(answers, { '/a': either(v('v1'), v('v2')), '/b': either(v('v1'), gone), '/c': either(gone, v('v2')) })).toEqual([]);
    expect(flipBacks(answers, '/a', v('v2'))).toEqual([]);
  });

  it('follows the flows directory itself being a symlink swapped to another release', async () => {
    const e = await start({}, 'flows: { dir: current }\n', {
      async setup(dir) {
        await mkdir(join(dir, 'releases/r1'), { recursive: true });
        await writeFile(join(dir, 'releases/r1/a.yaml'), flow('a', 'v1'));
        await writeFile(join(dir, 'releases/r1/b.yaml'), flow('b', 'v1'));
        await symlink(join(dir, 'releases/r1'), join(dir, 'current'));
      },
    });
    const answers = await during(
      e,
      ['/a', '/b'],
      async () => {
        await mkdir(join(e.dir, 'releases/r2'));
        await writeFile(join(e.dir, 'releases/r2/a.yaml'), flow('a', 'v2'));
        await writeFile(join(e.dir, 'releases/r2/b.yaml'), flow('b', 'v2'));
        await symlink(join(e.dir, 'releases/r2'), join(e.dir, 'current.tmp'));
        await rename(join(e.dir, 'current.tmp'), join(e.dir, 'current'));
      },
      async () => (await answerOf(e, '/a')).version === 'v2' && (await answerOf(e, '/b')).version === 'v2',
    );
    expect(unexpected(answers, { '/a': either(v('v1'), v('v2')), '/b': either(v('v1'), v('v2')) })).toEqual([]);
    // the watcher now follows the new release: an edit there is picked up
    await writeFile(join(e.dir, 'releases/r2/a.yaml'), flow('a', 'v3'));
    await waitFor('an edit in the new release', async () => (await answerOf(e, '/a')).version === 'v3');
  });
});

/** A server whose /hold requests wait until released: keeps a step, and so an execution, in flight. */
async function holdServer(): Promise<{ url: string; held: () => number; release(): void; close(): Promise<void> }> {
  let waiting: (() => void)[] = [];
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    waiting.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hold`,
    held: () => count,
    release() {
      for (const answer of waiting.splice(0)) answer();
    },
    close: () => {
      for (const answer of waiting.splice(0)) answer();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('hot reload: work in flight keeps its version', () => {
  it('finishes a sync request on the version it started on', async () => {
    const hold = await holdServer();
    extra.push(hold.close);
    const slow = (version: string) => `version: 1
id: slow
trigger: { path: /slow }
mode: sync
timeout: 20s
steps:
  - id: wait
    http: { url: "${hold.url}", timeout: 20s }
  - id: answer
    respond: { status: 200, body: { version: ${version} } }
`;
    const e = await start({ 'slow.yaml': slow('v1') }, 'http: { allowPrivateNetworks: true }\n');
    const inFlight = answerOf(e, '/slow');
    await waitFor('the request to reach its http step', async () => hold.held() === 1);
    await writeFile(join(flowsDir(e), 'slow.yaml'), slow('v2'));
    await waitFor('v2 to go live', async () => (await fileStatus(e, 'slow.yaml'))?.revision === revision(slow('v2')));
    const later = answerOf(e, '/slow');
    await waitFor('the second request to reach its http step', async () => hold.held() === 2);
    hold.release();
    expect(await inFlight).toEqual({ status: 200, version: 'v1' });
    expect(await later).toEqual({ status: 200, version: 'v2' });
  });

  it('runs a queued async execution on the revision it was accepted under, even after its file is changed or removed', async () => {
    const hold = await holdServer();
    extra.push(hold.close);
    const marked = (id: string, mark: string) => `version: 1
id: ${id}
trigger: { path: /${id} }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: mark
    set: { mark: ${mark} }
`;
    const block = `version: 1
id: block
trigger: { path: /block }
steps:
  - id: wait
    http: { url: "${hold.url}", timeout: 20s }
`;
    // one worker slot, held by the blocker: everything accepted after it waits
    const e = await start({ 'block.yaml': block, 'later.yaml': marked('later', 'accepted-under-v1'), 'gone.yaml': marked('gone', 'gone-v1') }, 'http: { allowPrivateNetworks: true }\nqueue: { concurrency: 1 }\n');
    expect((await e.request('/hooks/block', { json: {} })).status).toBe(200);
    await waitFor('the blocker to hold the worker', async () => hold.held() === 1);
    const first = (await e.request('/hooks/later', { json: {} })).body as { execution: string };
    const doomed = (await e.request('/hooks/gone', { json: {} })).body as { execution: string };

    await writeFile(join(flowsDir(e), 'later.yaml'), marked('later', 'accepted-under-v2'));
    await unlink(join(flowsDir(e), 'gone.yaml'));
    await waitFor('the change to go live', async () => (await fileStatus(e, 'later.yaml'))?.revision === revision(marked('later', 'accepted-under-v2')) && (await e.request('/hooks/gone', { json: {} })).status === 404);
    const second = (await e.request('/hooks/later', { json: {} })).body as { execution: string };
    // not run yet: the first waits for the slot claimed by this process (it may hold one per slot), the next is queued
    expect((await e.admin(`/api/executions/${first.execution}`)).body).toMatchObject({ status: 'running', finishedAt: null, journal: [] });
    expect((await e.admin(`/api/executions/${doomed.execution}`)).body).toMatchObject({ status: 'queued', journal: [] });
    hold.release();

    const finished = async (id: string) => waitFor(`execution ${id}`, async () => {
      const { body } = await e.admin(`/api/executions/${id}`);
      return body.status !== 'queued' && body.status !== 'running' && body;
    });
    const one = await finished(first.execution);
    expect(one).toMatchObject({ status: 'completed', revision: revision(marked('later', 'accepted-under-v1')) });
    expect(one.journal[0].vars).toEqual({ mark: 'accepted-under-v1' });
    const two = await finished(second.execution);
    expect(two).toMatchObject({ status: 'completed', revision: revision(marked('later', 'accepted-under-v2')) });
    expect(two.journal[0].vars).toEqual({ mark: 'accepted-under-v2' });
    const three = await finished(doomed.execution);
    expect(three).toMatchObject({ status: 'completed', revision: revision(marked('gone', 'gone-v1')) });
    expect(three.journal[0].vars).toEqual({ mark: 'gone-v1' });
  });
});

describe('hot reload: switches and the config file', () => {
  it('does not watch with flows.watch: false, and reloads on request (what SIGHUP does)', async () => {
    const e = await start({ 'greet.yaml': flow('greet', 'v1') }, 'flows: { watch: false }\n');
    expect(e.watching).toBe(false);
    await writeFile(join(flowsDir(e), 'greet.yaml'), flow('greet', 'v2'));
    await sleep(500);
    expect(await answerOf(e, '/greet')).toEqual({ status: 200, version: 'v1' });
    await e.reload();
    expect(await answerOf(e, '/greet')).toEqual({ status: 200, version: 'v2' });
  });

  it('applies channel changes from hooks.config.yaml live, and says when a change needs a restart', async () => {
    const pager = `version: 1
id: page
trigger: { path: /page }
mode: sync
steps:
  - id: send
    send: { channel: pager, to: "+15005550006", text: hi }
  - id: answer
    respond: { status: 200, body: { sent: "{{ steps.send.ok }}" } }
`;
    const e = await start({ 'page.yaml': pager }, '', { captureLogs: true });
    expect(await fileStatus(e, 'page.yaml')).toMatchObject({ status: 'failed' });
    expect((await fileStatus(e, 'page.yaml')).lastError).toContain('unknown channel "pager"');
    const configFile = join(e.dir, 'hooks.config.yaml');
    const original = await readFile(configFile, 'utf8');
    // an editor's atomic save: a new file renamed over the old one
    await writeFile(join(e.dir, 'config.tmp'), `${original}channels: { pager: { driver: outbox } }\n`);
    await rename(join(e.dir, 'config.tmp'), configFile);
    await waitFor('the new channel and the flow using it', async () => (await e.request('/hooks/page', { json: {} })).status === 200);
    expect((await e.request('/hooks/page', { json: {} })).body).toEqual({ sent: true });
    expect(await fileStatus(e, 'page.yaml')).toMatchObject({ status: 'ok' });

    await writeFile(configFile, `${original}channels: { pager: { driver: outbox } }\nserver: { port: 9999 }\n`);
    await waitFor('the restart notice', async () => e.logs.some((line) => line.includes('server changed; restart the engine')));
    expect((await e.request('/hooks/page', { json: {} })).status).toBe(200);

    // a broken config changes nothing
    await writeFile(configFile, `${original}channels: { pager: { driver: carrier-pigeon } }\n`);
    await waitFor('the config error', async () => e.logs.some((line) => line.includes('config not reloaded')));
    expect((await e.request('/hooks/page', { json: {} })).body).toEqual({ sent: true });
  });
});

describe('hooks serve --no-watch', () => {
  it('ignores file changes and reloads on SIGHUP', { timeout: 60_000 }, async () => {
    const dir = await scratchDir('hooks-serve-');
    extra.push(dir.remove);
    await dir.write('flows/greet.yaml', flow('greet', 'v1'));
    await dir.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }\nadmin: { token: ${ADMIN_TOKEN} }\n`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawnServe(join(dir.dir, 'hooks.config.yaml'), port, { args: ['--no-watch'] });
    const exited = once(child, 'exit');
    extra.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const version = async () => {
      const res = await fetch(`${url}/hooks/greet`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return ((await res.json()) as { version: string }).version;
    };
    await waitFor('the engine to serve', async () => (await version()) === 'v1', 30_000);
    await dir.write('flows/greet.yaml', flow('greet', 'v2'));
    await sleep(500);
    expect(await version()).toBe('v1');
    child.kill('SIGHUP');
    await waitFor('the reload', async () => (await version()) === 'v2');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
