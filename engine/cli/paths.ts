import { readFile, realpath, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandContext } from './main.ts';
import { flowsFolder, readNamedSample } from '../flow/sample.ts';
import { displayPath } from '../flow/directory.ts';
import { loadFlowFile } from '../flow/load.ts';
import { formatProblem } from '../schema/problem.ts';
import { parseQuery, preview, samplePaths, type PathRow, type SampleParts } from '../authoring/paths.ts';
import { addParams, existingParams } from '../authoring/params-block.ts';

const USAGE = 'give a sample JSON file (in the flows folder), a URL or a query string, e.g. hooks paths flows/samples/booking.json';

/** `hooks paths <sample | URL | query string> [--into <flow>]`: the params a flow could read, each with an alias. */
export const pathsCommand = {
  summary: 'list the params paths of a sample JSON file, a URL or a query string, with aliases; --into writes them into a flow',
  help: `usage: hooks paths <sample.json | URL | query string> [--into <flow file>] [--format text|json]

Lists one line per leaf of the sample: the JSONata path a flow's trigger.params would use (body.a, body.items[0].name;
query.a for a URL or a query string, parsed as the engine parses req.query), lists also flattened (body.items.name),
each with a unique alias and the sample's value (credential headers redacted).
A sample is a JSON body or a whole request { "request": { headers, query, body } }: a regular file in the flows folder.

  --into <flow file>   add the paths as trigger.params entries (comments and layout kept), leaving out the names and
                       paths the flow already has; the file must still pass hooks validate, else it is left as it was
  --format text|json   text (aligned columns, default) or json`,
  options: { into: { type: 'string' as const }, format: { type: 'string' as const, default: 'text' } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const format = values.format as string;
    if (format !== 'text' && format !== 'json') return fail(ctx, 2, '--format must be one of text, json');
    if (positionals.length !== 1) return fail(ctx, 2, USAGE);
    const parts = await sampleParts(positionals[0], ctx.config.flows.dir);
    if ('reason' in parts) return fail(ctx, 1, parts.reason);
    if (typeof values.into === 'string') return into(ctx, values.into, parts, format);
    print(ctx, await samplePaths(parts), format);
    return 0;
  },
};

function fail(ctx: CommandContext, code: number, message: string): number {
  ctx.err(`hooks paths: ${message}`);
  return code;
}

/** A URL's query string, a bare query string, or a sample file read under readSample's rules (confined, capped). */
async function sampleParts(input: string, flowsDir: string): Promise<SampleParts | { reason: string }> {
  if (/^https?:\/\//i.test(input)) {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      return { reason: `"${input}" is not a valid URL` };
    }
    return { query: parseQuery(url.search) };
  }
  const exists = await realpath(resolve(input)).then(() => true, () => false);
  if (!exists && input.includes('=')) return { query: parseQuery(input) };
  const read = await readNamedSample(resolve(input), displayPath(resolve(input)), await flowsFolder(flowsDir));
  if ('reason' in read) return read;
  const { headers, query, body, whole } = read;
  return whole ? { headers, query, body } : { body };
}

function print(ctx: CommandContext, rows: PathRow[], format: string): void {
  if (format === 'json') {
    ctx.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    ctx.out('no paths: the sample is empty');
    return;
  }
  const table = [['path', 'alias', 'value'], ...rows.map((r) => [r.path, r.alias, preview(r.value)])];
  const widths = [0, 1].map((c) => Math.max(...table.map((t) => t[c].length)));
  for (const [path, alias, value] of table) ctx.out(`${path.padEnd(widths[0])}  ${alias.padEnd(widths[1])}  ${value}`.trimEnd());
}

/** Writes the new paths into the flow's params; puts the file back when the result would not pass validation. */
async function into(ctx: CommandContext, flowFile: string, parts: SampleParts, format: string): Promise<number> {
  const file = resolve(flowFile);
  const shown = displayPath(file);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return fail(ctx, 1, `${shown}: no such flow file`);
  let existing;
  try {
    existing = existingParams(text);
  } catch (err) {
    return fail(ctx, 1, `${shown}: ${(err as Error).message}`);
  }
  const rows = (await samplePaths(parts, existing.names)).filter((r) => !existing.reads.has(r.path));
  const edit = addParams(text, rows.map((r) => [r.alias, r.path]));
  if (!edit.ok) return fail(ctx, 1, `${shown}: ${edit.reason}`);
  await writeFile(file, edit.text);
  const loaded = await loadFlowFile(file, shown, ctx.config);
  if (!loaded.ok) {
    await writeFile(file, text);
    for (const p of loaded.problems) ctx.err(formatProblem(p));
    return fail(ctx, 1, `${shown} would not pass hooks validate with these params: left as it was`);
  }
  if (format === 'json') ctx.out(JSON.stringify({ file: shown, added: rows }, null, 2));
  else {
    if (rows.length > 0) print(ctx, rows, format);
    ctx.out(`${rows.length} param${rows.length === 1 ? '' : 's'} added to ${shown}`);
  }
  return 0;
}
