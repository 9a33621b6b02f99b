/**
 * `npm run bench`: the engine against the bare-server ceiling and a peer flow engine (Node-RED 4), one after another
 * on this machine with the same load generator (autocannon), payload and logic. Servers run pinned to core 0, the
 * load generator to core 1 (where there are two). Before loading, one real request per branch checks that every
 * server gives the bare server's answer. The last row, a node:http server answering a constant, is the floor: what this
 * machine and the load generator add to every latency. Latency at 1,000 req/s comes from an evenly paced open-loop client
 * (bench/paced.ts) besides autocannon's bursty overallRate. Then the targets' ratios again, interleaved: the bare
 * server and the engine's two flows up together and loaded in turn, each engine slice compared with the bare slice of
 * its own round; and the latency at 1,000 req/s the same way, the floor among them, pooled over the rounds. Prints
 * three tables; see bench/README.md "Requests: npm run bench". Then the real-payload rows (bench/real-payloads.ts): a
 * GitHub push, a Stripe event and a 64 KB body through the engine's sync and async flows against the bare server, with
 * the bytes each request stores; a fourth table.
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32), BENCH_ROUNDS and BENCH_SLICE_SECONDS (the
 * interleaved ratios: default 8 rounds of 3 s per server), BENCH_PACED_ROUNDS and BENCH_PACED_SECONDS (the interleaved
 * latency: default 5 rounds of 5 s per server), BENCH_ONLY (comma-separated row numbers,
 * e.g. "1,2": the bare row is always run, as the ratios need it), BENCH_PROFILE=<dir> (run every server with
 * `node --cpu-prof`, profiles in <dir>/<server>/, one per thread: the main thread's is the biggest file; summarise it
 * with `node --import tsx bench/profile-summary.ts <file>`), BENCH_PAYLOADS (comma-separated, default
 * "small,push,stripe,64k": "small" is the three tables above, the others the real-payload rows; BENCH_ONLY=2 or 3
 * keeps their sync or async rows only), BENCH_PAYLOAD_ROUNDS (default half of BENCH_ROUNDS, rounded up: 4),
 * BENCH_PAYLOAD_PACED_ROUNDS (default 2, at most BENCH_PACED_ROUNDS; BENCH_SLICE_SECONDS and BENCH_PACED_SECONDS apply
 * to them too), BENCH_STORAGE (sqlite, the default, or postgres: an embedded Postgres for every engine row).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type autocannon from 'autocannon';
import { SYNC_FLOW, ASYNC_FLOW, PAYLOAD, SMALL_PAYLOAD } from './flows.ts';
import { SLOW_MS, type PacedResult } from './paced.ts';
import { CONNECTIONS, DURATION, core0, cpuMs, load as loadBody, median, node, pacedInOwnProcess as pacedBody, peakMemoryMb, percent, pinned, pooledLatency, post, quiet, root, spread, stop, verdict, waitReady as waitReadyBody } from './harness.ts';
import { committedRequests, openBenchStorage } from './storage.ts';
import { printRealPayloads, printRealPayloadTargets, realPayloadRows, type Mode } from './real-payloads.ts';
import type { PayloadKey } from './payloads.ts';

const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map(Number)) : undefined;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SLICE_SECONDS = Number(process.env.BENCH_SLICE_SECONDS ?? 3);
const PACED_ROUNDS = Number(process.env.BENCH_PACED_ROUNDS ?? 5);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 5);
const PAYLOAD_ROUNDS = Number(process.env.BENCH_PAYLOAD_ROUNDS ?? Math.ceil(ROUNDS / 2));
const PAYLOAD_PACED_ROUNDS = Number(process.env.BENCH_PAYLOAD_PACED_ROUNDS ?? Math.min(2, PACED_ROUNDS));
const PAYLOADS = (process.env.BENCH_PAYLOADS ?? 'small,push,stripe,64k').split(',').map((p) => p.trim());
const unknownPayload = PAYLOADS.find((p) => !['small', 'push', 'stripe', '64k'].includes(p));
if (unknownPayload !== undefined) throw new Error(`BENCH_PAYLOADS: unknown payload "${unknownPayload}" (expected small, push, stripe, 64k)`);
const storage = await openBenchStorage();
// the small-payload rows' own body everywhere below
const load = (url: string, extra: Partial<autocannon.Options> = {}) => loadBody(url, PAYLOAD, extra);
const waitReady = (url: string, server: ChildProcess) => waitReadyBody(url, server, PAYLOAD);
const pacedInOwnProcess = (url: string, rate: number, seconds: number) => pacedBody(url, PAYLOAD, rate, seconds);

interface Target {
  name: string;
  path: string;
  /** the answer every other server's answer is compared with (the bare server) */
  reference?: boolean;
  /** whose answer must equal the reference's (same logic): the async flow answers 202 with a receipt instead */
  sameAnswer?: boolean;
  start(port: number, dir: string): Promise<ChildProcess>;
  /** after the run: how many requests the server committed, to check every 2xx answer was stored */
  committed?(dir: string): Promise<number>;
}

