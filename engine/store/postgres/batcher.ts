import type { CommitStats } from '../types.ts';

/**
 * Group commit with an asynchronous write (sqlite/batcher.ts's idea for a database on the other end of a socket).
 * Writes queued during one turn of the event loop go to `write` together, to be committed in one transaction. One
 * batch is in flight at a time, so batches commit in the order their writes were queued; writes queued meanwhile form
 * the next batch, which therefore grows with the commit latency. Every caller's promise settles once its batch has
 * committed, or rejects with the batch's error: a batch is all-or-nothing.
 */
type Entry<T> = { item: T; resolve: () => void; reject: (error: unknown) => void } | { barrier: () => void };

export class AsyncBatcher<T> {
  private queue: Entry<T>[] = [];
  private timer: NodeJS.Immediate | undefined;
  private draining: Promise<void> | undefined;
  private committed = 0;
  private failed = 0;

  /** `write` must commit all items in one transaction, or throw having committed none of them. */
  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxItems = 256,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // while a batch is in flight, the drain loop takes this one next
      if (!this.draining) this.timer ??= setImmediate(() => void this.flush());
    });
  }

  /** Committed batches and failed ones: how many transactions the queued writes took. */
  get stats(): CommitStats {
    return { batches: this.committed, failedBatches: this.failed };
  }

  /**
   * Starts writing what is queued now, and resolves once every write queued before this call has committed or
   * failed (never rejects: the writes' own callers hear of failures). Other reads and writes await it first, so that
   * they land after the queued ones; writes queued after the call do not hold it up.
   */
  flush(): Promise<void> {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0 && !this.draining) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.queue.push({ barrier: resolve }));
    this.draining ??= this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const writes: Extract<Entry<T>, { item: T }>[] = [];
      const barriers: (() => void)[] = [];
      let taken = 0;
      while (taken < this.queue.length && writes.length < this.maxItems) {
        const entry = this.queue[taken++];
        if ('barrier' in entry) barriers.push(entry.barrier);
        else writes.push(entry);
      }
      this.queue.splice(0, taken);
      if (writes.length > 0) {
        try {
          await this.write(writes.map((w) => w.item));
          this.committed++;
          for (const w of writes) w.resolve();
        } catch (error) {
          this.failed++;
          for (const w of writes) w.reject(error);
        }
      }
      for (const barrier of barriers) barrier();
    }
    this.draining = undefined;
  }
}
