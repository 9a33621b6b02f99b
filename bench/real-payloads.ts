/**
 * `npm run bench`'s real-payload rows: real webhook bodies (bench/payloads.ts: a GitHub push, a Stripe event, a 64 KB
 * batch of GitHub deliveries), each through the engine's sync and async flows (bench/flows.ts, REAL_PAYLOAD_LOGIC)
 * against the bare server's routes doing the same work (bench/servers/bare.ts). Per payload, the bare server and one
 * engine per mode are up together on core 0 and loaded in turn, as the interleaved ratios of bench/run.ts are: each
 * engine slice is compared with the bare server's slice of the same answer in its round. Then each is paced at 1,000
 * req/s (bench/paced.ts) in turn, and its latencies pooled. Bytes stored per request: the engine's database growth
 * (bench/storage.ts) from after the warm-up to after the last paced round, over the 2xx answers in between.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { REAL_PAYLOAD_LOGIC, realAsyncFlow, realSyncFlow, type RealPayloadLogic } from './flows.ts';
import { cpuMs, load, median, node, pacedInOwnProcess, percent, pooledLatency, post, quiet, root, spread, stop, verdict, waitReady } from './harness.ts';
import { payloadBodies, type PayloadKey } from './payloads.ts';
import { committedRequests, type BenchStorage, type StoredBytes } from './storage.ts';

export type Mode = 'sync' | 'async';

export interface RealPayloadOptions {
  keys: PayloadKey[];
  modes: Mode[];
  rounds: number;
  sliceSeconds: number;
  pacedRounds: number;
  pacedSeconds: number;
  storage: BenchStorage;
  nextPort(): number;
}

/** one row: a server answering one payload in one mode */
export interface PayloadRow {
  payload: PayloadKey;
  bytes: number;
  mode: Mode;
  engine: boolean;
  name: string;
  rps: number[];
  cpu: number[];
  latencies: number[];
  p99s: number[];
  /** 2xx answers from after the warm-up on (what bytes stored is divided by), and in all (the committed check) */
  okMeasured: number;
  ok: number;
  errors: number;
  /** the database after the warm-up (no WAL), after the last paced round, and then with its WAL copied in and emptied */
  stored?: { before: StoredBytes; after: StoredBytes; checkpointed: StoredBytes };
  committed?: number;
}

interface Up {
  row: PayloadRow;
  url: string;
  server: ChildProcess;
  dir?: string;
  dbUrl?: string;
}

async function startEngine(logic: RealPayloadLogic, mode: Mode, storage: BenchStorage, port: number): Promise<{ server: ChildProcess; dir: string; dbUrl: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-'));
  await mkdir(join(dir, 'flows'));
  await writeFile(join(dir, `flows/${mode}.yaml`), mode === 'sync' ? realSyncFlow(logic) : realAsyncFlow(logic));
  const dbUrl = await storage.urlFor(dir);
  await writeFile(join(dir, 'hooks.config.yaml'), `storage: { url: "${dbUrl}" }\n`);
  const server = node([join(root, 'engine/cli/hooks.mjs'), 'serve', '--config', join(dir, 'hooks.config.yaml'), '--port', String(port), '--host', '127.0.0.1'], {}, `engine-${logic.key}-${mode}`);
  return { server, dir, dbUrl };
}

const emptyRow = (payload: PayloadKey, bytes: number, mode: Mode, engine: boolean): PayloadRow => ({
  payload, bytes, mode, engine,
  name: engine ? `engine, ${mode} flow, webhook log on` : `bare Fastify + JSONata, ${mode === 'sync' ? '200 with the params' : '202 with the params'}`,
  rps: [], cpu: [], latencies: [], p99s: [], okMeasured: 0, ok: 0, errors: 0,
});

/** the bare server (one process, a route per mode) and one engine per mode, started and answering */
async function startAll(logic: RealPayloadLogic, body: string, options: RealPayloadOptions, up: Up[]): Promise<void> {
  const bytes = Buffer.byteLength(body);
  const barePort = options.nextPort();
  const bare = node(['--import', 'tsx', join(root, 'bench/servers/bare.ts')], { PORT: String(barePort) }, `bare-${logic.key}`);
  for (const mode of options.modes) {
    up.push({ row: emptyRow(logic.key, bytes, mode, false), url: `http://127.0.0.1:${barePort}/${logic.key}/${mode}`, server: bare });
    const port = options.nextPort();
    const engine = await startEngine(logic, mode, options.storage, port);
    up.push({ row: emptyRow(logic.key, bytes, mode, true), url: `http://127.0.0.1:${port}/hooks/bench-${logic.key}-${mode}`, ...engine });
  }
  for (const s of up) await waitReady(s.url, s.server, body);
}