/** the server's CPU time so far, with the database server's for an engine on Postgres (its own processes) */
const targetCpu = (target: Target, pid: number) => cpuMs(pid) + (target.committed ? storage.cpuMs() : 0);

const engine = (mode: 'sync' | 'async'): Target => ({
  name: `engine, ${mode} flow, webhook log on`,
  path: `/hooks/bench-${mode}`,
  sameAnswer: mode === 'sync',
  async start(port, dir) {
    await writeFile(join(dir, 'hooks.config.yaml'), `storage: { url: "${await storage.urlFor(dir)}" }\n`);
    return node([join(root, 'engine/cli/hooks.mjs'), 'serve', '--config', join(dir, 'hooks.config.yaml'), '--port', String(port), '--host', '127.0.0.1'], {}, `engine-${mode}`);
  },
  async committed(dir) {
    return committedRequests(await storage.urlFor(dir), `bench-${mode}`);
  },
});

const nodeRed: Target = {
  name: 'Node-RED 4, same flow (http in, change, switch, change, http response)',
  path: '/bench',
  sameAnswer: true,
  async start(port, dir) {
    // a fresh userDir per run: Node-RED writes its runtime config and a copy of the flows there
    const userDir = join(dir, 'node-red');
    await mkdir(userDir);
    await copyFile(join(root, 'bench/node-red/flows.json'), join(userDir, 'flows.json'));
    return node([join(root, 'node_modules/node-red/red.js'), '--settings', join(root, 'bench/node-red/settings.cjs'), '--userDir', userDir], { PORT: String(port) }, 'node-red');
  },
};

const ALL: Target[] = [
  { name: 'bare Fastify + JSONata (ceiling)', path: '/bench', reference: true, start: async (port) => node(['--import', 'tsx', join(root, 'bench/servers/bare.ts')], { PORT: String(port) }, 'bare') },
  engine('sync'),
  engine('async'),
  nodeRed,
  { name: 'node:http answering a constant (the floor: no framework, no work)', path: '/floor', start: async (port) => node(['--import', 'tsx', join(root, 'bench/servers/floor.ts')], { PORT: String(port) }, 'floor') },
];
const TARGETS = PAYLOADS.includes('small') ? ALL.filter((_, i) => !ONLY || i === 0 || ONLY.has(i + 1)) : [];

interface Row { name: string; rps: number; cpu: number; others: number; p50: number; p99: number; p99at1k: number; paced: PacedResult; mem: number; ok: number; errors: number; committed?: number }
const rows: Row[] = [];
const answers = new Map<string, { status: number; body: unknown }[]>();
const differences: string[] = [];
let port = 19100;
/** a fresh folder per server: the engine's flows, config and database */
async function serverDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-'));
  await mkdir(join(dir, 'flows'));
  await writeFile(join(dir, 'flows/sync.yaml'), SYNC_FLOW);
  await writeFile(join(dir, 'flows/async.yaml'), ASYNC_FLOW);
  return dir;
}

