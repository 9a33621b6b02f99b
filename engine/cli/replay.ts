import type { CommandContext } from './main.ts';
import { openStore } from '../store/open.ts';
import { listFlowFiles } from '../flow/directory.ts';
import { loadFlowFiles } from '../flow/loader.ts';
import type { JournalEntry, LogEntry } from '../store/types.ts';
import { dryRunReplay, type DryRunCall } from '../testing/dry-run.ts';
import { replayTrust, type ReplayTrust } from '../request/replay.ts';

/**
 * `hooks replay <log id>`: asks the running engine to run a logged request again through the current version of its
 * flow (a new execution, marked as a replay). `--dry-run` instead shows here what would happen, with the flow tests'
 * machinery: nothing is sent, stored or called; http steps get the answers the original run recorded. A request that
 * was rejected (a wrong signature, a wrong password) is replayed, or dry-run, only with `--include-rejected`, since a
 * replay skips the checks it failed.
 */
export const replayCommand = {
  summary: 'run a logged request again through the current flow (--dry-run: show what would happen; --url of the engine; --include-rejected: also one that was rejected)',
  options: { 'dry-run': { type: 'boolean' as const }, url: { type: 'string' as const }, 'include-rejected': { type: 'boolean' as const } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const [id] = positionals;
    if (!id || positionals.length > 1) {
      ctx.err('hooks replay: give one log id (hooks logs shows them)');
      return 2;
    }
    const force = values['include-rejected'] === true;
    return values['dry-run'] ? dryRun(ctx, id, force) : replayOnEngine(ctx, id, values.url as string | undefined, force);
  },
};

async function replayOnEngine(ctx: CommandContext, id: string, url: string | undefined, force: boolean): Promise<number> {
  const { admin, server } = ctx.config;
  if (!admin.token) {
    ctx.err('hooks replay: the engine\'s admin API is off; set admin.token in the config (or use --dry-run)');
    return 2;
  }
  const base = url ?? `http://127.0.0.1:${server.port}`;
  let res: Response;
  try {
    const forced = force ? '?force=rejected' : '';
    res = await fetch(`${base}/api/logs/${encodeURIComponent(id)}/replay${forced}`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` } });
  } catch (err) {
    ctx.err(`hooks replay: the engine at ${base} did not answer (${(err as Error).message}); is it running? (--url)`);
    return 2;
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; log?: string; execution?: string | null; forced?: boolean; answer?: { status: number } };
  if (!res.ok) {
    ctx.err(`hooks replay: ${body.error ?? `the engine answered ${res.status}`}`);
    return 1;
  }
  ctx.out(`replayed ${id} as ${body.log}${body.execution ? ` (execution ${body.execution})` : ''}: answered ${body.answer?.status}${body.forced ? ` (${FORCED})` : ''}`);
  return 0;
}

const FORCED = 'a rejected request, replayed because --include-rejected says so';

async function dryRun(ctx: CommandContext, id: string, force: boolean): Promise<number> {
  const store = await openStore(ctx.config.storage.url);
  let entry: LogEntry | undefined;
  let journal: JournalEntry[] = [];
  let trust: ReplayTrust = { checked: true };
  try {
    entry = await store.getLog(id);
    // the original run's journal holds its http steps' answers: the dry run answers them the same way
    if (entry?.executionId) journal = await store.journal(entry.executionId);
    if (entry) trust = await replayTrust(entry, (other) => store.getLog(other));
  } finally {
    await store.close();
  }
  if (!entry) {
    ctx.err(`hooks replay: no log entry ${id}`);
    return 1;
  }
  if (!trust.checked && !force) {
    ctx.err(`hooks replay: ${trust.reason}`);
    return 1;
  }
  const flowId = entry.flowId;
  const outcome = (await loadFlowFiles(await listFlowFiles(ctx.config.flows.dir), ctx.config)).find((o) => o.flow?.id === flowId);
  if (!outcome?.flow) {
    ctx.err(`hooks replay: flow "${flowId}" is not in ${ctx.config.flows.dir} (or does not load: hooks validate)`);
    return 1;
  }
  const { flow } = outcome;
  const dry = await dryRunReplay(ctx.config, flow, entry, journal);
  if (!dry.ok) {
    ctx.err(`hooks replay: ${dry.reason}`);
    return 1;
  }
  const { answer, steps, calls, sent, unknown } = dry.run;
  ctx.out(`dry run of ${id} on flow ${flow.id} (revision ${flow.revision}): nothing is sent or stored`);
  if (!trust.checked) ctx.out(`forced: ${FORCED}; the real replay's log entry says "${trust.note}"`);
  ctx.out(`answer: ${answer.status} ${JSON.stringify(answer.body)}`);
  ctx.out(`steps: ${steps.join(', ') || 'none'}`);
  for (const call of calls) ctx.out(`would call: ${call.method} ${call.url} (step ${call.stepId}): ${answered(call)}`);
  for (const { stepId, channel, ...message } of sent) ctx.out(`would send on ${channel}: ${JSON.stringify(message)} (step ${stepId})`);
  if (unknown.length > 0) {
    ctx.out(`not known: ${unknown.join(', ')} (no answer in the original run's journal: the dry run took ${unknown.length === 1 ? 'it' : 'them'} as failed)`);
  }
  return 0;
}

/** How a dry run's call was answered: the original run's answer, or none. */
function answered(call: DryRunCall): string {
  const { recorded } = call;
  if (!recorded) return 'no recorded answer, taken as failed';
  const what = recorded.status === null ? `failed (${recorded.error})` : `answered ${recorded.status}${recorded.error ? ` (${recorded.error})` : ''}`;
  return `${what} as in the original run${recorded.calledUrl ? ` (which called ${recorded.calledUrl})` : ''}`;
}
