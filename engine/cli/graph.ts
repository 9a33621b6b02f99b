import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandContext } from './main.ts';
import { displayPath, listFlowFiles } from '../flow/directory.ts';
import { formatProblem } from '../schema/problem.ts';
import { parseYamlText } from '../schema/document.ts';
import { readFlowDefinition } from '../plan/definitions.ts';
import { buildFlowGraph } from '../graph/build.ts';
import { renderDot, renderMermaid } from '../graph/render.ts';

const FORMATS = ['mermaid', 'dot'] as const;

/** `hooks graph <flow id or file>`: the flow as a Mermaid (default) or Graphviz diagram. */
export const graphCommand = {
  summary: 'draw a flow (by id or file) as a diagram; --format mermaid|dot',
  options: { format: { type: 'string' as const, default: 'mermaid' } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const format = values.format as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) {
      ctx.err(`hooks graph: --format must be one of ${FORMATS.join(', ')}`);
      return 2;
    }
    if (positionals.length !== 1) {
      ctx.err('hooks graph: give one flow id or flow file, e.g. hooks graph booking-confirmation');
      return 2;
    }
    const found = await findFlow(positionals[0], ctx.config.flows.dir);
    if (!found.ok) {
      ctx.err(`hooks graph: ${found.message}`);
      return 2;
    }
    const read = readFlowDefinition(found.text, found.file);
    if (!read.ok) {
      for (const p of read.problems) ctx.err(formatProblem(p));
      return 1;
    }
    const graph = buildFlowGraph(read.flow, ctx.config.server.basePath);
    ctx.out(format === 'dot' ? renderDot(graph) : renderMermaid(graph));
    return 0;
  },
};

type Found = { ok: true; file: string; text: string } | { ok: false; message: string };

/** An existing file path is that file; anything else is a flow id looked up in the flows folder. */
export async function findFlow(target: string, flowsDir: string): Promise<Found> {
  const asPath = resolve(target);
  if ((await stat(asPath).catch(() => undefined))?.isFile()) return { ok: true, file: displayPath(asPath), text: await readFile(asPath, 'utf8') };
  if (/\.ya?ml$/.test(target) || target.includes('/')) return { ok: false, message: `no such file: ${target}` };
  const files = (await stat(flowsDir).catch(() => undefined))?.isDirectory() ? await listFlowFiles(flowsDir) : [];
  const ids: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const parsed = parseYamlText(text, file);
    const named = parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? (parsed.value as { id?: unknown }).id : undefined;
    const id = typeof named === 'string' ? named : undefined;
    if (id === target) return { ok: true, file: displayPath(file), text };
    if (id) ids.push(id);
  }
  const known = ids.length > 0 ? `; flows there: ${ids.sort().join(', ')}` : '';
  return { ok: false, message: `no flow with id "${target}" in ${displayPath(flowsDir)}${known}` };
}
