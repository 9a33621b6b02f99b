import type { ExecutionRecord, FieldChange } from '../store/types.ts';
import type { EventInput, EventSink } from './types.ts';

/**
 * The events the runtime emits itself (messages/events.ts builds `message` and `status`), built here so that the
 * pipeline and the worker each add one line.
 */

/** `variables`: contact fields a request changed (from mapFields' recorded changes). */
export function variablesEvent(flowId: string, contactId: string, changes: FieldChange[], ids: { executionId: string | null; logId: string | null }): EventInput {
  return {
    type: 'variables',
    flow: flowId,
    contactId,
    executionId: ids.executionId,
    logId: ids.logId,
    variables: Object.fromEntries(changes.map((c) => [c.field, c.newValue])),
    changes: changes.map((c) => ({ field: c.field, oldValue: c.oldValue, newValue: c.newValue })),
    time: changes[0]?.changedAt,
  };
}

/** `execution`: an execution finished (its run, from `started` to `finished`). */
export function executionEvent(
  flowId: string,
  execution: Pick<ExecutionRecord, 'id' | 'mode' | 'logId' | 'input'>,
  result: { status: string; error: string | null },
  started: Date,
  finished: Date,
): EventInput {
  return {
    type: 'execution',
    flow: flowId,
    executionId: execution.id,
    mode: execution.mode,
    outcome: result.status === 'failed' || result.status === 'stopped' ? result.status : 'completed',
    durationMs: finished.getTime() - started.getTime(),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    logId: execution.logId,
    contactId: execution.input.contactId,
    error: result.error,
    time: finished.toISOString(),
  };
}

/** Emits `execution`, building it only when a subscription wants it: it runs once per execution, wanted or not. */
export function emitExecution(events: EventSink, ...args: Parameters<typeof executionEvent>): void {
  if (events.wants?.({ type: 'execution', flow: args[0], channel: null }) === false) return;
  void events.emit(executionEvent(...args));
}

/** A sink that keeps what it is given: `hooks test` and unit tests. */
export function capturingSink(): EventSink & { events: EventInput[] } {
  const events: EventInput[] = [];
  return {
    events,
    emit(event) {
      events.push(event);
      return Promise.resolve();
    },
  };
}
