import type { CommitStats } from '../types.ts';

/**
 * Group commit. Writes queued during one turn of the event loop are handed to `write` together, to be committed in
 * one transaction: one commit (one WAL append) for many requests instead of one each. Every caller's promise settles
 * only once that transaction has committed, or rejects with its error; a batch is all-or-nothing.
 */
export class Batcher<T> {
  private queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private timer: NodeJS.Immediate | undefined;
  private committed = 0;
  private failed = 0;

  /** `write` must commit all items in one transaction and throw (having rolled back) if it cannot. */
  constructor(
    private readonly write: (items: T[]) => void,
    private readonly maxItems = 256,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxItems) this.flush();
      else this.timer ??= setImmediate(() => this.flush());
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Committed batches and failed ones: how many transactions the queued writes took. */
  get stats(): CommitStats {
    return { batches: this.committed, failedBatches: this.failed };
  }

  /** Writes whatever is queued now. Other writes call this first, so that they land after the queued ones. */
  flush(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    try {
      this.write(batch.map((b) => b.item));
    } catch (error) {
      this.failed++;
      for (const b of batch) b.reject(error);
      return;
    }
    this.committed++;
    for (const b of batch) b.resolve();
  }
}
