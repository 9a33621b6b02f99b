/**
 * `node --import tsx bench/replicas.ts`: the async benchmark flow (bench/flows.ts, the same as `npm run bench`'s async
 * row) served from Postgres, by one replica and by three, each replica a `hooks serve` process on the same database
 * (an embedded Postgres with fsync on). Each replica count runs twice: with `synchronous_commit = on` (Postgres's
 * default: a commit waits for its WAL flush, so this machine's disk flush rate bounds it) and `off` (a commit is
 * acknowledged before the flush: a killed engine still loses nothing; a crash of the database server or the machine
 * can lose the last commits, the trade SQLite's `synchronous = NORMAL` makes). The load is split evenly over the
 * replicas, one autocannon per replica. A first row runs one replica on SQLite, measured the same way, as the baseline.
 * Prints one table; see bench/README.md "Several replicas on Postgres".
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32, over all replicas), BENCH_REPLICAS
 * (default "1,3"), BENCH_SYNC_COMMIT (default "on,off"), BENCH_CONCURRENCY (queue.concurrency; default the engine's, 16).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { ASYNC_FLOW, PAYLOAD } from './flows.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { freePort } from '../test/support/prism.ts';
import { openStore } from '../engine/store/open.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const COUNTS = (process.env.BENCH_REPLICAS ?? '1,3').split(',').map(Number);
const SYNC = (process.env.BENCH_SYNC_COMMIT ?? 'on,off').split(',');
// the worker's concurrency per replica (queue.concurrency); the engine's default when unset
const CONCURRENCY = process.env.BENCH_CONCURRENCY ? `queue: { concurrency: ${Number(process.env.BENCH_CONCURRENCY)} }\n` : '';
const root = fileURLToPath(new URL('../', import.meta.url));

function serve(config: string, port: number): ChildProcess {
  const child = spawn(process.execPath, [join(root, 'engine/cli/hooks.mjs'), 'serve', '--config', config, '--port', String(port), '--host', '127.0.0.1'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.resume(); // drain: a full pipe would block a server that logs
  return child;
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not start`);
}

function load(urls: string[], seconds: number): Promise<autocannon.Result[]> {
  const per = Math.max(1, Math.round(CONNECTIONS / urls.length));
  return Promise.all(
    urls.map((url) =>
      autocannon({ url: `${url}/hooks/bench-async`, method: 'POST', headers: { 'content-type': 'application/json' }, body: PAYLOAD, connections: per, duration: seconds }),
    ),
  );
}

async function query<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows?.[0] as T;
  } finally {
    await client.end();
  }
}

// a production-like server: the WAL is flushed to disk (the test helper's defaults turn that off)
const before = loadavg();
const server = await startPostgres({ flags: ['-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'full_page_writes=on'] });
const rows: string[] = [];
// the baseline first: one replica on SQLite (synchronous = NORMAL), measured the same way at the same moment
const runs: { count: number; sync: string | null }[] = [{ count: 1, sync: null }, ...SYNC.flatMap((sync) => COUNTS.map((count) => ({ count, sync })))];
try {
  for (const { count, sync } of runs) {
    const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-replicas-'));
    let url = `sqlite://${join(dir, 'data/hooks.db')}`;
    if (sync !== null) {
      url = await server.database(`bench_${count}_${sync}`);
      await query(server.url, `ALTER DATABASE bench_${count}_${sync} SET synchronous_commit = ${sync === 'off' ? 'off' : 'on'}`);
    }
    await mkdir(join(dir, 'flows'));
    await writeFile(join(dir, 'flows/async.yaml'), ASYNC_FLOW);
    await writeFile(join(dir, 'hooks.config.yaml'), `storage: { url: "${url}" }\nflows: { watch: false }\n${CONCURRENCY}`);
    const replicas: ChildProcess[] = [];
    try {
      const urls: string[] = [];
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        replicas.push(serve(join(dir, 'hooks.config.yaml'), port));
        urls.push(`http://127.0.0.1:${port}`);
      }
      await Promise.all(urls.map(waitReady));
      const started = Date.now();
      const warm = await load(urls, 3); // JIT, caches, connection pools
      const results = await load(urls, DURATION);
      const loadEnded = Date.now();
      // the workers finish the queue after the load: how long that takes says whether they kept up
      const store = await openStore(url);
      let depth = Infinity;
      let committed = 0;
      let drainSeconds = 0;
      let totalSeconds = 0;
      try {
        while (depth > 0 && Date.now() - loadEnded < 120_000) {
          depth = await store.queueDepth();
          if (depth > 0) await new Promise((r) => setTimeout(r, 100));
        }
        drainSeconds = (Date.now() - loadEnded) / 1000;
        totalSeconds = (Date.now() - started) / 1000;
        committed = (await store.listLogs({ flowId: 'bench-async', limit: 10_000_000 })).filter((e) => e.status < 300).length;
      } finally {
        await store.close();
      }
      const ok = [...warm, ...results].reduce((sum, r) => sum + r['2xx'], 0);
      // every committed request is an execution, and the queue is empty: each one completed (or the row says so)
      const completed = depth === 0 ? committed : NaN;
      const rps = results.reduce((sum, r) => sum + r.requests.average, 0);
      const p50 = Math.max(...results.map((r) => r.latency.p50));
      const p99 = Math.max(...results.map((r) => r.latency.p99));
      const errors = results.reduce((sum, r) => sum + r.errors + r.non2xx, 0);
      rows.push(
        `| ${sync === null ? 'SQLite' : 'Postgres'} | ${count} | ${sync ?? 'NORMAL'} | ${Math.round(rps)} | ${p50} | ${p99} | ${errors} | ${drainSeconds.toFixed(1)} | ${ok} / ${committed}${committed >= ok ? '' : ' LOST'} | ${Math.round(completed / totalSeconds)} |`,
      );
    } finally {
      for (const child of replicas) child.kill('SIGTERM');
      await Promise.all(replicas.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await server.stop();
}

console.log(
  `\nasync flow on Postgres, ${DURATION}s per run (after 3 s of warm-up), ${CONNECTIONS} connections split over the replicas; node ${process.version}; ` +
    `load average before: ${before.map((l) => l.toFixed(1)).join(' ')}\n`,
);
console.log('| storage | replicas | synchronous (commit) | requests/s | p50 ms | p99 ms | errors | queue drained after (s) | 2xx answered / committed | executions/s, load to drained |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
for (const row of rows) console.log(row);
