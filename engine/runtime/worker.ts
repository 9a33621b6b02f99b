import type { CompiledFlow } from '../flow/compiled.ts';
import type { ExecutionRecord } from '../store/types.ts';
import type { EngineContext } from './pipeline.ts';
import type { ContactView } from '../steps/types.ts';
import { executionBindings, scopeOf } from './scope.ts';
import { runSteps } from './interpreter.ts';
import { redactSecrets } from './redact.ts';

export interface WorkerOptions {
  concurrency: number;
  /** how long a claim holds before another process may take the execution over */
  leaseMs: number;
  /** how often to look for work nobody told us about (other replicas, crashed runs) */
  pollMs: number;
  /** the compiled flow an execution was accepted under (or the current one when that revision is gone) */
  flowFor(execution: ExecutionRecord): CompiledFlow | undefined;
  contactFor?(contactId: string): Promise<ContactView | null>;
  onError(err: unknown, execution?: ExecutionRecord): void;
}

/**
 * Runs async executions from the durable queue. Each finished step is journaled before the next starts, so an
 * execution interrupted by a crash resumes at its first unfinished step when a worker claims it again.
 */
export class Worker {
  private active = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    this.loopDone = this.loop();
  }

  notify(): void {
    this.wake?.();
  }

  /** stops claiming, then waits for the executions in progress to finish their steps */
  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    await this.loopDone;
    await Promise.all(this.running);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const free = this.options.concurrency - this.active;
      let claimed: ExecutionRecord[] = [];
      if (free > 0) {
        try {
          claimed = await this.ctx.store.claimExecutions(free, this.options.leaseMs, this.ctx.now());
        } catch (err) {
          this.options.onError(err);
        }
      }
      for (const execution of claimed) {
        this.active++;
        const job = this.execute(execution).finally(() => {
          this.active--;
          this.running.delete(job);
          this.notify();
        });
        this.running.add(job);
      }
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

  private async execute(execution: ExecutionRecord): Promise<void> {
    const { store } = this.ctx;
    const flow = this.options.flowFor(execution);
    if (!flow) {
      await store.finishExecution(execution.id, 'failed', `flow "${execution.flowId}" is not loaded any more`, this.ctx.now().toISOString()).catch((err) => this.options.onError(err, execution));
      return;
    }
    const renew = setInterval(() => void store.renewLease(execution.id, this.options.leaseMs).catch((err) => this.options.onError(err, execution)), this.options.leaseMs / 3);
    const started = this.ctx.now();
    try {
      const contact = execution.input.contactId && this.options.contactFor ? await this.options.contactFor(execution.input.contactId) : null;
      const result = await runSteps(flow, {
        executionId: execution.id,
        scope: scopeOf(execution.input, contact),
        bindings: executionBindings(execution.id, flow),
        services: this.ctx.services(flow, execution.id),
        journal: await store.journal(execution.id),
        now: this.ctx.now,
        onStep: (entry) => store.appendJournal(redactSecrets(entry, flow.secrets)),
        respond: () => undefined,
      });
      const finished = this.ctx.now();
      await store.finishExecution(execution.id, result.status, result.error, finished.toISOString());
      this.ctx.metrics.execution(flow.id, 'async', result.status, (finished.getTime() - started.getTime()) / 1000);
    } catch (err) {
      // a storage failure: the lease runs out and the execution is claimed again, resuming from its journal
      this.options.onError(err, execution);
    } finally {
      clearInterval(renew);
    }
  }
}
