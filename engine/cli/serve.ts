import type { CommandContext } from './main.ts';
import { listFlowFiles, loadFlowFiles } from '../flow/directory.ts';
import { formatProblem } from '../schema/problem.ts';

export const serveCommand = {
  summary: 'serve the flows as webhook routes',
  options: { port: { type: 'string' as const }, host: { type: 'string' as const }, 'no-watch': { type: 'boolean' as const } },
  async run(ctx: CommandContext): Promise<number> {
    const outcomes = await loadFlowFiles(await listFlowFiles(ctx.config.flows.dir), ctx.config);
    for (const o of outcomes) {
      if (o.flow) ctx.out(`loaded ${o.flow.id} (${o.flow.mode}) from ${o.flow.file}`);
      for (const p of o.problems) ctx.err(formatProblem(p));
    }
    return 0;
  },
};
