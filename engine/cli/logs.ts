import type { CommandContext } from './main.ts';
import type { ExecutionRecord, JournalEntry, LogEntry, LogOutcome, LogQuery, Store } from '../store/types.ts';
import { openStore } from '../store/open.ts';
import { LOG_OUTCOMES } from '../server/admin/shapes.ts';
import { shownLogEntry } from '../server/admin/logs.ts';
import { SINCE_PROBLEM, sinceTime } from './since.ts';

function line(e: LogEntry): string {
  const why = e.reason ? `  ${e.reason}` : '';
  return `${e.receivedAt}  ${e.status}  ${e.outcome.padEnd(9)}  ${e.flowId}  ${e.method} ${e.path}  ${e.durationMs} ms  ${e.id}${e.executionId ? ` ${e.executionId}` : ''}${why}`;
}

/**
 * `hooks logs [id]`: the webhook log from the engine's storage, newest last; --follow keeps printing new entries.
 * With an id: that entry whole (request, contact, answer) with its execution's journal, step by step.
 */
export const logsCommand = {
  summary: 'print the webhook log (--flow <id>, --status <code>, --outcome <outcome>, --since <time or 10m>, --limit <n>, --follow), or one entry with its execution (<id>); --format text|json',
  options: {
    flow: { type: 'string' as const },
    status: { type: 'string' as const },
    outcome: { type: 'string' as const },
    since: { type: 'string' as const },
    limit: { type: 'string' as const, default: '20' },
    follow: { type: 'boolean' as const },
    format: { type: 'string' as const, default: 'text' },
  },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const problem = usageProblem(values, positionals);
    if (problem) {
      ctx.err(`hooks logs: ${problem}`);
      return 2;
    }
    const json = values.format === 'json';
    const store = await openStore(ctx.config.storage.url);
    try {
      if (positionals.length === 1) return await showEntry(ctx, store, positionals[0], json);
      const filter = {
        flowId: values.flow as string | undefined,
        status: values.status === undefined ? undefined : Number(values.status),
        outcome: values.outcome as LogOutcome | undefined,
        since: values.since === undefined ? undefined : sinceTime(values.since as string),
      };
      return await listEntries(ctx, store, filter, { limit: Number(values.limit), follow: Boolean(values.follow), json });
    } finally {
      await store.close();
    }
  },
};

/** What is wrong with the options, if anything. */
function usageProblem(values: Record<string, unknown>, positionals: string[]): string | undefined {
  if (positionals.length > 1) return 'give at most one log id';
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) return '--limit must be a whole number above 0';
  if (values.format !== 'text' && values.format !== 'json') return '--format must be text or json';
  if (values.outcome !== undefined && !LOG_OUTCOMES.includes(values.outcome as LogOutcome)) return `--outcome must be one of ${LOG_OUTCOMES.join(', ')}`;
  const status = Number(values.status);
  if (values.status !== undefined && (!Number.isInteger(status) || status < 100 || status > 599)) return '--status must be an HTTP status code (100 to 599)';
  if (values.since !== undefined && sinceTime(values.since as string) === undefined) return SINCE_PROBLEM;
  if (values.follow && positionals.length === 1) return '--follow prints new entries of the list: leave out the log id';
  return undefined;
}

/** The list, newest last (JSON: one entry a line); --follow asks for newer entries every second until Ctrl-C. */
async function listEntries(ctx: CommandContext, store: Store, filter: Omit<LogQuery, 'limit'>, options: { limit: number; follow: boolean; json: boolean }): Promise<number> {
  const seen = new Set<string>();
  let since = filter.since;
  const print = (entries: LogEntry[]) => {
    for (const entry of [...entries].reverse()) {
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      ctx.out(options.json ? JSON.stringify(shownLogEntry(entry)) : line(entry));
      since = entry.receivedAt;
    }
  };
  print(await store.listLogs({ ...filter, limit: options.limit }));
  if (!options.follow) return 0;
  let stopped = false;
  process.once('SIGINT', () => (stopped = true));
  while (!stopped) {
    await new Promise((r) => setTimeout(r, 1_000));
    print(await store.listLogs({ ...filter, since, limit: 1_000 }));
  }
  return 0;
}

/** One entry with its execution and journal; an unknown id is one line and exit 1. */
async function showEntry(ctx: CommandContext, store: Store, id: string, json: boolean): Promise<number> {
  const entry = await store.getLog(id);
  if (!entry) {
    ctx.err(`hooks logs: no log entry ${id} (hooks logs lists them)`);
    return 1;
  }
  const execution = entry.executionId ? await store.getExecution(entry.executionId) : undefined;
  const journal = execution ? await store.journal(execution.id) : [];
  if (json) {
    // the request the execution keeps is the logged one: shown with the log's headers, credentials redacted
    const shown = execution && { ...execution, input: { ...execution.input, request: { ...execution.input.request, headers: entry.headers } }, journal };
    ctx.out(JSON.stringify({ ...shownLogEntry(entry), execution: shown ?? null }, null, 2));
    return 0;
  }
  for (const text of [...requestLines(entry), ...answerLines(entry), ...executionLines(entry, execution, journal)]) ctx.out(text);
  return 0;
}