/** every engine answers the payload as the bare server's route of its mode does (status and JSON body) */
async function sameAnswers(up: Up[], body: string): Promise<string[]> {
  const differences: string[] = [];
  for (const s of up.filter((u) => u.row.engine)) {
    const bare = up.find((u) => !u.row.engine && u.row.mode === s.row.mode)!;
    const [own, reference] = [await post(s.url, body), await post(bare.url, body)];
    if (!isDeepStrictEqual(own, reference)) differences.push(`${s.row.payload} payload, ${s.row.name}: answered ${JSON.stringify(own)}, the bare server ${JSON.stringify(reference)}`);
  }
  return differences;
}

/** the server's CPU time, with the database server's for an engine (Postgres runs in processes of its own) */
const serverCpu = (s: Up, storage: BenchStorage) => cpuMs(s.server.pid!) + (s.row.engine ? storage.cpuMs() : 0);

async function slices(up: Up[], body: string, options: RealPayloadOptions): Promise<void> {
  for (let round = 0; round < options.rounds; round++) {
    for (const s of round % 2 === 0 ? up : [...up].reverse()) {
      await quiet(s.server.pid!);
      const before = serverCpu(s, options.storage);
      const result = await load(s.url, body, { duration: options.sliceSeconds });
      await quiet(s.server.pid!); // an async flow's steps still queued belong to this slice
      s.row.rps.push(result.requests.average);
      s.row.cpu.push(((serverCpu(s, options.storage) - before) * 1000) / Math.max(1, result.requests.total));
      s.row.okMeasured += result['2xx'];
      s.row.errors += result.non2xx + result.errors + result.timeouts;
    }
  }
  for (let round = 0; round < options.pacedRounds; round++) {
    for (const s of round % 2 === 0 ? up : [...up].reverse()) {
      await quiet(s.server.pid!);
      const paced = await pacedInOwnProcess(s.url, body, 1000, options.pacedSeconds);
      s.row.p99s.push(paced.p99);
      s.row.latencies.push(...paced.latencies);
      s.row.okMeasured += paced.ok;
      s.row.errors += paced.errors;
    }
  }
}

async function measurePayload(logic: RealPayloadLogic, body: string, options: RealPayloadOptions): Promise<{ rows: PayloadRow[]; differences: string[] }> {
  const up: Up[] = [];
  try {
    await startAll(logic, body, options, up);
    const differences = await sameAnswers(up, body);
    for (const s of up) s.row.ok += (await load(s.url, body, { duration: 3 }))['2xx']; // warm-up: JIT, caches
    const before = new Map<Up, StoredBytes>();
    for (const s of up) {
      await quiet(s.server.pid!);
      // the base: no WAL (its file keeps the warm-up's high-water mark otherwise, and the end's may be lower)
      if (s.dir) await options.storage.checkpoint(s.dir);
      if (s.dir) before.set(s, await options.storage.bytes(s.dir));
    }
    await slices(up, body, options);
    for (const s of up) {
      await quiet(s.server.pid!);
      if (!s.dir) continue;
      const after = await options.storage.bytes(s.dir);
      await options.storage.checkpoint(s.dir);
      s.row.stored = { before: before.get(s)!, after, checkpointed: await options.storage.bytes(s.dir) };
    }
    for (const s of up) {
      await stop(s.server);
      s.row.ok += s.row.okMeasured;
      if (s.dbUrl) s.row.committed = await committedRequests(s.dbUrl, `bench-${logic.key}-${s.row.mode}`);
    }
    return { rows: up.map((s) => s.row), differences };
  } finally {
    for (const s of up) {
      s.server.kill('SIGKILL');
      if (s.dir) await rm(s.dir, { recursive: true, force: true });
    }
  }
}

/** the rows of every payload asked for, bare and engine for each mode */
export async function realPayloadRows(options: RealPayloadOptions): Promise<{ rows: PayloadRow[]; differences: string[] }> {
  const bodies = payloadBodies(options.keys);
  const rows: PayloadRow[] = [];
  const differences: string[] = [];
  for (const logic of REAL_PAYLOAD_LOGIC.filter((l) => bodies.has(l.key))) {
    const measured = await measurePayload(logic, bodies.get(logic.key)!, options);
    rows.push(...measured.rows);
    differences.push(...measured.differences);
  }
  return { rows, differences };
}

const rounds = (n: number) => `${n} round${n === 1 ? '' : 's'}`;
const bytes = (n: number) => `${Math.round(n).toLocaleString('en')} bytes`;

/** per round: the engine's figure over the bare route's of the same mode (requests/s), or the bare's over the engine's (CPU) */
function shares(rows: PayloadRow[], row: PayloadRow): { byRate: number[]; byCpu: number[] } {
  const bare = rows.find((r) => !r.engine && r.payload === row.payload && r.mode === row.mode)!;
  return { byRate: row.rps.map((r, i) => r / bare.rps[i]), byCpu: row.cpu.map((c, i) => bare.cpu[i] / c) };
}

