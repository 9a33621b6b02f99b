/**
 * Where `npm run bench`'s engine servers keep their data: `BENCH_STORAGE=sqlite` (the default: one database file per
 * server folder) or `postgres` (an embedded Postgres, started the way the tests start theirs (test/support/postgres.ts)
 * but with Postgres's durable defaults, fsync and synchronous_commit on, as bench/replicas.ts runs it; one database per
 * server; pinned to core 0 with the servers, so that its work is charged to the engine's core as SQLite's is).
 *
 * Bytes stored: SQLite's database file and its WAL (the -shm file is an index of the WAL, not data); Postgres's
 * `pg_database_size` (its WAL is the cluster's, shared by every database: not counted). SQLite's WAL file is reused
 * from its start once copied, not shrunk, so its size is its high-water mark (up to 48 MB, engine/store/sqlite/wal.ts):
 * `checkpoint` empties it, for a base with no WAL and for the database's own growth at the end.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { cpuMs, pinned } from './harness.ts';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { openStore } from '../engine/store/open.ts';

export interface StoredBytes {
  total: number;
  /** of which the SQLite WAL; undefined on Postgres */
  wal?: number;
}

export interface BenchStorage {
  kind: 'sqlite' | 'postgres';
  /** the engine's storage url for a server folder (on Postgres a fresh database, the same for the same folder) */
  urlFor(dir: string): Promise<string>;
  bytes(dir: string): Promise<StoredBytes>;
  /** SQLite: copies the WAL into the database file and empties it (the server must be idle); Postgres: nothing */
  checkpoint(dir: string): Promise<void>;
  /** CPU time the database server has used so far, in ms (0 for SQLite: it runs inside the engine's process) */
  cpuMs(): number;
  close(): Promise<void>;
}

const size = (file: string) => {
  try {
    return statSync(file).size;
  } catch {
    return 0; // no WAL yet, or none left after a checkpoint on close
  }
};

function sqlite(): BenchStorage {
  const file = (dir: string) => join(dir, 'data/hooks.db');
  return {
    kind: 'sqlite',
    urlFor: async (dir) => `sqlite://${file(dir)}`,
    async bytes(dir) {
      const wal = size(`${file(dir)}-wal`);
      return { total: size(file(dir)) + wal, wal };
    },
    async checkpoint(dir) {
      const db = new Database(file(dir));
      try {
        db.pragma('busy_timeout = 5000'); // the engine's checkpointer thread may be copying
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
      }
    },
    cpuMs: () => 0,
    close: async () => undefined,
  };
}

/** the pids whose parent is `parent`, from /proc */
function children(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

async function query<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

async function postgres(): Promise<BenchStorage> {
  const server: TestPostgres = await startPostgres({ flags: ['-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'full_page_writes=on'] });
  const { data_directory: dataDir } = await query<{ data_directory: string }>(server.url, 'SHOW data_directory');
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // a bench that dies leaves no server behind (its own stop removes the folder; the exit handler only runs if it did not)
  const onExit = () => {
    try {
      process.kill(postmaster, 'SIGQUIT');
      rmSync(dirname(dataDir), { recursive: true, force: true });
    } catch {
      // already stopped
    }
  };
  process.once('exit', onExit);
  // the backends it forks later inherit the postmaster's core
  if (pinned) for (const pid of [postmaster, ...children(postmaster)]) execFileSync('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' });
  const databases = new Map<string, string>();
  const urlFor = async (dir: string) => {
    if (!databases.has(dir)) databases.set(dir, await server.database(`bench_${databases.size + 1}`));
    return databases.get(dir)!;
  };
  return {
    kind: 'postgres',
    urlFor,
    async bytes(dir) {
      const { bytes } = await query<{ bytes: string }>(await urlFor(dir), 'SELECT pg_database_size(current_database()) AS bytes');
      return { total: Number(bytes) };
    },
    // relation files grow as rows are written, not at a checkpoint: pg_database_size has them all
    checkpoint: async () => undefined,
    // the backends that ended are in the postmaster's reaped children's time
    cpuMs: () => children(postmaster).reduce((sum, pid) => sum + (pidCpu(pid) ?? 0), cpuMs(postmaster, true)),
    async close() {
      process.removeListener('exit', onExit);
      await server.stop();
    },
  };
}

const pidCpu = (pid: number) => {
  try {
    return cpuMs(pid);
  } catch {
    return undefined; // ended meanwhile: counted in the postmaster's reaped children's time once it is waited for
  }
};

export async function openBenchStorage(kind = process.env.BENCH_STORAGE ?? 'sqlite'): Promise<BenchStorage> {
  if (kind === 'sqlite') return sqlite();
  if (kind === 'postgres') return postgres();
  throw new Error(`BENCH_STORAGE=${kind}: expected sqlite or postgres`);
}

/** how many of a flow's requests were committed answered 2xx, read back page by page (64 KB bodies are in the rows) */
export async function committedRequests(url: string, flowId: string): Promise<number> {
  const PAGE = 2_000;
  const store = await openStore(url);
  try {
    let count = 0;
    for (let before: string | undefined; ; ) {
      const page = await store.listLogs({ flowId, limit: PAGE, before });
      count += page.filter((e) => e.status < 300).length;
      if (page.length < PAGE) return count;
      before = page[page.length - 1].id;
    }
  } finally {
    await store.close();
  }
}