const indent = (text: string) => text.split('\n').map((l) => `  ${l}`);
const valueText = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

function fieldLines(title: string, record: Record<string, unknown>): string[] {
  const entries = Object.entries(record);
  return entries.length === 0 ? [`${title}: none`] : [`${title}:`, ...entries.map(([name, value]) => `  ${name}: ${valueText(value)}`)];
}

function requestLines(entry: LogEntry): string[] {
  const { body } = shownLogEntry(entry);
  const bodyLines = body === null ? ['body: none'] : ['body:', ...indent(typeof body === 'string' ? body : JSON.stringify(body, null, 2))];
  if (entry.bodyTruncated) bodyLines.push(`  (only the start of the body was kept: ${Buffer.byteLength(entry.body ?? '')} bytes)`);
  return [
    `${entry.id}  received ${entry.receivedAt}`,
    `flow: ${entry.flowId} (revision ${entry.revision})`,
    `request: ${entry.method} ${entry.path}`,
    ...fieldLines('headers', entry.headers),
    ...fieldLines('query', entry.query),
    ...bodyLines,
  ];
}

function answerLines(entry: LogEntry): string[] {
  const how = entry.identification === 'created' ? 'created by this request' : `identified by ${entry.identification ?? 'nothing'}`;
  const lines = [entry.contactId ? `contact: ${entry.contactId}, ${how}` : `contact: none${entry.identification ? ` (${entry.identification})` : ''}`];
  lines.push(`answer: ${entry.status} ${entry.outcome}${entry.reason ? `: ${entry.reason}` : ''} (${entry.durationMs} ms)`);
  if (entry.replayOf) lines.push(`replay of ${entry.replayOf}`);
  if (entry.duplicateOf) lines.push(`duplicate of ${entry.duplicateOf}: answered as the first copy, not run again`);
  return lines;
}

function executionLines(entry: LogEntry, execution: ExecutionRecord | undefined, journal: JournalEntry[]): string[] {
  if (!execution) return [entry.executionId ? `execution ${entry.executionId}: no longer stored` : 'execution: none'];
  const took = execution.startedAt && execution.finishedAt ? ` in ${Date.parse(execution.finishedAt) - Date.parse(execution.startedAt)} ms` : '';
  const lines = [`execution ${execution.id} (${execution.mode}): ${execution.status}${took}, ${execution.attempts} attempt${execution.attempts === 1 ? '' : 's'}`];
  if (execution.error) lines.push(`  error: ${execution.error}`);
  if (journal.length === 0) lines.push('  no steps journaled');
  journal.forEach((step, i) => lines.push(`  ${i + 1}. ${step.stepId}  ${step.kind}  ${step.durationMs} ms  ${clip(stepSummary(step))}`));
  return lines;
}

const clip = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The fields of the step results (engine/steps/*.ts) that a summary names; each kind has some of them. */
interface StepResultFields {
  ok?: boolean;
  status?: number | string | null;
  error?: { kind?: string; message?: string } | null;
  request?: { method: string | null; url: string | null };
  messageId?: string | null;
  case?: number | null;
  matched?: string | null;
  reason?: string | null;
}

/** What a journaled step did, in a few words: the call and its answer, the case taken, the message sent, ... */
function stepSummary(step: JournalEntry): string {
  const r = (step.result ?? {}) as StepResultFields;
  switch (step.kind) {
    case 'http': {
      const call = r.request?.url ? `${r.request.method ?? 'GET'} ${r.request.url}` : 'not sent';
      return `${call}${r.status == null ? '' : ` → ${r.status}`}${r.error ? ` ${r.error.kind}: ${r.error.message}` : ''}`;
    }
    case 'send':
      return r.ok ? `${r.status} ${r.messageId}` : `failed${r.messageId ? ` ${r.messageId}` : ''}: ${r.error?.message ?? 'no reason given'}`;
    case 'branch':
      return typeof r.case === 'number' ? `took case ${r.case + 1} (${r.matched})` : 'no case matched';
    case 'set':
      return Object.entries(step.result ?? {}).map(([name, value]) => `${name} = ${JSON.stringify(value)}`).join(', ') || 'nothing set';
    case 'respond':
      return `answered ${r.status}`;
    case 'stop':
      return `stopped${r.reason ? `: ${r.reason}` : ''}`;
    default:
      return JSON.stringify(step.result) ?? '';
  }
}