/** bytes stored per 2xx answer: database (+ WAL on SQLite) growth, and the database alone once its WAL is copied in */
function storedPerRequest(row: PayloadRow): { total: number; checkpointed: number; wal?: number } | undefined {
  if (!row.stored) return undefined;
  const per = (grown: number) => grown / Math.max(1, row.okMeasured);
  const { before, after, checkpointed } = row.stored;
  return { total: per(after.total - before.total), checkpointed: per(checkpointed.total - before.total), wal: after.wal === undefined ? undefined : per(after.wal) };
}

const committedCell = (row: PayloadRow) => (row.committed === undefined ? 'n/a (no log)' : `${row.ok} / ${row.committed}${row.committed >= row.ok ? '' : ' LOST'}`) + (row.errors ? `, ${row.errors} errors/non-2xx` : '');

function storedCells(row: PayloadRow): string {
  const stored = storedPerRequest(row);
  if (!stored) return '– | –';
  const wal = stored.wal === undefined ? '' : `, of which WAL ${bytes(stored.wal)}`;
  const alone = stored.wal === undefined ? '' : ` (database alone ${(stored.checkpointed / row.bytes).toFixed(2)}x)`;
  return `${bytes(stored.total)}${wal}; over ${row.okMeasured.toLocaleString('en')} 2xx | ${(stored.total / row.bytes).toFixed(2)}x${alone}`;
}

export function printRealPayloads(rows: PayloadRow[], options: RealPayloadOptions): void {
  if (rows.length === 0) return;
  const storage = options.storage.kind === 'sqlite' ? 'SQLite: the database file and its WAL' : 'Postgres: pg_database_size';
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`Real payloads, engine on ${options.storage.kind}, node ${process.version}, load average ${loadAverage} at the end: per payload, the bare server and the engine's flows up together, loaded in turn ${options.sliceSeconds}s each, ${rounds(options.rounds)} (each engine slice against the bare route of the same answer in its round; median, lowest–highest round), then paced at 1,000 req/s ${options.pacedSeconds}s each, ${rounds(options.pacedRounds)}, pooled. Bytes stored per request: the growth of the engine's data (${storage}) from after the warm-up to after the last paced round, over the 2xx answers in between${options.storage.kind === 'sqlite' ? '; "database alone": its growth once the WAL is copied into it' : ''}.\n`);
  console.log('| payload | server | requests/s | share of bare, by requests/s | share of bare, by CPU per request | CPU µs/request | 1,000 req/s paced, pooled: p50 / p99 / max ms | bytes stored per request | × payload | 2xx answered / committed |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const row of rows) {
    const share = row.engine && row.rps.length > 0 ? shares(rows, row) : undefined;
    const paced = row.latencies.length > 0 ? pooledLatency(row.latencies).join(' / ') : '–';
    const rps = row.rps.length > 0 ? Math.round(median(row.rps)) : '–';
    const cpu = row.cpu.length > 0 ? Math.round(median(row.cpu)) : '–';
    console.log(`| ${row.payload} (${bytes(row.bytes)}) | ${row.name} | ${rps} | ${share ? spread(share.byRate) : '–'} | ${share ? spread(share.byCpu) : '–'} | ${cpu} | ${paced} | ${storedCells(row)} | ${committedCell(row)} |`);
  }
  console.log('');
}

/** issue #25's targets on the GitHub push */
export function printRealPayloadTargets(rows: PayloadRow[]): void {
  const push = (mode: Mode) => rows.find((r) => r.engine && r.payload === 'push' && r.mode === mode);
  for (const [mode, least] of [['sync', 0.7], ['async', 0.55]] as const) {
    const row = push(mode);
    if (!row || row.rps.length === 0) continue;
    const { byRate, byCpu } = shares(rows, row);
    const kept = row.committed === undefined || row.committed >= row.ok;
    const met = kept ? verdict(median(byRate) >= least, median(byCpu) >= least) : 'NOT met (answers lost)';
    console.log(`Target push, ${mode} ≥ ${percent(least)} of bare${mode === 'async' ? ', every answer committed' : ''}: ${met} (median ${percent(median(byRate))} by requests/s, ${percent(median(byCpu))} by CPU per request; ${row.ok} answered, ${row.committed} committed)`);
  }
  for (const mode of ['sync', 'async'] as const) {
    const row = push(mode);
    if (!row || row.latencies.length === 0) continue;
    const p99 = pooledLatency(row.latencies)[1];
    console.log(`Target push, p99 < 10 ms at 1,000 req/s (paced), ${mode}: ${p99 < 10 ? 'met' : 'NOT met'} (${p99} ms pooled over ${rounds(row.p99s.length)}: ${row.p99s.join(' · ')})`);
  }
  const async = push('async');
  const stored = async && storedPerRequest(async);
  if (async && stored) {
    const ratio = stored.total / async.bytes;
    console.log(`Target push, bytes stored per async request ≤ 1.3x the payload: ${ratio <= 1.3 ? 'met' : 'NOT met'} (${bytes(stored.total)} for ${bytes(async.bytes)}: ${ratio.toFixed(2)}x${stored.wal === undefined ? '' : `; the database alone ${(stored.checkpointed / async.bytes).toFixed(2)}x`})`);
  }
}
