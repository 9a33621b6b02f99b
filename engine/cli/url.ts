import { resolve } from 'node:path';
import type { CommandContext } from './main.ts';
import type { EngineConfig } from '../config/load.ts';
import { formatProblem } from '../schema/problem.ts';
import { loadFlowFile } from '../flow/load.ts';
import { callerUrl } from '../flow/route.ts';
import { findFlow } from './graph.ts';

/**
 * `hooks url <flow id or file>`: the full URL a partner calls (server.publicUrl, basePath, route and, for a token
 * route, the token itself). The URL goes to stdout only, alone on its line, so that it can be piped; every note goes
 * to stderr, and nothing is logged.
 */
export const urlCommand = {
  summary: 'print the URL a partner calls for a flow (by id or file), its URL token included; stdout only',
  options: {},
  async run(ctx: CommandContext, _values: Record<string, unknown>, positionals: string[]): Promise<number> {
    if (positionals.length !== 1) {
      ctx.err('hooks url: give one flow id or flow file, e.g. hooks url booking-confirmation');
      return 2;
    }
    const found = await findFlow(positionals[0], ctx.config.flows.dir);
    if (!found.ok) {
      ctx.err(`hooks url: ${found.message}`);
      return 2;
    }
    // compiled as the engine serves it: the token is the value its ${env:} reference resolves to here
    const loaded = await loadFlowFile(resolve(found.file), found.file, ctx.config);
    if (!loaded.ok) {
      for (const p of loaded.problems) ctx.err(formatProblem(p));
      return 1;
    }
    const { flow } = loaded;
    const { origin, note } = originOf(ctx.config);
    if (note) ctx.err(`hooks url: ${note}`);
    if (!flow.enabled) ctx.err(`hooks url: flow ${flow.id} is disabled (enabled: false): it answers 503 until enabled`);
    ctx.out(callerUrl(origin, ctx.config.server.basePath, flow));
    return 0;
  },
};

/** Where partners reach the engine: server.publicUrl, else the address it listens on, with a note saying so. */
function originOf(config: EngineConfig): { origin: string; note?: string } {
  if (config.server.publicUrl) return { origin: config.server.publicUrl };
  const { host, port } = config.server;
  const local = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  return { origin: local, note: `server.publicUrl is not set (hooks.config.yaml reads HOOKS_PUBLIC_URL): ${local} is where this machine reaches the engine; set it to the address partners reach` };
}
