import type { ExecutionRecord, FieldChange, OutboxEvent } from '../store/types.ts';
import type { EventInput, EventSink } from './types.ts';

/**
 * The events the runtime produces itself (messages/events.ts builds `message` and `status`), built here so that the
 * pipeline and the worker each add one line.
 */

/** The fields changes set: field -> new value (a `variables` event's `variables`). */
export function changedFields(changes: FieldChange[]): Record<string, unknown> {
  return Object.fromEntries(changes.map((c) => [c.field, c.newValue]));
}

/** `variables`: contact fields a request changed (from mapFields' recorded changes). */
export function variablesEvent(flowId: string, contactId: string, changes: FieldChange[], ids: { executionId: string | null; logId: string | null }): EventInput {
  return {
    type: 'variables',
    flow: flowId,
    contactId,
    executionId: ids.executionId,
    logId: ids.logId,
    variables: changedFields(changes),
    changes: changes.map((c) => ({ field: c.field, oldValue: c.oldValue, newValue: c.newValue })),
    time: changes[0]?.changedAt,
  };
}

/**
 * The id of an execution's `execution` event, derived from the execution's: a finish committed twice (two processes
 * that both ran it, one past its lease) is one event, and the store keeps the first.
 */
export function executionEventId(executionId: string): string {
  return `evt_${executionId}`;
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
    id: executionEventId(execution.id),
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

/**
 * `execution`'s rows for the finish to commit, building the event only when a subscription wants it: this runs once
 * per execution, wanted or not.
 */
export function executionOutbox(events: EventSink, ...args: Parameters<typeof executionEvent>): OutboxEvent[] {
  if (events.wants?.({ type: 'execution', flow: args[0], channel: null }) === false) return [];
  const prepared = events.prepare(executionEvent(...args));
  return prepared ? [prepared] : [];
}

/** A sink that keeps what it is given instead of storing it: `hooks test` and unit tests. */
export function capturingSink(): EventSink & { events: EventInput[] } {
  const events: EventInput[] = [];
  return {
    events,
    prepare(event) {
      events.push(event);
      return undefined;
    },
    emit(event) {
      events.push(event);
      return Promise.resolve();
    },
  };
}
