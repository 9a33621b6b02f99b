import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { EngineContext } from '../request/context.ts';
import type { StepServices } from '../steps/types.ts';
import type { Store } from '../store/types.ts';
import type { Test } from '../types/flow.ts';
import type { HttpError, OutgoingRequest, OutgoingResult } from '../http/request.ts';
import { appendParams, sendRequest } from '../http/request.ts';
import { openSqliteStore } from '../store/sqlite/store.ts';
import { Metrics } from '../common/metrics.ts';
import { RateLimiter } from '../trust/rate-limit.ts';
import { capturingSink } from '../events/producers.ts';
import type { EventInput } from '../events/types.ts';

/** The clock every flow test runs on: results do not depend on the day the tests run. */
export const TEST_CLOCK = new Date('2026-01-01T09:00:00.000Z');

export interface CapturedMessage {
  stepId: string;
  channel: string;
  [field: string]: string | undefined;
}

export interface Harness {
  ctx: EngineContext;
  store: Store;
  sent: CapturedMessage[];
  /** every outgoing request an http step made or, in a dry run, would have made (the URL with its query) */
  calls: OutgoingCall[];
  /** every event the run emitted (execution, variables, ...), captured instead of stored for subscriptions */
  events: EventInput[];
  /** problems with the test itself (an http step without a mock) */
  problems: string[];
  /** sync runs still going after their answer (see AcceptedRunner.follow) */
  tails: Promise<void>[];
}

export interface OutgoingCall {
  stepId: string;
  method: string;
  url: string;
  /** in a dry run: whether the step got a recorded answer, or none (then it failed, not sent) */
  recorded?: boolean;
}

export interface HarnessOptions {
  /** a dry run: http steps get these answers by step id (a replay's original answers); a step without one fails */
  dryRun?: { answers: ReadonlyMap<string, OutgoingResult> };
}

/**
 * A throw-away engine for one test: an in-memory store, a fixed clock, counting ids, http steps answered by the
 * test's mocks (or really sent with `real: true`), and channel messages captured instead of sent.
 */
export async function createHarness(config: EngineConfig, flow: CompiledFlow, test: Test, options: HarnessOptions = {}): Promise<Harness> {
  const store = await openSqliteStore(':memory:', { now: () => TEST_CLOCK });
  const sent: CapturedMessage[] = [];
  const problems: string[] = [];
  const calls: Harness['calls'] = [];
  const tails: Promise<void>[] = [];
  const counters = new Map<string, number>();
  const mocks = test.mocks ?? {};

  const services: StepServices = {
    async http(stepId, request): Promise<OutgoingResult> {
      const mock = mocks[stepId];
      const call: OutgoingCall = { stepId, method: request.method ?? 'GET', url: urlOf(request) };
      calls.push(call);
      if (mock?.real) return sendRequest(request);
      if (!mock && options.dryRun) {
        const recorded = options.dryRun.answers.get(stepId);
        call.recorded = recorded !== undefined;
        return recorded ?? { ok: false, headers: {}, body: null, error: { kind: 'BadRequest', message: 'dry run: no recorded answer, not sent' }, durationMs: 0 };
      }
      if (!mock) {
        problems.push(`http step "${stepId}" has no mock in this test: add mocks.${stepId} with status and body, an error, or real: true`);
        return { ok: false, headers: {}, body: null, error: { kind: 'BadRequest', message: 'no mock in this test' }, durationMs: 0 };
      }
      if (mock.error) return { ok: false, headers: {}, body: null, error: { kind: mock.error.kind, message: mock.error.message ?? `mocked ${mock.error.kind}` } as HttpError, durationMs: 0 };
      const status = mock.status ?? 200;
      const ok = status >= 200 && status < 300;
      const headers = Object.fromEntries(Object.entries(mock.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return { ok, status, headers, body: mock.body ?? null, error: ok ? undefined : { kind: 'BadResponse', message: `server answered ${status}` }, durationMs: 0 };
    },
    async send(stepId, { channel, message }) {
      sent.push({ stepId, channel, ...message });
      return { messageId: `msg_test${sent.length}`, providerId: null, status: 'captured' };
    },
  };

  const events = capturingSink();
  const ctx: EngineContext = {
    config,
    events,
    store,
    metrics: new Metrics(),
    limiter: new RateLimiter(),
    services: () => services,
    // `hooks test` runs queued executions and waits for sync tails itself (engine/testing/run.ts)
    worker: { reserve: () => false, takeSlot: () => false, runInSlot: () => undefined, runReserved: () => undefined, notify: () => undefined, follow: (_id, run) => void tails.push(run) },
    now: () => TEST_CLOCK,
    newId: (prefix) => {
      const n = (counters.get(prefix) ?? 0) + 1;
      counters.set(prefix, n);
      return `${prefix}_test${n}`;
    },
  };
  return { ctx, store, sent, calls, problems, tails, events: events.events };
}

/** The URL a request goes to, with its query as it would be sent; as given when it is not a valid URL. */
function urlOf(request: OutgoingRequest): string {
  const given = request.url ?? '';
  const { query } = request;
  if (typeof query !== 'object' || query === null || Array.isArray(query)) return given;
  try {
    const url = new URL(given.trim());
    appendParams(url.searchParams, query);
    return url.href;
  } catch {
    return given;
  }
}
