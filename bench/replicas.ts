/**
 * `node --import tsx bench/replicas.ts`: the async benchmark flow (bench/flows.ts, the same as `npm run bench`'s async
 * row) served from Postgres, by one replica and by three, each replica a `hooks serve` process on the same database
 * (an embedded Postgres with fsync on). Each replica count runs twice: with `synchronous_commit = on` (Postgres's
 * default: a commit waits for its WAL flush, so this machine's disk flush rate bounds it) and `off` (a commit is
 * acknowledged before the flush: a killed engine still loses nothing; a crash of the database server or the machine
 * can lose the last commits, the trade SQLite's `synchronous = NORMAL` makes). The load is split evenly over the
 * replicas, one autocannon per replica. Prints one table; see README "Several replicas on Postgres".
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32, over all replicas), BENCH_REPLICAS
 * (default "1,3"), BENCH_SYNC_COMMIT (default "on,off").
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

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const COUNTS = (process.env.BENCH_REPLICAS ?? '1,3').split(',').map(Number);
const SYNC = (process.env.BENCH_SYNC_COMMIT ?? 'on,off').split(',');
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
try {
  for (const sync of SYNC) for (const count of COUNTS) {
    const url = await server.database(`bench_${count}_${sync}`);
    await query(server.url, `ALTER DATABASE bench_${count}_${sync} SET synchronous_commit = ${sync === 'off' ? 'off' : 'on'}`);
    const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-replicas-'));
    await mkdir(join(dir, 'flows'));
    await writeFile(join(dir, 'flows/async.yaml'), ASYNC_FLOW);
    await writeFile(join(dir, 'hooks.config.yaml'), `storage: { url: "${url}" }\nflows: { watch: false }\n`);
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
      let depth = Infinity;
      while (depth > 0 && Date.now() - loadEnded < 120_000) {
        depth = (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM executions WHERE status IN ('queued', 'running')`)).n;
        if (depth > 0) await new Promise((r) => setTimeout(r, 100));
      }
      const drainSeconds = (Date.now() - loadEnded) / 1000;
      const totalSeconds = (Date.now() - started) / 1000;
      const ok = [...warm, ...results].reduce((sum, r) => sum + r['2xx'], 0);
      const committed = (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM webhook_log WHERE flow_id = 'bench-async' AND status < 300`)).n;
      const completed = (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM executions WHERE status = 'completed'`)).n;
      const rps = results.reduce((sum, r) => sum + r.requests.average, 0);
      const p50 = Math.max(...results.map((r) => r.latency.p50));
      const p99 = Math.max(...results.map((r) => r.latency.p99));
      const errors = results.reduce((sum, r) => sum + r.errors + r.non2xx, 0);
      rows.push(
        `| ${count} | ${sync} | ${Math.round(rps)} | ${p50} | ${p99} | ${errors} | ${drainSeconds.toFixed(1)} | ${ok} / ${committed}${committed >= ok ? '' : ' LOST'} | ${Math.round(completed / totalSeconds)} |`,
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
console.log('| replicas | synchronous_commit | requests/s | p50 ms | p99 ms | errors | queue drained after (s) | 2xx answered / committed | executions/s, load to drained |');
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
for (const row of rows) console.log(row);
