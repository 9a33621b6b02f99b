import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { symlink, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { loadConfig } from '../engine/config/load.ts';
import { loadFlowFile } from '../engine/flow/load.ts';
import { formatProblem } from '../engine/schema/problem.ts';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';
import { runHooks } from './support/cli.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A sync flow that answers 200 with its id; `extra` goes into its trigger. */
function flow(id: string, extra = ''): string {
  return `version: 1\nid: ${id}\ntrigger:\n  path: /${id}\n${extra}mode: sync\nsteps:\n  - id: answer\n    respond: { status: 200, body: { flow: ${id} } }\n`;
}

/** A sync flow of `count` set steps (each with its own expression, so none is compiled already), then a respond. */
function manySteps(id: string, count: number, last = '    respond: { status: 200, body: { total: "{{ vars.x0 }}" } }'): string {
  const lines = ['version: 1', `id: ${id}`, `trigger: { path: /${id} }`, 'mode: sync', 'steps:'];
  for (let i = 0; i < count; i++) lines.push(`  - id: s${i}`, `    set: { x${i}: "{{ $number(vars.n) + ${i} }}" }`);
  lines.push('  - id: answer', last);
  return `${lines.join('\n')}\n`;
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** How long a GET takes, on a connection of its own (a kept-alive one could be closed by the server as it is reused). */
function timedGet(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A flow whose trigger names `sample` and reads a path from it (line 5, column 3: the `sample:` key). */
const sampled = (id: string, sample: string) => flow(id, `  sample: ${sample}\n  params:\n    name: body.name\n`);

const MARKER = 'hostile-sample-content-7d3f';

/** Each sample the loader must refuse: what to lay out in the engine's folder, and why it says it refused it. */
const HOSTILE: { name: string; sample: string; lay(dir: string): Promise<void>; reason(dir: string): string }[] = [
  {
    name: 'a FIFO',
    sample: 'samples/pipe.json',
    lay: async (dir) => void execFileSync('mkfifo', [join(dir, 'flows', 'samples', 'pipe.json')]),
    reason: () => 'it is a FIFO: a sample is a regular file',
  },
  {
    name: 'a symlink to /proc/self/environ',
    sample: 'samples/env.json',
    lay: (dir) => symlink('/proc/self/environ', join(dir, 'flows', 'samples', 'env.json')),
    reason: (dir) => `it is outside ${dir}/flows: a sample is a file in the flows folder`,
  },
  {
    name: 'a path with .. out of the folder',
    sample: '../outside.json',
    lay: (dir) => writeFile(join(dir, 'outside.json'), JSON.stringify({ name: MARKER })),
    reason: (dir) => `it is outside ${dir}/flows: a sample is a file in the flows folder`,
  },
  {
    name: 'an absolute path',
    sample: '/proc/self/environ',
    lay: async () => undefined,
    reason: (dir) => `it is outside ${dir}/flows: a sample is a file in the flows folder`,
  },
  {
    name: 'a file over 1 MB',
    sample: 'samples/large.json',
    lay: (dir) => writeFile(join(dir, 'flows', 'samples', 'large.json'), JSON.stringify({ name: MARKER, pad: 'x'.repeat(1024 * 1024) })),
    reason: () => 'it is larger than 1 MB, the limit for a sample',
  },
];

describe('trigger.sample reads only a regular file of at most 1 MB inside the flows folder', () => {
  let engine: TestEngine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  for (const hostile of HOSTILE) {
    it(`refuses ${hostile.name} at the sample: key, and the reload goes on`, async () => {
      engine = await startTestEngine({ 'a.yaml': flow('a'), 'samples/.keep': '' }, '', {}, { captureLogs: true });
      const flows = join(engine.dir, 'flows');
      await hostile.lay(engine.dir);
      await writeFile(join(flows, 'bad.yaml'), sampled('bad', hostile.sample));
      await writeFile(join(flows, 'b.yaml'), flow('b'));
      const written = Date.now();
      // the flow added alongside is served as after any reload: the sample does not hold the reload up
      await waitFor('the flow added alongside', async () => (await engine!.request('/hooks/b', { method: 'POST', json: {} })).status === 200, 5_000);
      expect(Date.now() - written).toBeLessThan(5_000);
      const error = `${flows}/bad.yaml:5:3 trigger.sample: sample "${hostile.sample}" cannot be read: ${hostile.reason(engine.dir)}`;
      const files = (await engine.admin('/api/flows')).body as { file: string; status: string; lastError: string | null }[];
      expect(files.find((f) => f.file.endsWith('/bad.yaml'))).toMatchObject({ status: 'failed', lastError: error });
      expect(engine.logs.some((line) => JSON.parse(line).msg === `flow not loaded: ${error}`)).toBe(true);
      // never a word of what the file holds
      const said = engine.logs.join('\n');
      expect(said).not.toContain(MARKER);
      expect(said).not.toContain(`PATH=${process.env.PATH}`);
      expect((await engine.request('/hooks/a', { method: 'POST', json: {} })).status).toBe(200);
    });
  }

  it('reads a sample shared from a subfolder of the flows folder, through a link inside it', async () => {
    const dir = await scratchDir();
    cleanups.push(dir.remove);
    await dir.write('flows/samples/order.json', JSON.stringify({ name: 'Ann' }));
    await symlink(join(dir.dir, 'flows', 'samples', 'order.json'), join(dir.dir, 'flows', 'samples', 'linked.json'));
    const file = await dir.write('flows/sub/shared.yaml', sampled('shared', '../samples/linked.json'));
    const loaded = await loadConfig(undefined, {}, dir.dir);
    if (!loaded.ok) throw new Error('defaults must load');
    const result = await loadFlowFile(file, 'flows/sub/shared.yaml', loaded.config, {});
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([]);
    const typo = await dir.write('flows/sub/typo.yaml', flow('typo', '  sample: ../samples/linked.json\n  params:\n    name: body.nmae\n'));
    const failed = await loadFlowFile(typo, 'flows/sub/typo.yaml', loaded.config, {});
    expect(failed.ok ? [] : failed.problems.map(formatProblem)).toEqual(['flows/sub/typo.yaml:7:11 trigger.params.name: "body.nmae" finds nothing in sample "../samples/linked.json": check the path']);
  });
});

describe('a 10,000-step flow file gives its errors where they are written', () => {
  it.each([
    ['a JSONata error in the last step', manySteps('big', 10_000, '    set: { y: "{{ $sum( }}" }'), 'big.yaml:20007:15 steps[10000].set.y: expression "$sum(" in template does not compile: Expected ")" before end of expression'],
    ['a duplicate key in a step near the end', manySteps('big', 10_000, '    set: { y: 1 }\n    set: { z: 2 }'), 'big.yaml:20008:5 Map keys must be unique: a key may appear only once in a mapping; remove or rename one'],
    ['a step id used twice', manySteps('big', 10_000, '    set: { y: 1 }\n  - id: s9998\n    stop: true'), 'big.yaml:20008:9 steps[10001].id: step id "s9998" is already used by another step; step ids are unique in a flow'],
  ])('%s', async (_name, text, expected) => {
    const dir = await scratchDir();
    cleanups.push(dir.remove);
    const file = await dir.write('big.yaml', text);
    const loaded = await loadConfig(undefined, {}, dir.dir);
    if (!loaded.ok) throw new Error('defaults must load');
    const result = await loadFlowFile(file, 'big.yaml', loaded.config, {});
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([expected]);
  }, 60_000);
});

describe('a 10,000-step flow file loads without stalling the engine', () => {
  it('keeps /healthz answering quickly while a 10,000-step file is added, then serves it', async () => {
    const dir = await scratchDir();
    cleanups.push(dir.remove);
    await dir.write('flows/small.yaml', flow('small'));
    await dir.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }\nadmin: { token: ${ADMIN_TOKEN} }\n`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // a process of its own: this test's clock is not the engine's, so a blocked engine shows as a slow answer
    const child = spawnServe(join(dir.dir, 'hooks.config.yaml'), port);
    const exited = once(child, 'exit');
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitReady(url, 30_000);

    const health: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        health.push(await timedGet(`${url}/healthz`));
        await sleep(5);
      }
    })();
    await waitFor('a few /healthz answers', async () => health.length >= 20);

    const written = performance.now();
    await writeFile(join(dir.dir, 'flows', 'big.yaml'), manySteps('big', 10_000));
    // served once its route exists: a GET gets 405 (the flow takes POST) without running the 10,000 steps, which
    // would hold the engine on its own
    await waitFor('the 10,000-step flow to be served', async () => (await fetch(`${url}/hooks/big`)).status === 405, 45_000);
    const servedAfter = performance.now() - written;
    probing = false;
    await probe;
    const res = await fetch(`${url}/hooks/big`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n": 1}' });
    const answer = await res.json();
    const during = health.slice(20);
    const worst = Math.max(...during);
    const sorted = [...during].sort((a, b) => a - b);
    console.log(`10,000 steps served ${servedAfter.toFixed(0)} ms after the write; /healthz over ${during.length} answers: median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms, p90 ${sorted[Math.floor(sorted.length * 0.9)].toFixed(0)} ms, worst ${worst.toFixed(0)} ms`);
    expect(answer).toEqual({ total: 1 });
    expect(during.length).toBeGreaterThan(10);
    expect(worst).toBeLessThan(500);

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
  }, 90_000);
});

describe('a test case\'s sample, read by hooks test', () => {
  it('is confined like trigger.sample: a link out of the folder fails its test without quoting the file', async () => {
    const dir = await scratchDir('hooks-test-sample-');
    try {
      await dir.write('flows/samples/order.json', '{"order":"o-1"}');
      await dir.write(
        'flows/echo.yaml',
        `version: 1
id: echo
trigger: { path: /echo }
mode: sync
steps:
  - id: answer
    respond: { body: { order: "{{ body.order }}" } }
tests:
  - name: from a sample beside it
    request: { sample: samples/order.json }
    expect: { response: { status: 200, body: { order: o-1 } } }
  - name: from a link out of the folder
    request: { sample: samples/environ.json }
    expect: { response: { status: 200 } }
`,
      );
      await symlink('/proc/self/environ', join(dir.dir, 'flows/samples/environ.json'));
      const result = await runHooks(['test', 'flows'], { cwd: dir.dir, env: { SECRET_MARKER: 'do-not-print-9f2c' } });
      expect(result.code).toBe(1);
      expect(result.out).toContain('✓ echo › from a sample beside it');
      expect(result.out).toContain('sample "samples/environ.json" cannot be read');
      expect(result.out + result.err).not.toContain('do-not-print-9f2c');
    } finally {
      await dir.remove();
    }
  });
});
