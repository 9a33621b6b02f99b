import type { CommandContext } from './main.ts';
import { createPlan, GitError } from '../plan/plan.ts';
import { PLAN_FORMATS, renderPlan, type PlanFormat } from '../plan/render.ts';

/** `hooks plan`: what the flows in the working tree change against a git ref; informational, so exit 0. */
export const planCommand = {
  summary: 'show what changed flows do to routes, auth, responses, steps and calls (--base <ref>, --format text|markdown|json)',
  options: { base: { type: 'string' as const }, format: { type: 'string' as const, default: 'text' } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const format = values.format as PlanFormat;
    if (!PLAN_FORMATS.includes(format)) {
      ctx.err(`hooks plan: --format must be one of ${PLAN_FORMATS.join(', ')}`);
      return 2;
    }
    if (positionals.length > 0) {
      ctx.err('hooks plan: takes no paths; it compares the flows folder of the config (--config) with --base <ref>');
      return 2;
    }
    let plan;
    try {
      plan = await createPlan({ cwd: ctx.config.dir, flowsDir: ctx.config.flows.dir, basePath: ctx.config.server.basePath, base: values.base as string | undefined });
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      ctx.err(`hooks plan: ${err.message}`);
      return 2;
    }
    ctx.out(renderPlan(plan, format));
    return 0;
  },
};
