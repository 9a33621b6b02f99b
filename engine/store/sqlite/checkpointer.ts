import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints a SQLite WAL from a worker thread with its own connection. SQLite's automatic checkpoint runs inside
 * the commit that crosses its threshold, on the event loop, and with `synchronous = NORMAL` it fsyncs the WAL and the
 * database file there: every request waiting on that commit, and every other request, waits for the disk too.
 *
 * A PASSIVE checkpoint never blocks the writer. The WAL starts over at the next write once every frame is copied;
 * under a constant stream of commits that may keep not happening, so the writer keeps its own automatic checkpoint
 * as a bound (`WAL_LIMIT_PAGES`), where it only has to copy what the worker has not copied yet.
 */
export interface Checkpointer {
  /** stops the worker; resolves once its connection is closed */
  close(): Promise<void>;
}

/** small and often: on a server with one core the worker's copying shares it with the requests */
const CHECKPOINT_INTERVAL_MS = 100;
/** the writer's own automatic checkpoint: pages of 4 KiB, 40 MiB of WAL */
export const WAL_LIMIT_PAGES = 10_000;
/**
 * The most the WAL file may hold. While the worker copies, the writer's automatic checkpoint gives up (SQLITE_BUSY), so
 * a burst or a slow disk can take the WAL past WAL_LIMIT_PAGES; past this, the writer waits for the copy and empties it.
 */
export const WAL_MAX_BYTES = 48 * 1024 * 1024;

// plain CommonJS evaluated in the worker: a file of its own would not survive the engine's bundling (engine/cli/bundle.mjs)
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
let failing = '';
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failing = '';
  } catch (error) {
    // once per kind of failure, not ten times a second (a full disk fails every checkpoint)
    const message = String((error && error.message) || error);
    if (message !== failing) parentPort.postMessage(message);
    failing = message;
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

// the worker's heap holds one connection and a timer
const LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8, codeRangeSizeMb: 2, stackSizeMb: 1 };

/** `onError` hears of failed checkpoints; `stopped` is true when the worker itself ended with the error. */
export function startCheckpointer(file: string, onError: (message: string, stopped: boolean) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs: CHECKPOINT_INTERVAL_MS }, resourceLimits: LIMITS });
  worker.unref(); // never what keeps a process alive
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve(void (exited = true))));
  worker.on('message', (message: string) => onError(`WAL checkpoint failed: ${message}`, false));
  worker.on('error', (error) => onError(`WAL checkpointer stopped: ${error.message}`, true));
  return {
    async close() {
      if (!exited) {
        worker.ref(); // the wait for it must keep the process alive, or an ending process exits before closing the store
        worker.postMessage('close');
      }
      await exit;
    },
  };
}
