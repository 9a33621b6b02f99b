/**
 * What `npm run bench`'s phases share (bench/run.ts, bench/real-payloads.ts): servers started pinned to core 0, the
 * load generator (autocannon) and the paced client (bench/paced.ts) on core 1, the server's CPU time from /proc, and
 * the statistics the tables print.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { quantile, type PacedResult } from './paced.ts';

export const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PROFILE = process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE) : undefined;
export const root = fileURLToPath(new URL('../', import.meta.url));
// the machine's cores, not this process's affinity (the load generator itself may be pinned)
export const pinned = cpus().length >= 2;

export function node(args: string[], env: Record<string, string> = {}, profileName?: string): ChildProcess {
  // one folder per server: every thread writes a profile (tsx's loader runs in its own), the main thread's is the biggest
  const profile = PROFILE && profileName ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE, profileName)] : [];
  const command = pinned ? 'taskset' : process.execPath;
  const argv = pinned ? ['-c', '0', process.execPath, ...profile, ...args] : [...profile, ...args];
  const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.resume(); // drain: a full pipe would block a server that logs
  return child;
}

export async function post(url: string, body: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text, and the comparison shows it
  }
  return { status: res.status, body: parsed };
}

/** ready when the benchmark route itself answers 2xx (Node-RED listens before its flows are started) */
export async function waitReady(url: string, server: ChildProcess, body: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error(`${url}: the server exited (${server.exitCode}) before answering`);
    const ok = await post(url, body).then((r) => r.status < 300, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not start`);
}

export function peakMemoryMb(pid: number): number {
  // the server is the child of taskset (exec replaces it, same pid) or the node process itself
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** CPU time a process has used so far, in ms (all threads: user + system), from /proc/<pid>/stat */
const TICK_MS = 10; // Linux reports these in USER_HZ, 100 per second
export function cpuMs(pid: number, withReapedChildren = false): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime, stime: fields 14 and 15 of stat; cutime, cstime (16, 17): the children it has waited for
  const own = Number(fields[11]) + Number(fields[12]);
  return (withReapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) * TICK_MS;
}

/**
 * Core 0's time so far, in ms, from /proc/stat. `busy`: every process on it (with the server's own, what else ran
 * there); `stolen`: the time the hypervisor ran something else while core 0 had work (this machine is a VM).
 */
export function core0(): { busy: number; stolen: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu0 '))!;
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq + steal) * TICK_MS, stolen: steal * TICK_MS };
}

/** waits until the server stops working (under 5% of a core over 300 ms), at most 30 s */
export async function quiet(pid: number): Promise<void> {
  for (let i = 0, last = cpuMs(pid); i < 100; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const now = cpuMs(pid);
    if (now - last < 15) return;
    last = now;
  }
}

export async function load(url: string, body: string, extra: Partial<autocannon.Options> = {}): Promise<autocannon.Result> {
  return autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: DURATION, ...extra });
}

/**
 * bench/paced.ts in a fresh process on the load generator's core (see there why not in this one). This process shares
 * that core: autocannon grew its heap to 80–120 MB, and once the load stops V8's memory reducer shrinks it with a major
 * GC (`--trace-gc`: "Mark-Compact (reduce) 119.5 -> 16.5 MB", 50 ms of marking) that would land inside the paced run
 * and be charged to the server. So the heap is collected first (`npm run bench` passes `--expose-gc`).
 */
export async function pacedInOwnProcess(url: string, body: string, rate: number, seconds: number): Promise<PacedResult> {
  (globalThis as { gc?: () => void }).gc?.();
  const script = [...(pinned ? ['-c', '1', process.execPath] : []), '--import', 'tsx', join(root, 'bench/paced.ts'), url, body, String(rate), String(seconds)];
  const child = spawn(pinned ? 'taskset' : process.execPath, script, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`bench/paced.ts exited ${code}`);
  return JSON.parse(out) as PacedResult;
}

export async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
export const percent = (value: number) => `${Math.round(value * 100)}%`;
export const spread = (values: number[]) => `${percent(median(values))} (${percent(Math.min(...values))}–${percent(Math.max(...values))})`;
/** p50, p99 and max of every paced request of every round */
export const pooledLatency = (latencies: number[]) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return [quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[sorted.length - 1]];
};
/** a target is met or not only when both measures (requests/s and CPU per request) agree */
export const verdict = (byRate: boolean, byCpu: boolean) => (byRate && byCpu ? 'met' : !byRate && !byCpu ? 'NOT met' : 'unclear (the two measures disagree: the machine is busy, run again)');
