import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { Answer } from '../common/scope.ts';
import type { JournalEntry, LogEntry } from '../store/types.ts';
import type { HttpStepResult } from '../steps/http.ts';
import type { OutgoingResult } from '../http/request.ts';
import { redactUrl } from '../http/request.ts';
import { redactSecrets } from '../common/redact.ts';
import { requestFromLog } from '../request/replay.ts';
import { handleWebhook } from '../request/handle.ts';
import { createHarness, type CapturedMessage } from './harness.ts';
import { finishWork } from './run.ts';

/** What an http step of the original run was answered, and the call it made (URL redacted as journaled). */
interface Recorded {
  answer: OutgoingResult;
  method: string | null;
  url: string;
}

export interface DryRunCall {
  stepId: string;
  method: string;
  /** with its query; `${env:}` secrets removed */
  url: string;
  /**
   * the original run's answer (status, the error's kind and message), and the call it answered when that was another
   * (method and URL as journaled, query values masked); null: none recorded, the step failed as not sent
   */
  recorded: { status: number | null; error: string | null; calledUrl: string | null } | null;
}

/** What a replay would do, nothing sent or stored; every value with the flow's `${env:}` secrets removed. */
export interface DryRun {
  answer: Answer;
  /** the steps that ran, in order */
  steps: string[];
  calls: DryRunCall[];
  sent: CapturedMessage[];
  /** http steps the dry run could not know: no answer of theirs in the original run's journal */
  unknown: string[];
}

/**
 * Runs a logged request again through `flow` with the flow tests' machinery: http steps get the answers the original
 * run recorded in its journal (`journal`), so the dry run takes the branches the real replay would; a step without a
 * recorded answer (not run the first time, or new in the flow) fails as not sent, and is named in `unknown`.
 */
export async function dryRunReplay(config: EngineConfig, flow: CompiledFlow, entry: LogEntry, journal: JournalEntry[]): Promise<{ ok: true; run: DryRun } | { ok: false; reason: string }> {
  const recorded = recordedCalls(journal);
  const answers = new Map([...recorded].map(([stepId, r]) => [stepId, r.answer]));
  const harness = await createHarness(config, flow, { name: 'dry run' }, { dryRun: { answers } });
  try {
    const request = requestFromLog(entry, harness.ctx.now());
    if (!request.ok) return request;
    const answer = await handleWebhook(harness.ctx, flow, request.request, { replayOf: entry.id });
    await finishWork(harness, flow);
    const [log] = await harness.store.listLogs({ limit: 1 });
    const steps = log?.executionId ? (await harness.store.journal(log.executionId)).map((e) => e.stepId) : [];
    const calls = harness.calls.map((call): DryRunCall => {
      const original = call.recorded ? recorded.get(call.stepId) : undefined;
      const journaledUrl = redactSecrets(redactUrl(call.url), flow.secrets);
      return { stepId: call.stepId, method: call.method, url: withoutUserinfo(call.url), recorded: original ? summary(original, call.method, journaledUrl) : null };
    });
    const unknown = calls.filter((c) => c.recorded === null).map((c) => c.stepId);
    return { ok: true, run: redactSecrets({ answer, steps, calls, sent: harness.sent, unknown }, flow.secrets) };
  } finally {
    await harness.store.close();
  }
}

/** The http steps' answers in an execution's journal, as the step's request would return them again. */
function recordedCalls(journal: JournalEntry[]): Map<string, Recorded> {
  const recorded = new Map<string, Recorded>();
  for (const entry of journal) {
    if (entry.kind !== 'http' || typeof entry.result !== 'object' || entry.result === null) continue;
    const result = entry.result as HttpStepResult;
    // no URL: the step failed before any request (a template that did not render); there is no answer to reuse
    if (typeof result.request?.url !== 'string') continue;
    // a KeyError is the step's own `save:` finding nothing in a good answer: the answer itself was ok
    const saveFailed = result.error?.kind === 'KeyError';
    const answer: OutgoingResult = {
      ok: saveFailed || result.ok,
      status: result.status ?? undefined,
      headers: result.headers ?? {},
      body: result.body ?? null,
      error: saveFailed ? undefined : (result.error ?? undefined),
      durationMs: result.request.durationMs ?? 0,
    };
    recorded.set(entry.stepId, { answer, method: result.request.method, url: result.request.url });
  }
  return recorded;
}

/** The recorded answer; `calledUrl` only when the original call went elsewhere (the flow changed since). */
function summary(original: Recorded, method: string, journaledUrl: string): NonNullable<DryRunCall['recorded']> {
  const { status, error } = original.answer;
  const same = (original.method ?? 'GET') === method && original.url === journaledUrl;
  return { status: status ?? null, error: error ? `${error.kind}: ${error.message}` : null, calledUrl: same ? null : `${original.method ?? 'GET'} ${original.url}` };
}

/** Userinfo and fragment off, the query kept: the call as it would go, for the person running the dry run. */
function withoutUserinfo(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return redactUrl(url);
  }
}
