import type { CommandContext } from './main.ts';
import { openStore } from '../store/open.ts';
import { listFlowFiles } from '../flow/directory.ts';
import { loadFlowFiles } from '../flow/loader.ts';
import { requestFromLog } from '../request/replay.ts';
import { handleWebhook } from '../request/handle.ts';
import { redactUrl } from '../http/request.ts';
import { redactSecrets } from '../common/redact.ts';
import { createHarness } from '../testing/harness.ts';
import { finishWork } from '../testing/run.ts';

/**
 * `hooks replay <log id>`: asks the running engine to run a logged request again through the current version of its
 * flow (a new execution, marked as a replay). `--dry-run` instead shows here what would happen, with the flow tests'
 * machinery: nothing is sent, stored or called.
 */
export const replayCommand = {
  summary: 'run a logged request again through the current flow (--dry-run: show what would happen; --url of the engine)',
  options: { 'dry-run': { type: 'boolean' as const }, url: { type: 'string' as const } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const [id] = positionals;
    if (!id || positionals.length > 1) {
      ctx.err('hooks replay: give one log id (hooks logs shows them)');
      return 2;
    }
    return values['dry-run'] ? dryRun(ctx, id) : replayOnEngine(ctx, id, values.url as string | undefined);
  },
};

async function replayOnEngine(ctx: CommandContext, id: string, url: string | undefined): Promise<number> {
  const { admin, server } = ctx.config;
  if (!admin.token) {
    ctx.err('hooks replay: the engine\'s admin API is off; set admin.token in the config (or use --dry-run)');
    return 2;
  }
  const base = url ?? `http://127.0.0.1:${server.port}`;
  let res: Response;
  try {
    res = await fetch(`${base}/api/logs/${encodeURIComponent(id)}/replay`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` } });
  } catch (err) {
    ctx.err(`hooks replay: the engine at ${base} did not answer (${(err as Error).message}); is it running? (--url)`);
    return 2;
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; log?: string; execution?: string | null; answer?: { status: number } };
  if (!res.ok) {
    ctx.err(`hooks replay: ${body.error ?? `the engine answered ${res.status}`}`);
    return 1;
  }
  ctx.out(`replayed ${id} as ${body.log}${body.execution ? ` (execution ${body.execution})` : ''}: answered ${body.answer?.status}`);
  return 0;
}

async function dryRun(ctx: CommandContext, id: string): Promise<number> {
  const store = await openStore(ctx.config.storage.url);
  const entry = await store.getLog(id).finally(() => store.close());
  if (!entry) {
    ctx.err(`hooks replay: no log entry ${id}`);
    return 1;
  }
  const outcome = (await loadFlowFiles(await listFlowFiles(ctx.config.flows.dir), ctx.config)).find((o) => o.flow?.id === entry.flowId);
  if (!outcome?.flow) {
    ctx.err(`hooks replay: flow "${entry.flowId}" is not in ${ctx.config.flows.dir} (or does not load: hooks validate)`);
    return 1;
  }
  const flow = outcome.flow;
  const harness = await createHarness(ctx.config, flow, { name: 'dry run' }, { dryRun: true });
  try {
    const request = requestFromLog(entry, harness.ctx.now());
    if (!request.ok) {
      ctx.err(`hooks replay: ${request.reason}`);
      return 1;
    }
    const answer = await handleWebhook(harness.ctx, flow, request.request, { replayOf: id });
    await finishWork(harness, flow);
    const [log] = await harness.store.listLogs({ limit: 1 });
    const journal = log?.executionId ? await harness.store.journal(log.executionId) : [];
    ctx.out(`dry run of ${id} on flow ${flow.id} (revision ${flow.revision}): nothing is sent or stored`);
    ctx.out(`answer: ${answer.status} ${JSON.stringify(redactSecrets(answer.body, flow.secrets))}`);
    ctx.out(`steps: ${journal.map((e) => e.stepId).join(', ') || 'none'}`);
    for (const call of harness.calls) ctx.out(`would call: ${call.method} ${redactSecrets(redactUrl(call.url), flow.secrets)} (step ${call.stepId})`);
    for (const { stepId, channel, ...message } of harness.sent) ctx.out(`would send on ${channel}: ${JSON.stringify(redactSecrets(message, flow.secrets))} (step ${stepId})`);
    return 0;
  } finally {
    await harness.store.close();
  }
}
