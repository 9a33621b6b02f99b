import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { CompiledFlow } from './compiled.ts';
import type { CompiledExpression } from '../expr/expression.ts';
import type { DocPath, Problem } from '../schema/problem.ts';
import { formatProblem } from '../schema/problem.ts';
import type { SourceDocument } from '../schema/document.ts';
import { MAX_FILE_BYTES, parseYamlText } from '../schema/document.ts';
import { displayPath } from './directory.ts';
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

/** A sample's problem that is not in the sample itself: why it was not read, never what it holds. */
const refused = (reason: string) => ({ ok: false as const, reason });

/**
 * Reads a sample file: a body, or a whole request checked against the flow schema's sampleRequest (file:line:col).
 * Only a regular file of at most MAX_FILE_BYTES inside `folder` (a real path) is read, whatever links lead to it: a
 * FIFO or a device would stall the reload, and a link out of the folder (/proc/self/environ) would put another file's
 * text in the error. Reasons never quote what the file holds.
 */
export async function readSample(file: string, displayName: string, folder: string): Promise<SampleRead> {
  const read = await readConfined(file, folder);
  if (!read.ok) return read;
  const { text } = read;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const at = /at position (\d+)/.exec((err as Error).message);
    if (!at) return refused('it is not JSON');
    const before = text.slice(0, Number(at[1])).split('\n');
    return refused(`it is not JSON (line ${before.length}, column ${before[before.length - 1].length + 1})`);
  }
  if (!isWholeRequest(value)) return { ok: true, sample: { headers: {}, query: {}, body: value, whole: false } };
  // positions are wanted only when it fails: a large sample is parsed as YAML, which is slow, only then
  if (validateAgainst(sampleRequestSchema, value, NO_POSITIONS).length > 0) {
    const parsed = parseYamlText(text, displayName);
    if (parsed.ok) return { ok: false, problems: validateAgainst(sampleRequestSchema, value, parsed.source) };
  }
  const request = (value as { request: { headers?: Record<string, string>; query?: Record<string, string>; body?: unknown } }).request;
  // header names as Node gives them to the engine: in lower case
  const headers = Object.fromEntries(Object.entries(request.headers ?? {}).map(([name, v]) => [name.toLowerCase(), v]));
  return { ok: true, sample: { headers, query: request.query ?? {}, body: request.body ?? {}, whole: true } };
}

const NO_POSITIONS = (parseYamlText('{}', '') as { source: SourceDocument }).source;

function kindOf(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isDirectory()) return 'a folder';
  if (info.isSocket()) return 'a socket';
  return info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'not a regular file';
}

/** A sample's text: the file's real path must be inside `folder`, and be a regular file of at most MAX_FILE_BYTES. */
async function readConfined(file: string, folder: string): Promise<{ ok: true; text: string } | { ok: false; reason: string }> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    return refused((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `${(err as NodeJS.ErrnoException).code ?? 'it cannot be read'}`);
  }
  if (!isInside(real, folder)) return refused(`it is outside ${displayPath(folder)}: a sample is a file in the flows folder`);
  let handle: FileHandle | undefined;
  try {
    // non-blocking: opening a FIFO must not wait for a writer; and the real path has no link left to follow
    handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    const info = await handle.stat();
    if (!info.isFile()) return refused(`it is ${kindOf(info)}: a sample is a regular file`);
    // read one byte past the limit: a file's stated size can be 0 (/proc) or grow while it is read
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = (await handle.read(buffer, length, buffer.length - length, length)).bytesRead;
    if (length > MAX_FILE_BYTES) return refused(`it is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB, the limit for a sample`);
    return { ok: true, text: buffer.toString('utf8', 0, length) };
  } catch (err) {
    return refused(`${(err as NodeJS.ErrnoException).code ?? 'it cannot be read'}`);
  } finally {
    await handle?.close();
  }
}

function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : `${folder}${sep}`);
}

/**
 * The folder a flow's sample must be in, as a real path: the flows folder when the flow file is in it (a sample may
 * be shared by flows in subfolders), else the flow file's own folder (`hooks validate` on a file elsewhere).
 */
export async function sampleFolder(file: string, flowsDir: string): Promise<string> {
  const [flows, own] = await Promise.all([realpath(flowsDir).catch(() => undefined), realpath(dirname(file)).catch(() => resolve(dirname(file)))]);
  return flows && isInside(own, flows) ? flows : own;
}

/** The flows folder as samples named on the command line are confined to it (its real path). */
export function flowsFolder(flowsDir: string): Promise<string> {
  return realpath(flowsDir).catch(() => resolve(flowsDir));
}

/** A sample a command names (`hooks paths`, `hooks try`): read as readSample reads it, a refusal as one text. */
export async function readNamedSample(file: string, shown: string, folder: string): Promise<Sample | { reason: string }> {
  const read = await readSample(file, shown, folder);
  if (read.ok) return read.sample;
  return { reason: 'problems' in read ? read.problems.map(formatProblem).join('\n') : `sample ${shown} cannot be read: ${read.reason}` };
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
export async function checkSample(flow: CompiledFlow, file: string, source: SourceDocument, flowsDir: string): Promise<Problem[]> {
  const samplePath = flow.definition.trigger.sample!;
  const folder = await sampleFolder(file, flowsDir);
  const read = await readSample(resolve(dirname(file), samplePath), join(dirname(flow.file), samplePath), folder);
  if (!read.ok) return 'problems' in read ? read.problems : [source.problem(['trigger', 'sample'], `sample "${samplePath}" cannot be read: ${read.reason}`, { key: true })];
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
