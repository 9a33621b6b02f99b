import type { CommandContext } from './main.ts';
import type { LogEntry } from '../store/types.ts';
import { openStore } from '../store/open.ts';

function line(e: LogEntry): string {
  const why = e.reason ? `  ${e.reason}` : '';
  return `${e.receivedAt}  ${e.status}  ${e.outcome.padEnd(9)}  ${e.flowId}  ${e.method} ${e.path}  ${e.durationMs} ms  ${e.id}${e.executionId ? ` ${e.executionId}` : ''}${why}`;
}

/** `hooks logs`: the webhook log from the engine's storage, newest last; --follow keeps printing new entries. */
export const logsCommand = {
  summary: 'print the webhook log (--flow <id>, --status <code>, --limit <n>, --follow)',
  options: { flow: { type: 'string' as const }, status: { type: 'string' as const }, limit: { type: 'string' as const, default: '20' }, follow: { type: 'boolean' as const } },
  async run(ctx: CommandContext, values: Record<string, unknown>): Promise<number> {
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      ctx.err('hooks logs: --limit must be a whole number above 0');
      return 2;
    }
    const store = await openStore(ctx.config.storage.url);
    const filter = { flowId: values.flow as string | undefined, status: values.status ? Number(values.status) : undefined };
    try {
      const seen = new Set<string>();
      let since: string | undefined;
      const print = (entries: LogEntry[]) => {
        for (const entry of [...entries].reverse()) {
          if (seen.has(entry.id)) continue;
          seen.add(entry.id);
          ctx.out(line(entry));
          since = entry.receivedAt;
        }
      };
      print(await store.listLogs({ ...filter, limit }));
      if (!values.follow) return 0;
      let stopped = false;
      process.once('SIGINT', () => (stopped = true));
      while (!stopped) {
        await new Promise((r) => setTimeout(r, 1_000));
        print(await store.listLogs({ ...filter, since, limit: 1_000 }));
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};