for (const target of TARGETS) {
  const dir = await serverDir();
  const server = await target.start(++port, dir);
  try {
    const url = `http://127.0.0.1:${port}${target.path}`;
    await waitReady(url, server);
    // same logic: one real request per branch (the benchmark payload takes the "big" branch)
    const answer = [await post(url, PAYLOAD), await post(url, SMALL_PAYLOAD)];
    answers.set(target.name, answer);
    const reference = answers.get(TARGETS.find((t) => t.reference)!.name)!;
    if (target.sameAnswer) {
      answer.forEach((a, i) => {
        if (!isDeepStrictEqual(a, reference[i])) differences.push(`${target.name}: ${i === 0 ? 'benchmark' : 'small'} payload answered ${JSON.stringify(a)}, the bare server ${JSON.stringify(reference[i])}`);
      });
    }
    const warm = await load(url, { duration: 3 }); // warm-up: JIT, caches
    await quiet(server.pid!);
    const cpuBefore = targetCpu(target, server.pid!);
    const coreBefore = core0().busy;
    const wallBefore = performance.now();
    const result = await load(url);
    // the async flow's steps may still be queued when the load stops: their CPU belongs to these requests too
    await quiet(server.pid!);
    const serverCpu = targetCpu(target, server.pid!) - cpuBefore;
    const cpuPerRequest = (serverCpu * 1000) / Math.max(1, result.requests.total);
    // other processes' share of core 0 meanwhile (pinned, all of the server's time is core 0's)
    const others = pinned ? Math.max(0, (core0().busy - coreBefore - serverCpu) / (performance.now() - wallBefore)) : 0;
    const fixed = await load(url, { connections: 10, overallRate: 1000, duration: Math.min(DURATION, 10) });
    await quiet(server.pid!);
    const paced = await pacedInOwnProcess(url, 1000, Math.min(DURATION, 10));
    const ok = warm['2xx'] + result['2xx'] + fixed['2xx'] + paced.ok;
    const errors = [warm, result, fixed].reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, paced.errors);
    const mem = peakMemoryMb(server.pid!);
    await stop(server);
    const committed = target.committed ? await target.committed(dir) : undefined;
    rows.push({ name: target.name, rps: result.requests.average, cpu: cpuPerRequest, others, p50: result.latency.p50, p99: result.latency.p99, p99at1k: fixed.latency.p99, paced, mem, ok, errors, committed });
  } finally {
    server.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

interface Slices { rps: number[]; cpu: number[]; p99: number[]; stolen: number[]; latencies: number[]; slow: PacedResult['slow']; ok: number; errors: number; committed?: number }

/**
 * The targets' ratios, interleaved. This machine's speed drifts by ±15% over minutes (a VM): servers measured one after
 * another, minutes apart, differ by that drift as much as by their own work. Here the bare server and the engine's
 * flows are up together on core 0 and loaded in turn, SLICE_SECONDS each, ROUNDS times (the order turned round every
 * other round); each engine slice is compared with the bare slice of its own round.
 */
async function interleaved(targets: Target[]): Promise<Map<Target, Slices>> {
  const up: { target: Target; dir: string; server: ChildProcess; url: string; slices: Slices }[] = [];
  try {
    for (const target of targets) {
      const dir = await serverDir();
      const server = await target.start(++port, dir);
      const url = `http://127.0.0.1:${port}${target.path}`;
      up.push({ target, dir, server, url, slices: { rps: [], cpu: [], p99: [], stolen: [], latencies: [], slow: { all: 0, unstolen: 0 }, ok: 0, errors: 0 } });
      await waitReady(url, server);
    }
    const loaded = up.filter((s) => s.target !== floor); // the floor is up for the latency rounds only
    for (const s of loaded) s.slices.ok += (await load(s.url, { duration: 3 }))['2xx']; // warm-up: JIT, caches
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of round % 2 === 0 ? loaded : [...loaded].reverse()) {
        await quiet(s.server.pid!);
        const before = targetCpu(s.target, s.server.pid!);
        const result = await load(s.url, { duration: SLICE_SECONDS });
        await quiet(s.server.pid!); // an async flow's steps still queued belong to this slice
        s.slices.rps.push(result.requests.average);
        s.slices.cpu.push(((targetCpu(s.target, s.server.pid!) - before) * 1000) / Math.max(1, result.requests.total));
        s.slices.ok += result['2xx'];
        s.slices.errors += result.non2xx + result.errors + result.timeouts;
      }
    }
    // latency at 1,000 req/s the same way: a paced slice per server and round, the floor among them
    for (let round = 0; round < PACED_ROUNDS; round++) {
      for (const s of round % 2 === 0 ? up : [...up].reverse()) {
        await quiet(s.server.pid!);
        const [before, start] = [core0().stolen, performance.now()];
        const paced = await pacedInOwnProcess(s.url, 1000, PACED_SECONDS);
        s.slices.stolen.push((core0().stolen - before) / (performance.now() - start));
        s.slices.p99.push(paced.p99);
        s.slices.latencies.push(...paced.latencies);
        s.slices.slow.all += paced.slow.all;
        s.slices.slow.unstolen += paced.slow.unstolen;
        s.slices.ok += paced.ok;
        s.slices.errors += paced.errors;
      }
    }
    for (const s of up) {
      await stop(s.server);
      s.slices.committed = s.target.committed ? await s.target.committed(s.dir) : undefined;
    }
    return new Map(up.map((s) => [s.target, s.slices]));
  } finally {
    for (const s of up) {
      s.server.kill('SIGKILL');
      await rm(s.dir, { recursive: true, force: true });
    }
  }
}

