import { statSync } from 'node:fs';
import { startCheckpointer, WAL_LIMIT_PAGES, WAL_MAX_BYTES, type Checkpointer } from './checkpointer.ts';
import { BUSY_TIMEOUT_MS, type SqliteSession } from './session.ts';

// SQLite's own threshold for the automatic checkpoint, in pages
const DEFAULT_WAL_AUTOCHECKPOINT = 1_000;
// a synchronous sleep: Atomics.wait on a value that never changes
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * A server's store: WAL checkpoints handed to a worker thread (checkpointer.ts) from the first write on (a store
 * that only reads needs none), and the WAL bounded after each commit.
 */
export class BackgroundCheckpoints {
  private checkpointer: Checkpointer | undefined;

  constructor(
    private readonly session: SqliteSession,
    private readonly file: string,
    private readonly onError: (message: string) => void,
  ) {
    session.beforeCommit = () => this.start();
  }

  /** resolves once the worker's connection is closed: before the store's own, which then empties the WAL */
  async close(): Promise<void> {
    await this.checkpointer?.close();
  }

  private start(): void {
    const { session } = this;
    session.beforeCommit = undefined;
    session.db.pragma(`wal_autocheckpoint = ${WAL_LIMIT_PAGES}`);
    this.checkpointer = startCheckpointer(this.file, (message, stopped) => {
      // without the worker, the writer checkpoints as SQLite does by default
      if (stopped && !session.closed) session.db.pragma(`wal_autocheckpoint = ${DEFAULT_WAL_AUTOCHECKPOINT}`);
      this.onError(message);
    });
    const wal = `${this.file}-wal`;
    session.afterCommit = () => this.bound(wal);
  }

  /** after the commit: a failure here is reported, never handed to the requests just committed */
  private bound(wal: string): void {
    try {
      if ((statSync(wal, { throwIfNoEntry: false })?.size ?? 0) <= WAL_MAX_BYTES) return;
      // a copy under way in the worker holds the checkpoint lock, and SQLite then gives up at once, busy handler or
      // not: the writer waits it out here, which holds back the next commits too (the bound is the point)
      const deadline = Date.now() + BUSY_TIMEOUT_MS;
      while ((this.session.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0].busy && Date.now() < deadline) Atomics.wait(PAUSE, 0, 0, 5);
    } catch (error) {
      this.onError(`WAL checkpoint failed: ${(error as Error).message}`);
    }
  }
}
