import type { ExecutionRecord } from '../store/types.ts';
import type { RateLimiter } from '../trust/rate-limit.ts';
import type { ExecutionContext } from '../execution/context.ts';
import type { RunResult } from '../execution/interpreter.ts';

/** What the request path needs besides what an execution needs: the worker it hands accepted executions to, the rate limiter. */
export interface EngineContext extends ExecutionContext {
  /** the async worker, as the pipeline hands it accepted executions */
  worker: AcceptedRunner;
  limiter: RateLimiter;
}

/** The async worker as the pipeline sees it (engine/execution/worker.ts). */
export interface AcceptedRunner {
  /** true: the accepted execution is committed as claimed by this process, which runs it without a claim round */
  reserve(): boolean;
  /** after the commit of a reserved execution: runs it, or (undefined: the commit failed) gives its place back */
  runReserved(execution: ExecutionRecord | undefined): void;
  /** true: a slot is free now, taken for an execution the request path starts itself before its commit */
  takeSlot(): boolean;
  /** after that execution's commit: its run (undefined result: it did not run on), whose lease is renewed until it ends */
  runInSlot(execution: ExecutionRecord, run: Promise<RunResult | undefined>): void;
  /** wakes the claim loop after an execution was committed queued */
  notify(): void;
  /**
   * a sync execution that goes on after its answer, committed leased to this process: the lease is renewed until `run`
   * settles, and shutdown waits for it
   */
  follow(executionId: string, run: Promise<void>): void;
}
