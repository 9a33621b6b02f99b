/**
 * Hot reload speed: the time from writing a flow file to the engine serving the new answer (target: under 200 ms),
 * in a small directory and in one of 1,000 flows, and how long reloads of a 1,000-flow directory take (start-up,
 * one file changed, every file changed, SIGHUP's full recompile). Real engine, real files, real HTTP.
 * Run: `taskset -c 0 node --import tsx bench/reload.ts` (ROUNDS=20, FLOWS=1000, DEBOUNCE_MS=50; POLL_GAP_MS=0: the
 * client asks back to back, on the same core as the engine).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../engine/config/load.ts';
import { startEngine, type Engine } from '../engine/server/engine.ts';
import type { ReloadResult } from '../engine/flow/reload.ts';
import { generatedFlow } from './validate-flows.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const FLOWS = Number(process.env.FLOWS ?? 1000);
const DEBOUNCE_MS = Number(process.env.DEBOUNCE_MS ?? 50);

/** the flow whose answer is watched: its version changes each round */
function marker(version: number): string {
  return `version: 1
id: marker
trigger: { path: /marker }
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { version: ${version} } }
`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];
const ms = (value: number) => `${value.toFixed(0)} ms`;

/** when each reload was applied (performance.now()) */
const appliedAt: number[] = [];

async function withEngine<T>(files: Record<string, string>, run: (engine: Engine, dir: string, reloads: ReloadResult[]) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-reload-'));
  const reloads: ReloadResult[] = [];
  try {
    await mkdir(join(dir, 'flows'));
    await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(dir, 'flows', name), text)));
    await writeFile(join(dir, 'hooks.config.yaml'), 'storage: { url: sqlite://data/hooks.db }\n');
    const loaded = await loadConfig(join(dir, 'hooks.config.yaml'), {}, dir);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const engine = await startEngine(loaded.config, { port: 0, host: '127.0.0.1', logger: false, env: {}, debounceMs: DEBOUNCE_MS, onReload: (r) => reloads.push(r) && appliedAt.push(performance.now()) });
    try {
      return await run(engine, dir, reloads);
    } finally {
      await engine.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes a new marker version and asks for it back to back until it is served; returns the elapsed times. */
async function writeToServed(engine: Engine, dir: string): Promise<{ served: number[]; swapped: number[] }> {
  const times: number[] = [];
  const swapped: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await sleep(150 + Math.random() * 50); // let the previous reload settle, and do not line up with timers
    const started = performance.now();
    await writeFile(join(dir, 'flows', 'marker.yaml'), marker(round + 1));
    for (;;) {
      const res = await fetch(`${engine.url}/hooks/marker`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const body = (await res.json()) as { version?: number };
      if (res.status !== 200) throw new Error(`the marker answered ${res.status}`);
      if (body.version === round + 1) break;
      await sleep(Number(process.env.POLL_GAP_MS ?? 0));
      if (performance.now() - started > 10_000) throw new Error('the new version was not served within 10 s');
    }
    times.push(performance.now() - started);
    swapped.push(appliedAt[appliedAt.length - 1] - started);
  }
  return { served: times, swapped };
}

const line = (label: string, times: number[]) => console.log(`${label.padEnd(44)} p50 ${ms(pct(times, 50))}, p95 ${ms(pct(times, 95))}, max ${ms(Math.max(...times))} (${times.length} writes)`);

console.log(`debounce ${DEBOUNCE_MS} ms, ${ROUNDS} rounds`);
await withEngine({ 'marker.yaml': marker(1), ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`flow-${i}.yaml`, generatedFlow(i)])) }, async (engine, dir) => {
  const { served, swapped } = await writeToServed(engine, dir);
  line('write -> new table swapped in, 10 flows', swapped);
  line('write -> new answer served, 10 flows', served);
});

const files = { 'marker.yaml': marker(1), ...Object.fromEntries(Array.from({ length: FLOWS - 1 }, (_, i) => [`flow-${i}.yaml`, generatedFlow(i)])) };
await withEngine(files, async (engine, dir, reloads) => {
  const startup = reloads[0];
  console.log(`${`start-up load, ${FLOWS} flows`.padEnd(44)} ${ms(startup.ms)} (${startup.compiled} compiled, ${startup.flows.length} live)`);
  // files written in the last 2 s are read again on every reload (their timestamps cannot be trusted yet); a deployed
  // directory is older than that
  await sleep(2_500);
  await engine.reload();
  reloads.length = 1;
  const { served, swapped } = await writeToServed(engine, dir);
  line(`write -> new table swapped in, ${FLOWS} flows`, swapped);
  line(`write -> new answer served, ${FLOWS} flows`, served);
  const single = reloads.slice(1).map((r) => r.ms);
  console.log(`${`reload, 1 of ${FLOWS} files changed`.padEnd(44)} p50 ${ms(pct(single, 50))}, max ${ms(Math.max(...single))}`);

  await sleep(300);
  const before = reloads.length;
  const started = performance.now();
  await Promise.all(Array.from({ length: FLOWS - 1 }, (_, i) => writeFile(join(dir, 'flows', `flow-${i}.yaml`), generatedFlow(i, 2))));
  while (!(engine.flows.byId(`flow-${FLOWS - 2}`)?.description ?? '').includes('edition 2') || engine.flows.list().some((f) => f.id !== 'marker' && !f.description?.includes('edition 2'))) await sleep(5);
  const burst = reloads.slice(before);
  console.log(`${`every file changed (${FLOWS - 1} writes)`.padEnd(44)} ${ms(performance.now() - started)} to all served, ${burst.length} reload(s): ${burst.map((r) => `${ms(r.ms)}/${r.compiled} compiled`).join(', ')}`);

  await sleep(300);
  const full = reloads.length;
  await engine.reload();
  console.log(`${`SIGHUP full recompile, ${FLOWS} flows`.padEnd(44)} ${ms(reloads[full].ms)} (${reloads[full].compiled} compiled)`);
  console.log(`heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MB, revisions kept ${engine.flows.revisionsKept}`);
});
