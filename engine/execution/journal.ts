import type { JournalEntry, Store } from '../store/types.ts';

/**
 * Where a run's finished steps go. Until the run is attached to the store (a sync run before its answer commits),
 * entries wait here and are committed with the log row. Attached, a step with effects is appended before the next
 * starts: a resumed run must not repeat it. With `holdPure`, a pure step's entry waits for the next step with
 * effects or the finish and is committed with it (a crash before that runs the pure step again, which changes
 * nothing outside).
 */
export class Journal {
  private readonly held: JournalEntry[] = [];
  /** whether the store has the run: set once, resolves false when its commit failed */
  private attached: Promise<boolean> | undefined;

  constructor(
    private readonly store: Pick<Store, 'appendJournal'>,
    private readonly options: { holdPure: boolean; attached?: boolean },
  ) {
    if (options.attached) this.attached = Promise.resolve(true);
  }

  /** the store has the run from now on (once `committed` resolves true): later entries are appended */
  attach(committed: Promise<boolean>): void {
    this.attached = committed;
  }

  async add(entry: JournalEntry, pure: boolean): Promise<void> {
    if (!this.attached) return void this.held.push(entry);
    if (!(await this.attached)) throw new Error('the request could not be stored');
    if (pure && this.options.holdPure) return void this.held.push(entry);
    await this.store.appendJournal(entry);
  }

  /** before a step with effects starts: the entries held back must be durable now (its effect may depend on them) */
  async settle(): Promise<void> {
    if (!this.attached || this.held.length === 0) return;
    await Promise.all(this.take().map((entry) => this.store.appendJournal(entry)));
  }

  /** the entries held back, for the commit that takes them (the log row's, or the finish's) */
  take(): JournalEntry[] {
    return this.held.splice(0);
  }
}
