import type { CompiledFlow } from '../flow/compiled.ts';
import type { Answer } from '../common/scope.ts';
import type { EngineContext } from './context.ts';
import type { IncomingRequest } from './incoming.ts';
import { openRequest, rejectRequest, type RequestState } from './commit.ts';
import { passGates } from './gates.ts';
import { newExecution, readRequest, takeContact, takeInbound, type Intake } from './intake.ts';
import { onceByKey } from './dedupe.ts';
import { acceptAsync } from './accept.ts';
import { runSync } from './sync.ts';

export interface WebhookOptions {
  /** this request replays a logged one: it was verified then, so auth, signature, dedupe and rate limit are skipped */
  replayOf?: string;
  /** the id of the log entry this request gets (default: a new one) */
  logId?: string;
  /** why this request is here, for its log entry's reason (a replay the operator forced) */
  note?: string;
}

/**
 * The request path of one flow, stage by stage: the gates (enabled, method, rate limit, auth, size, content type,
 * parse, signature), the intake (variables, params, dedupe, identify, map, inbound), then accept (async: commit, then
 * answer) or sync (the run races its respond and the timeout). Every request that reaches a flow ends in the webhook
 * log; an answered async request has its log row and its job committed before the answer leaves.
 */
export async function handleWebhook(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, options: WebhookOptions = {}): Promise<Answer> {
  const state = openRequest(ctx, flow, req, options);
  if (options.note) state.notes = options.note;
  const trusted = options.replayOf !== undefined;
  const gate = passGates(ctx, flow, req, trusted, state.bodyText);
  if (!gate.ok) return rejectRequest(state, gate.status, gate.reason, gate.headers, gate.publicError);
  const read = await readRequest(state, gate.parsed, trusted);
  if (!read.ok) return read.answer;
  const { intake } = read;
  if (intake.dedupeKey === undefined) return proceed(state, intake);
  return onceByKey(state, intake.dedupeKey, () => proceed(state, intake));
}

/** The contact and the inbound message, then the execution: accepted (async) or run (sync). */
async function proceed(state: RequestState, intake: Intake): Promise<Answer> {
  const refused = (await takeContact(state, intake)) ?? (await takeInbound(state, intake));
  if (refused) return refused;
  const execution = newExecution(state, intake);
  return state.flow.mode === 'async' ? acceptAsync(state, execution, intake) : runSync(state, execution, intake);
}
