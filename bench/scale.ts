/**
 * `npm run bench:scale`: start-up and memory at scale, with the real `hooks serve` process (engine/cli/hooks.mjs), a
 * temporary config and SQLite in the temporary directory.
 * - time to serve with 1, 100 and 1,000 flows: from spawning the process until GET /readyz answers 200 (ROUNDS
 *   starts each, after one discarded warm-up start that compiles the engine's bundle, engine/cli/bundle.mjs);
 * - memory: RSS once ready, and after a short load (LOAD_SECONDS of autocannon on the benchmark's sync flow), with
 *   the peak (VmHWM) and the server's CPU time per request during the load; 1,000 flows also without the file
 *   watcher (--no-watch). NODE_FLAGS (e.g. "--max-semi-space-size=4") are given to every server's node;
 * - validation time of 1,000 flows: bench/validate-flows.ts, run as its own process (ROUNDS times).
 * The flows are the benchmark's sync flow (the one loaded, so no request leaves the machine) plus N-1 flows from
 * bench/validate-flows.ts's generator. Servers are pinned to core 0, this process and autocannon to core 1 (where
 * there are two).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SYNC_FLOW, PAYLOAD } from './flows.ts';
import { generatedFlow } from './validate-flows.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 5);
const SIZES = (process.env.FLOWS ?? '1,100,1000').split(',').map(Number);
const NODE_FLAGS = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const root = fileURLToPath(new URL('../', import.meta.url));
const pinned = cpus().length >= 2;

function pinnedNode(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const command = pinned ? 'taskset' : process.execPath;
  const argv = pinned ? ['-c', '0', process.execPath, ...args] : args;
  return spawn(command, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** user + system CPU time of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, after the command name) */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** RSS once ready, then LOAD_SECONDS of load on the sync flow: RSS, peak, requests/s and the server's CPU per request */
async function memoryRow(server: ChildProcess, port: number, label: string): Promise<string> {
  const ready = memoryMb(server.pid!);
  const cpu = cpuMs(server.pid!);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/hooks/bench-sync`, method: 'POST', headers: { 'content-type': 'application/json' }, body: PAYLOAD, connections: 32, duration: LOAD_SECONDS });
  const perRequest = ((cpuMs(server.pid!) - cpu) * 1000) / result.requests.total;
  const after = memoryMb(server.pid!);
  const bad = result.non2xx + result.errors + result.timeouts;
  return `${label} | ${ready.rss.toFixed(0)} | ${after.rss.toFixed(0)} | ${after.peak.toFixed(0)} | ${Math.round(result.requests.average)}${bad ? ` (${bad} errors/non-2xx)` : ''} | ${perRequest.toFixed(0)} |`;
}

async function flowDir(count: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-scale-'));
  await mkdir(join(dir, 'flows'));
  await writeFile(join(dir, 'flows/bench-sync.yaml'), SYNC_FLOW);
  await Promise.all(Array.from({ length: count - 1 }, (_, i) => writeFile(join(dir, `flows/flow-${i}.yaml`), generatedFlow(i))));
  return dir;
}

interface Started { server: ChildProcess; port: number; ms: number; output: () => string }
let nextPort = 19300;

/** spawns `hooks serve` on a fresh database and waits for /readyz to answer 200 with every flow loaded */
async function serve(dir: string, count: number, extra: string[] = []): Promise<Started> {
  await rm(join(dir, 'data'), { recursive: true, force: true });
  await writeFile(join(dir, 'hooks.config.yaml'), 'storage: { url: sqlite://data/hooks.db }\n');
  const port = ++nextPort;
  let log = '';
  const started = performance.now();
  const server = pinnedNode([...NODE_FLAGS, join(root, 'engine/cli/hooks.mjs'), 'serve', '--config', join(dir, 'hooks.config.yaml'), '--port', String(port), '--host', '127.0.0.1', ...extra]);
  for (const stream of [server.stdout!, server.stderr!]) stream.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const deadline = started + 120_000;
  while (performance.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`hooks serve exited (${server.exitCode}):\n${log}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      async (r) => (r.status === 200 ? ((await r.json()) as { flows: number }) : undefined),
      () => undefined,
    );
    if (ready) {
      const ms = performance.now() - started;
      if (ready.flows !== count) throw new Error(`/readyz reports ${ready.flows} flows, expected ${count}:\n${log}`);
      return { server, port, ms, output: () => log };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  server.kill('SIGKILL');
  throw new Error(`hooks serve with ${count} flows was not ready within 120 s:\n${log}`);
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function runValidation(): Promise<string> {
  return new Promise((resolve, reject) => {
    // FLOWS means the flow counts here, the number to validate there
    const child = pinnedNode(['--import', 'tsx', join(root, 'bench/validate-flows.ts')], { ...process.env, FLOWS: '1000' });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').at(-1)!) : reject(new Error(out))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => (ms / 1000).toFixed(2);

// warm-up: one discarded start, so every measured start finds the compiled bundle, as a restarted server would
{
  const dir = await flowDir(1);
  try {
    await stop((await serve(dir, 1)).server);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const startRows: string[] = [];
const memoryRows: string[] = [];
for (const count of SIZES) {
  const dir = await flowDir(count);
  try {
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { server, port, ms } = await serve(dir, count);
      times.push(ms);
      if (round === ROUNDS - 1) memoryRows.push(await memoryRow(server, port, `| ${count} | watch on`));
      await stop(server);
    }
    startRows.push(`| ${count} | ${fmt(median(times))} | ${fmt(Math.min(...times))} | ${times.map(fmt).join(', ')} |`);
    if (count === Math.max(...SIZES)) {
      const { server, port } = await serve(dir, count, ['--no-watch']);
      memoryRows.push(await memoryRow(server, port, `| ${count} | --no-watch`));
      await stop(server);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const validations: string[] = [];
for (let round = 0; round < ROUNDS; round++) validations.push(await runValidation());

const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\n${pinned ? 'server on core 0, this process and autocannon on core 1' : 'unpinned (one core)'}; node ${process.version}${NODE_FLAGS.length ? ` ${NODE_FLAGS.join(' ')}` : ''}; ${ROUNDS} rounds; load average ${loadAverage} at the end (${cpus().length} cores)\n`);
console.log('Time to serve (process start until /readyz answers 200), seconds:\n');
console.log('| flows | median | fastest | every round |');
console.log('| ---: | ---: | ---: | --- |');
for (const row of startRows) console.log(row);
console.log(`\nMemory (RSS MB; load: ${LOAD_SECONDS} s of autocannon, 32 connections, on the sync flow):\n`);
console.log('| flows | watcher | RSS once ready | RSS after load | peak RSS | req/s during load | server CPU µs/request |');
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of memoryRows) console.log(row);
console.log('\nValidation of 1,000 generated flows (bench/validate-flows.ts, core 0):\n');
for (const line of validations) console.log(`- ${line}`);
