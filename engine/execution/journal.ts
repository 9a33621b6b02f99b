import type { JournalEntry, OutboxEvent, Store } from '../store/types.ts';

/** What a commit that takes a run's held entries commits with them: the entries and the events they (and the run's end) cause. */
export interface HeldWrites {
  journal: JournalEntry[];
  events: OutboxEvent[];
}

/**
 * Where a run's finished steps go, each with the events it causes (a send's `message` and `status`): an entry and
 * its events are committed together (an outbox), so a step whose entry committed is replayed without emitting, and
 * one whose entry did not runs again and builds the same events. Until the run is attached to the store (a sync run
 * before its answer commits), entries wait here and are committed with the log row. Attached, a step with effects is
 * appended before the next starts: a resumed run must not repeat it. With `holdPure`, a pure step's entry waits for
 * the next step with effects or the finish and is committed with it (a crash before that runs the pure step again,
 * which changes nothing outside). With `effectsAfterCommit`, a step with effects waits for the attach (an async run
 * started before its request committed: nothing leaves the engine for a request that is not stored).
 */
export class Journal {
  private readonly held: { entry: JournalEntry; events: OutboxEvent[] }[] = [];
  /** the run's own events once it ended (`execution`): they wait for the commit that takes the held entries */
  private readonly ended: OutboxEvent[] = [];
  /** whether the store has the run: set once, resolves false when its commit failed */
  private attached: Promise<boolean> | undefined;
  /** effectsAfterCommit: resolves with the commit's outcome once attach() is called */
  private readonly whenAttached: Promise<boolean> | undefined;
  private onAttach: (committed: Promise<boolean>) => void = () => undefined;

  constructor(
    private readonly store: Pick<Store, 'appendJournal'>,
    private readonly options: { holdPure: boolean; attached?: boolean; effectsAfterCommit?: boolean },
  ) {
    if (options.attached) this.attached = Promise.resolve(true);
    if (options.effectsAfterCommit) this.whenAttached = new Promise<boolean>((resolve) => (this.onAttach = (committed) => resolve(committed)));
  }

  /** the store has the run from now on (once `committed` resolves true): later entries are appended */
  attach(committed: Promise<boolean>): void {
    this.attached = committed;
    this.onAttach(committed);
  }

  async add(entry: JournalEntry, pure: boolean, events: OutboxEvent[] = []): Promise<void> {
    if (!this.attached) return void this.held.push({ entry, events });
    if (!(await this.attached)) throw new Error('the request could not be stored');
    if (pure && this.options.holdPure) return void this.held.push({ entry, events });
    await this.store.appendJournal(entry, events);
  }

  /** the run ended: its events (`execution`) commit with the finish, or with the log row of a run that ended before it */
  end(events: OutboxEvent[]): void {
    this.ended.push(...events);
  }

  /** before a step with effects starts: the entries held back must be durable now (its effect may depend on them) */
  async settle(): Promise<void> {
    if (!this.attached && this.whenAttached && !(await this.whenAttached)) throw new Error('the request could not be stored');
    if (!this.attached || this.held.length === 0) return;
    await Promise.all(this.held.splice(0).map(({ entry, events }) => this.store.appendJournal(entry, events)));
  }

  /** the entries held back and the events to commit with them, for the commit that takes them (the log row's, or the finish's) */
  take(): HeldWrites {
    const held = this.held.splice(0);
    return { journal: held.map((h) => h.entry), events: [...held.flatMap((h) => h.events), ...this.ended.splice(0)] };
  }
}