const bare = TARGETS.find((t) => t.reference)!;
const engines = TARGETS.filter((t) => t.committed);
const floor = TARGETS.find((t) => t.path === '/floor');
const slices = engines.length > 0 && ROUNDS > 0 ? await interleaved([bare, ...engines, ...(floor ? [floor] : [])]) : new Map<Target, Slices>();

if (rows.length > 0) {
  const ceiling = rows[0].rps;
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const red = rows.find((r) => r.name === nodeRed.name)?.rps;
  console.log(`\n${DURATION}s per run, ${CONNECTIONS} connections, ${pinned ? 'server on core 0, load on core 1' : 'unpinned (one core)'}; node ${process.version}; load average ${loadAverage} at the end.
"Other work on core 0": the share of the server's core that other processes took during the measured run; above a few
percent, requests/s and latency understate the server and CPU per request is the steadier comparison.\n`);
  console.log('| server | requests/s | p50 ms | p99 ms | 1,000 req/s paced: p50 / p99 / max ms | p99 ms, autocannon overallRate 1,000 (bursts) | vs bare | vs Node-RED | server CPU µs/request | other work on core 0 | peak RSS MB | 2xx answered / committed |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const committed = r.committed === undefined ? 'n/a (no log)' : `${r.ok} / ${r.committed}${r.committed >= r.ok ? '' : ' LOST'}`;
    const vsRed = red ? `${(r.rps / red).toFixed(1)}x` : '–';
    console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.paced.p50} / ${r.paced.p99} / ${r.paced.max} | ${r.p99at1k} | ${Math.round((r.rps / ceiling) * 100)}% | ${vsRed} | ${Math.round(r.cpu)} | ${pinned ? `${Math.round(r.others * 100)}%` : '–'} | ${Math.round(r.mem)} | ${committed}${r.errors ? `, ${r.errors} errors/non-2xx` : ''} |`);
  }
  console.log('');
}
/** per round: the engine's figure over the bare server's (requests/s), or the bare server's over the engine's (CPU) */
const shares = (t: Target) => {
  const own = slices.get(t)!;
  const reference = slices.get(bare)!;
  return { byRate: own.rps.map((r, i) => r / reference.rps[i]), byCpu: own.cpu.map((c, i) => reference.cpu[i] / c) };
};
/** p50, p99 and max of every paced request of every round */
const pooled = (own: Slices) => pooledLatency(own.latencies);
/** the server's own slow answers (no stolen time around them) as a share of all its paced answers */
const unstolenShare = (own: Slices) => `${((own.slow.unstolen / Math.max(1, own.latencies.length)) * 100).toFixed(2)}%`;
if (slices.size > 0) {
  console.log(`Interleaved: the servers up together, loaded in turn ${SLICE_SECONDS}s each, ${ROUNDS} rounds; each engine slice against the bare slice of its round. Median (lowest–highest round).\n`);
  console.log('| server | requests/s | share of bare, by requests/s | CPU µs/request | share of bare, by CPU per request | 2xx answered / committed |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const [t, own] of slices) {
    if (t === floor) continue;
    const share = t === bare ? undefined : shares(t);
    const committed = own.committed === undefined ? 'n/a (no log)' : `${own.ok} / ${own.committed}${own.committed >= own.ok ? '' : ' LOST'}`;
    console.log(`| ${t.name} | ${Math.round(median(own.rps))} | ${share ? spread(share.byRate) : '–'} | ${Math.round(median(own.cpu))} | ${share ? spread(share.byCpu) : '–'} | ${committed}${own.errors ? `, ${own.errors} errors/non-2xx` : ''} |`);
  }
  console.log('');
  if (PACED_ROUNDS > 0) {
    console.log(`Latency at 1,000 req/s, interleaved: each server paced for ${PACED_SECONDS}s in turn, ${PACED_ROUNDS} rounds. Pooled: the percentiles of all rounds' requests together. Per round: its p99 and, in brackets, the share of core 0's time the hypervisor took (steal) while it ran${pinned ? '' : ' (unpinned: not measured)'}. Answers over ${SLOW_MS} ms: all, and those with no time stolen on any core from 25 ms before they were due until they ended (the server's own).\n`);
    console.log(`| server | pooled p50 / p99 / max ms | per round: p99 ms (core 0 stolen) | answers over ${SLOW_MS} ms: all / none stolen (share of all answers) |`);
    console.log('| --- | ---: | --- | ---: |');
    for (const [t, own] of slices) console.log(`| ${t.name} | ${pooled(own).join(' / ')} | ${own.p99.map((p99, i) => `${p99} (${percent(own.stolen[i])})`).join(' · ')} | ${own.slow.all} / ${own.slow.unstolen} (${unstolenShare(own)}) |`);
    console.log('');
  }
}
// the issue's targets, judged on the interleaved medians; met or not only when both measures agree
const target = (t: Target | undefined, least: number, label: string) => {
  if (!t || !slices.has(t)) return;
  const own = slices.get(t)!;
  const { byRate, byCpu } = shares(t);
  // every 2xx committed, in the interleaved slices and in the server's own run above
  const row = rows.find((r) => r.name === t.name);
  const kept = [own, ...(row ? [row] : [])].every((phase) => phase.committed === undefined || phase.committed >= phase.ok);
  const met = kept ? verdict(median(byRate) >= least, median(byCpu) >= least) : 'NOT met (answers lost)';
  console.log(`Target ${label}: ${met} (median ${percent(median(byRate))} by requests/s, ${percent(median(byCpu))} by CPU per request; ${own.ok} answered, ${own.committed} committed)`);
};
target(engines.find((t) => t.name.startsWith('engine, sync')), 0.7, 'sync ≥ 70% of bare');
target(engines.find((t) => t.name.startsWith('engine, async')), 0.55, 'async ≥ 55% of bare, every answer committed');
const sync = rows.find((r) => r.name.startsWith('engine, sync'));
const redRow = rows.find((r) => r.name === nodeRed.name);
if (sync && redRow) console.log(`Target sync ≥ 5x Node-RED: ${verdict(sync.rps >= 5 * redRow.rps, redRow.cpu / sync.cpu >= 5)} (${(sync.rps / redRow.rps).toFixed(1)}x by requests/s, ${(redRow.cpu / sync.cpu).toFixed(1)}x by CPU per request)`);
// judged on the interleaved rounds pooled when there are any (a single run's p99 is one stall of this machine's away)
const floorP99 = floor && slices.get(floor)?.latencies.length ? `; the floor's ${pooled(slices.get(floor)!)[1]} ms` : '';
for (const t of engines) {
  const own = rows.find((r) => r.name === t.name)!.paced.p99;
  const rounds = slices.get(t);
  const p99 = rounds?.latencies.length ? pooled(rounds)[1] : undefined;
  const unstolen = rounds?.latencies.length ? `; ${rounds.slow.unstolen} of its ${rounds.slow.all} answers over ${SLOW_MS} ms had no stolen time around them, ${unstolenShare(rounds)} of all` : '';
  const how = p99 === undefined ? `${own} ms` : `${p99} ms over ${PACED_ROUNDS} interleaved rounds pooled${floorP99}; ${own} ms in its own run above${unstolen}`;
  console.log(`Target p99 < 10 ms at 1,000 req/s (paced), ${t.name}: ${(p99 ?? own) < 10 ? 'met' : 'NOT met'} (${how})`);
}
if (TARGETS.length > 0) console.log('');
if (differences.length === 0 && TARGETS.some((t) => t.sameAnswer)) {
  const compared = TARGETS.filter((t) => t.sameAnswer).map((t) => `"${t.name}"`);
  console.log(`Same answers: ${compared.join(' and ')} answered both payloads (total > 100 and total ≤ 100) exactly as the bare server did (status and JSON body).`);
} else if (differences.length > 0) {
  for (const d of differences) console.log(`ANSWER DIFFERS: ${d}`);
  process.exitCode = 1;
}

// the real-payload rows: BENCH_ONLY's row numbers 2 and 3 (the engine's sync and async flows) choose their modes too
const payloadKeys = PAYLOADS.filter((p): p is PayloadKey => p !== 'small');
const modes = (['sync', 'async'] as Mode[]).filter((_, i) => !ONLY || ONLY.has(i + 2));
let nextPort = port + 100;
const options = { keys: payloadKeys, modes, rounds: PAYLOAD_ROUNDS, sliceSeconds: SLICE_SECONDS, pacedRounds: PAYLOAD_PACED_ROUNDS, pacedSeconds: PACED_SECONDS, storage, nextPort: () => ++nextPort };
try {
  if (payloadKeys.length > 0 && modes.length > 0) {
    const real = await realPayloadRows(options);
    printRealPayloads(real.rows, options);
    printRealPayloadTargets(real.rows);
    if (real.differences.length === 0) console.log(`Same answers: the engine's real-payload flows answered every payload exactly as the bare server's routes did (status and JSON body).`);
    for (const d of real.differences) console.log(`ANSWER DIFFERS: ${d}`);
    if (real.differences.length > 0) process.exitCode = 1;
  }
} finally {
  await storage.close();
}
