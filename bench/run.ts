/**
 * `npm run bench`: the engine against the bare-server ceiling, one after another on this machine with the same load
 * generator (autocannon), payload and logic. Servers run pinned to core 0, the load generator to core 1 (where
 * there are two). Prints one table; see README "Performance".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SYNC_FLOW, ASYNC_FLOW, PAYLOAD } from './flows.ts';
import { openStore } from '../engine/store/open.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const root = fileURLToPath(new URL('../', import.meta.url));
// the machine's cores, not this process's affinity (the load generator itself may be pinned)
const pinned = cpus().length >= 2;

interface Target {
  name: string;
  path: string;
  start(port: number, dir: string): ChildProcess;
  /** after the run: how many requests the server committed, to check every 2xx answer was stored */
  committed?(dir: string): Promise<number>;
}

function node(args: string[], env: Record<string, string> = {}): ChildProcess {
  const command = pinned ? 'taskset' : process.execPath;
  const argv = pinned ? ['-c', '0', process.execPath, ...args] : args;
  return spawn(command, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
}

const engine = (mode: 'sync' | 'async'): Target => ({
  name: `engine, ${mode} flow, webhook log on`,
  path: `/hooks/bench-${mode}`,
  start: (port, dir) => node([join(root, 'engine/cli/hooks.mjs'), 'serve', '--config', join(dir, 'hooks.config.yaml'), '--port', String(port), '--host', '127.0.0.1']),
  async committed(dir) {
    const store = await openStore(`sqlite://${join(dir, 'data/hooks.db')}`);
    try {
      const entries = await store.listLogs({ flowId: `bench-${mode}`, limit: 10_000_000 });
      return entries.filter((e) => e.status < 300).length;
    } finally {
      await store.close();
    }
  },
});

const TARGETS: Target[] = [
  { name: 'bare Fastify + JSONata (ceiling)', path: '/bench', start: (port) => node(['--import', 'tsx', join(root, 'bench/servers/bare.ts')], { PORT: String(port) }) },
  engine('sync'),
  engine('async'),
];

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await fetch(url).then((r) => r.status < 500, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not start`);
}

function peakMemoryMb(pid: number): number {
  // the server is the child of taskset (exec replaces it, same pid) or the node process itself
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function load(url: string, extra: Partial<autocannon.Options> = {}): Promise<autocannon.Result> {
  return autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: PAYLOAD, connections: CONNECTIONS, duration: DURATION, ...extra });
}

const rows: { name: string; rps: number; p50: number; p99: number; p99at1k: number; mem: number; ok: number; committed?: number }[] = [];
let port = 19100;
for (const target of TARGETS) {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-'));
  await mkdir(join(dir, 'flows'));
  await writeFile(join(dir, 'flows/sync.yaml'), SYNC_FLOW);
  await writeFile(join(dir, 'flows/async.yaml'), ASYNC_FLOW);
  await writeFile(join(dir, 'hooks.config.yaml'), 'storage: { url: sqlite://data/hooks.db }\n');
  const server = target.start(++port, dir);
  try {
    const url = `http://127.0.0.1:${port}${target.path}`;
    await waitReady(`http://127.0.0.1:${port}/`);
    const warm = await load(url, { duration: 3 }); // warm-up: JIT, caches
    const result = await load(url);
    const fixed = await load(url, { connections: 10, overallRate: 1000, duration: Math.min(DURATION, 10) });
    const ok = warm['2xx'] + result['2xx'] + fixed['2xx'];
    const mem = peakMemoryMb(server.pid!);
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    const committed = target.committed ? await target.committed(dir) : undefined;
    rows.push({ name: target.name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, p99at1k: fixed.latency.p99, mem, ok, committed });
  } finally {
    server.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

const ceiling = rows[0].rps;
console.log(`\n${DURATION}s per run, ${CONNECTIONS} connections, ${pinned ? 'server on core 0, load on core 1' : 'unpinned (one core)'}; node ${process.version}\n`);
console.log('| server | requests/s | p50 ms | p99 ms | p99 ms at 1,000 req/s | vs bare | peak RSS MB | 2xx answered / committed |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  const committed = r.committed === undefined ? 'n/a (no log)' : `${r.ok} / ${r.committed}${r.committed >= r.ok ? '' : ' LOST'}`;
  console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.p99at1k} | ${Math.round((r.rps / ceiling) * 100)}% | ${Math.round(r.mem)} | ${committed} |`);
}
