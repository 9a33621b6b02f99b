import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { CompiledFlow } from './compiled.ts';
import type { CompiledExpression } from '../expr/expression.ts';
import type { DocPath, Problem } from '../schema/problem.ts';
import type { SourceDocument } from '../schema/document.ts';
import { parseYamlText } from '../schema/document.ts';
import { sampleRequestSchema, validateAgainst } from '../schema/validate.ts';

/** A sample as the flow reads it. `whole`: the file held a whole request, so headers and query are known too. */
export interface Sample {
  headers: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  whole: boolean;
}

type SampleRead = { ok: true; sample: Sample } | { ok: false; reason: string } | { ok: false; problems: Problem[] };

/** The parts of the request an expression reads; vars come from the query and the body, so they need a whole request. */
const REQUEST_ROOTS = /(?<![\w.$])(body|query|headers|request|vars|contact)\b/g;

/** `{ "request": { ... } }` and nothing else: a whole request; any other JSON is a body (samples written before). */
function isWholeRequest(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  const request = (value as Record<string, unknown>).request;
  return keys.length === 1 && keys[0] === 'request' && request !== null && typeof request === 'object' && !Array.isArray(request);
}

/** Reads a sample file: a body, or a whole request checked against the flow schema's sampleRequest (file:line:col). */
export async function readSample(file: string, displayName: string): Promise<SampleRead> {
  let text: string;
  let value: unknown;
  try {
    text = await readFile(file, 'utf8');
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message };
  }
  if (!isWholeRequest(value)) return { ok: true, sample: { headers: {}, query: {}, body: value, whole: false } };
  const parsed = parseYamlText(text, displayName);
  if (parsed.ok) {
    const problems = validateAgainst(sampleRequestSchema, value, parsed.source);
    if (problems.length > 0) return { ok: false, problems };
  }
  const request = (value as { request: { headers?: Record<string, string>; query?: Record<string, string>; body?: unknown } }).request;
  // header names as Node gives them to the engine: in lower case
  const headers = Object.fromEntries(Object.entries(request.headers ?? {}).map(([name, v]) => [name.toLowerCase(), v]));
  return { ok: true, sample: { headers, query: request.query ?? {}, body: request.body ?? {}, whole: true } };
}

/** The expressions a sample checks, in the order the request path evaluates them, each with where it is written. */
function checkedExpressions(flow: CompiledFlow): { path: DocPath; expression: CompiledExpression; param?: string }[] {
  const identify = flow.identify;
  return [
    ...flow.params.map(([name, expression]) => ({ path: ['trigger', 'params', name], expression, param: name })),
    ...(['userNs', 'phone', 'email'] as const).flatMap((key) => (identify?.[key] ? [{ path: ['identify', key], expression: identify[key]! }] : [])),
    ...flow.map.map(([field, expression]) => ({ path: ['map', field], expression })),
  ];
}

/**
 * Every path of params, identify and map must find something in the sample: a typo in a path is caught before
 * production. A path is checked when the sample has what it reads: a body sample has the body only; a whole request
 * also has headers, query and so vars. Expressions over the contact are left alone (the sample has none).
 */
export async function checkSample(flow: CompiledFlow, file: string, source: SourceDocument): Promise<Problem[]> {
  const samplePath = flow.definition.trigger.sample!;
  const read = await readSample(resolve(dirname(file), samplePath), join(dirname(flow.file), samplePath));
  if (!read.ok) return 'problems' in read ? read.problems : [source.problem(['trigger', 'sample'], `sample "${samplePath}" cannot be read: ${read.reason}`)];
  const { headers, query, body, whole } = read.sample;
  const request = { method: flow.methods[0], path: flow.route, headers, query, body };
  // the request path's variables: top-level query fields, then body fields (the body wins on a name), then params
  const vars: Record<string, unknown> = Object.assign({}, query, body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {});
  const scope = { request, headers, query, body, vars, contact: null, steps: {} };
  const given = new Set(whole ? ['body', 'query', 'headers', 'request', 'vars'] : ['body']);
  const problems: Problem[] = [];
  for (const { path, expression, param } of checkedExpressions(flow)) {
    let value: unknown;
    try {
      value = await expression.evaluate(scope);
    } catch (err) {
      problems.push(source.problem(path, `fails on sample "${samplePath}": ${(err as Error).message}`));
      continue;
    }
    if (param !== undefined && value !== undefined) vars[param] = value;
    const reads = new Set([...expression.source.matchAll(REQUEST_ROOTS)].map((m) => m[1]));
    const checkable = reads.size > 0 && [...reads].every((root) => given.has(root));
    if (value === undefined && checkable) problems.push(source.problem(path, `"${expression.source}" finds nothing in sample "${samplePath}": check the path`));
  }
  return problems;
}
