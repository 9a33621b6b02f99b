import type { CompiledFlow } from '../flow/compiled.ts';
import type { ExecutionRecord } from '../store/types.ts';
import type { ExecutionContext } from './context.ts';
import type { ContactView } from '../common/scope.ts';
import { runExecution } from './execute.ts';
import type { RunResult } from './interpreter.ts';

export interface WorkerOptions {
  concurrency: number;
  /** how long a claim holds before another process may take the execution over */
  leaseMs: number;
  /** how often to look for work nobody told us about (other replicas, crashed runs) */
  pollMs: number;
  /** the compiled flow an execution was accepted under (or the current one when that revision is gone) */
  flowFor(execution: ExecutionRecord): CompiledFlow | undefined;
  contactFor?(contactId: string): Promise<ContactView | null>;
  onError(err: unknown, executionId?: string): void;
  /** an execution's run ended failed: the caller heard 202 long ago, so this is where an operator learns of it */
  onFailed?(execution: ExecutionRecord, error: string | null): void;
}

/**
 * Runs async executions from the durable queue, and resumes sync ones whose process died after answering. Each
 * finished step is journaled before the next starts, so an execution interrupted by a crash resumes at its first
 * unfinished step when a worker claims it again.
 */
export class Worker {
  private active = 0;
  /** reserved slots whose execution is still being committed */
  private reserving = 0;
  /** slots taken by the request path (takeSlot) whose run is not handed over yet (runInSlot) */
  private starting = 0;
  /** committed claimed by this process (see reserve), waiting for a slot: their leases are renewed while they wait */
  private readonly held: ExecutionRecord[] = [];
  private stopped = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private renewer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  /**
   * Executions may be waiting in the store for this process: true at start (runs a crash left) and after notify(),
   * false once a claim finds fewer than it asked for. A finished execution wakes the claim loop only while it is true:
   * a claim after every execution was a store transaction per request (flushing whatever the group commit had queued),
   * and at 1,000 req/s its garbage reached V8's old generation fast enough for a major GC every few seconds.
   */
  private backlog = true;
  /** notify() calls so far: a claim that ran while one came in leaves `backlog` set */
  private notified = 0;

  constructor(
    private readonly ctx: ExecutionContext,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    this.loopDone = this.loop();
    this.renewer = setInterval(() => this.renewHeld(), this.options.leaseMs / 3);
    this.renewer.unref();
  }

  /** an execution was committed queued: claim it once a slot is free */
  notify(): void {
    this.backlog = true;
    this.notified++;
    this.wake?.();
  }

  /**
   * Takes a place for an execution the pipeline is about to commit as claimed by this process (Store.commitLog with
   * a lease): it runs as soon as it is committed and a slot is free, with no claim round through the store. A process
   * holds at most `concurrency` such executions besides the `concurrency` it runs, so a busy replica does not hoard
   * work other replicas could take. False when that many are held or the worker is stopping: the execution is then
   * queued.
   */
  reserve(): boolean {
    if (this.stopped || this.active + this.held.length + this.reserving >= 2 * this.options.concurrency) return false;
    this.reserving++;
    return true;
  }

  /** After the commit of a reserved execution: runs it (or holds it for the next free slot); undefined when the commit failed. */
  runReserved(execution: ExecutionRecord | undefined): void {
    this.reserving--;
    if (!execution) return;
    if (this.active < this.options.concurrency) this.launch(execution);
    else this.held.push(execution);
  }

  /**
   * A free slot for an execution the request path starts itself, before its commit (see request/accept.ts): no claim
   * round, and a run that ends at once is committed with its request in one write. False when no slot is free now (or
   * the worker stops): the execution then goes the reserved or the queued way. runInSlot must follow.
   */
  takeSlot(): boolean {
    if (this.stopped || this.held.length > 0 || this.active >= this.options.concurrency) return false;
    this.active++;
    this.starting++;
    return true;
  }

