import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { StepServices } from '../steps/types.ts';
import type { Store } from '../store/types.ts';
import type { Metrics } from '../common/metrics.ts';
import type { EventSink } from '../events/types.ts';

/** What running an execution needs: the engine's parts, as the request path, the worker and `hooks test` provide them. */
export interface ExecutionContext {
  config: EngineConfig;
  store: Store;
  services(flow: CompiledFlow, executionId: string): StepServices;
  metrics: Metrics;
  now(): Date;
  newId(prefix: string): string;
  /** the engine's events: stored with one delivery per matching subscription (see engine/events) */
  events: EventSink;
}