  /** The run in a slot taken with takeSlot, once its request is committed: its lease is renewed until it ends, then the slot is free. */
  runInSlot(execution: ExecutionRecord, run: Promise<RunResult | undefined>): void {
    this.starting--;
    const renew = setInterval(() => this.renew(execution.id), this.options.leaseMs / 3);
    const job: Promise<void> = run
      .then(
        (result) => void (result?.status === 'failed' && this.options.onFailed?.(execution, result.error)),
        (err) => this.options.onError(err, execution.id),
      )
      .finally(() => {
        clearInterval(renew);
        this.running.delete(job);
        this.freeSlot();
      });
    this.running.add(job);
  }

  /** A sync run going on after its answer (AcceptedRunner.follow): its lease is renewed until it ends; stop() waits. */
  follow(executionId: string, run: Promise<void>): void {
    const renew = setInterval(() => this.renew(executionId), this.options.leaseMs / 3);
    const job: Promise<void> = run
      .catch((err) => this.options.onError(err, executionId))
      .finally(() => {
        clearInterval(renew);
        this.running.delete(job);
      });
    this.running.add(job);
  }

  /** stops claiming, then waits for the executions in progress, and those held or being committed, to finish */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loopDone;
    while (this.reserving > 0 || this.starting > 0 || this.held.length > 0 || this.running.size > 0) {
      await Promise.race([...this.running, new Promise((resolve) => setTimeout(resolve, 10))]);
    }
    clearInterval(this.renewer);
  }

  private launch(execution: ExecutionRecord): void {
    this.active++;
    let freed = false;
    // the slot is free once the steps are done: an execution waiting for its finish to commit runs nothing, and holding
    // its slot that long filled the worker under load, so that accepted executions went the queued way (a claim each)
    const free = () => {
      if (freed) return;
      freed = true;
      this.freeSlot();
    };
    const job: Promise<void> = this.execute(execution, free).finally(() => {
      this.running.delete(job);
      free();
    });
    this.running.add(job);
  }

  /** a slot is free: the next held execution takes it, else the claim loop may look for more */
  private freeSlot(): void {
    this.active--;
    const next = this.held.shift();
    if (next) this.launch(next);
    else if (this.backlog) this.wake?.();
  }

  private renewHeld(): void {
    for (const execution of this.held) this.renew(execution.id);
  }

  private renew(executionId: string): void {
    this.ctx.store.renewLease(executionId, this.options.leaseMs).catch((err) => this.options.onError(err, executionId));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      // held executions take free slots first (launch); the store is asked only when none wait
      const free = this.held.length > 0 ? 0 : this.options.concurrency - this.active;
      let claimed: ExecutionRecord[] = [];
      if (free > 0) {
        const notified = this.notified;
        try {
          claimed = await this.ctx.store.claimExecutions(free, this.options.leaseMs, this.ctx.now());
          if (claimed.length < free && notified === this.notified) this.backlog = false;
        } catch (err) {
          this.options.onError(err);
        }
      }
      for (const execution of claimed) this.launch(execution);
      if (claimed.length === free && free > 0) continue; // there may be more waiting
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  private async execute(execution: ExecutionRecord, stepsDone: () => void): Promise<void> {
    const { store } = this.ctx;
    const flow = this.options.flowFor(execution);
    if (!flow) {
      const error = `flow "${execution.flowId}" is not loaded any more`;
      await store.finishExecution(execution.id, 'failed', error, this.ctx.now().toISOString()).catch((err) => this.options.onError(err, execution.id));
      this.options.onFailed?.(execution, error);
      return;
    }
    const renew = setInterval(() => this.renew(execution.id), this.options.leaseMs / 3);
    try {
      const { result } = await runExecution(this.ctx, flow, execution, this.options.contactFor, stepsDone);
      if (result.status === 'failed') this.options.onFailed?.(execution, result.error);
    } catch (err) {
      // a storage failure: the lease runs out and the execution is claimed again, resuming from its journal
      this.options.onError(err, execution.id);
    } finally {
      clearInterval(renew);
    }
  }
}
