import { dirname, join, resolve } from 'node:path';
import type { CommandContext } from './main.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { CompiledStep, StepServices } from '../steps/types.ts';
import type { HttpStepResult } from '../steps/http.ts';
import type { OutgoingRequest } from '../http/request.ts';
import { appendParams, redactUrl } from '../http/request.ts';
import { findFlow } from './graph.ts';
import { loadFlowFile } from '../flow/load.ts';
import { flowsFolder, readNamedSample, sampleFolder, type Sample } from '../flow/sample.ts';
import { displayPath } from '../flow/directory.ts';
import { formatProblem } from '../schema/problem.ts';
import { evaluateParams, executionBindings, scopeOf } from '../execution/scope.ts';
import { liveServices } from '../execution/services.ts';
import { redactHeaders, redactSecrets } from '../common/redact.ts';
import { preview, samplePaths } from '../authoring/paths.ts';

const USAGE = 'give a flow (id or file) and the id of one of its http steps, e.g. hooks try booking-confirmation lookup';
const BODY_PREVIEW = 400;

/** `hooks try <flow> <step id>`: sends one http step of a flow for real, with the variables a sample gives. */
export const tryCommand = {
  summary: "send one http step of a flow for real with a sample's variables; shows the request, the answer, its saves and paths",
  help: `usage: hooks try <flow id or file> <step id> [--sample <file>] [--var name=value ...] [--format text|json]

Sends the flow's http step <step id> (also one inside a branch) for real, as the engine would: its variables are the
sample's request through the flow's trigger.params, its address guard and timeout those of the config's http: settings
(a private address is refused unless http.allowPrivateNetworks or http.allowList allows it). Prints the request sent
(query values, credential headers and the flow's \${env:} secrets masked), the status, the response headers, the
start of the body, each save's value or its error kind (KeyError, BadResponse...), and the answer's paths as hooks
paths lists them. Exit 0 when the server answered (also with a non-2xx status), 1 when the call could not be made.

  --sample <file>      the sample request or body (a file in the flows folder); default: the flow's trigger.sample
  --var name=value     set a variable after the params (repeatable); the value is read as JSON when it parses, else text
  --format text|json   text (default) or json`,
  options: {
    sample: { type: 'string' as const },
    var: { type: 'string' as const, multiple: true },
    format: { type: 'string' as const, default: 'text' },
  },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const format = values.format as string;
    if (format !== 'text' && format !== 'json') return fail(ctx, 2, '--format must be one of text, json');
    if (positionals.length !== 2) return fail(ctx, 2, USAGE);
    const parsed = parseVars((values.var as string[] | undefined) ?? []);
    if ('reason' in parsed) return fail(ctx, 2, parsed.reason);
    const loaded = await loadFlow(ctx, positionals[0]);
    if ('code' in loaded) return loaded.code;
    const { flow, file } = loaded;
    const step = findStep(flow.steps, positionals[1]);
    if (!step) return fail(ctx, 1, `flow "${flow.id}" has no step "${positionals[1]}"; its http steps: ${httpStepIds(flow.steps).join(', ') || 'none'}`);
    if (step.kind !== 'http') return fail(ctx, 1, `step "${step.id}" is a ${step.kind} step, not an http step`);
    const sample = await sampleOf(ctx, flow, file, values.sample as string | undefined);
    if ('reason' in sample) return fail(ctx, 1, sample.reason);
    return tryStep(ctx, flow, step, sample, parsed.vars, format);
  },
};

function fail(ctx: CommandContext, code: number, message: string): number {
  ctx.err(`hooks try: ${message}`);
  return code;
}

/** `--var k=v`: JSON when it parses (`n=3`, `ok=true`, `a=[1]`), else the text as written. */
function parseVars(pairs: string[]): { vars: Record<string, unknown> } | { reason: string } {
  const vars: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) return { reason: `--var ${pair}: write it as name=value` };
    const text = pair.slice(at + 1);
    try {
      vars[pair.slice(0, at)] = JSON.parse(text);
    } catch {
      vars[pair.slice(0, at)] = text;
    }
  }
  return { vars };
}

async function loadFlow(ctx: CommandContext, target: string): Promise<{ flow: CompiledFlow; file: string } | { code: number }> {
  const found = await findFlow(target, ctx.config.flows.dir);
  if (!found.ok) return { code: fail(ctx, 1, found.message) };
  const file = resolve(found.file);
  const loaded = await loadFlowFile(file, found.file, ctx.config);
  if (!loaded.ok) {
    for (const p of loaded.problems) ctx.err(formatProblem(p));
    return { code: fail(ctx, 1, `${found.file} does not pass hooks validate`) };
  }
  return { flow: loaded.flow, file };
}

/** The step with this id, at any depth (branch cases included). */
function findStep(steps: CompiledStep[], id: string): CompiledStep | undefined {
  for (const step of steps) {
    if (step.id === id) return step;
    for (const list of step.children ?? []) {
      const found = findStep(list, id);
      if (found) return found;
    }
  }
  return undefined;
}

function httpStepIds(steps: CompiledStep[]): string[] {
  return steps.flatMap((s) => [...(s.kind === 'http' ? [s.id] : []), ...(s.children ?? []).flatMap(httpStepIds)]);
}

/** `--sample` (confined to the flows folder, as hooks paths reads it) or the flow's own trigger.sample. */
async function sampleOf(ctx: CommandContext, flow: CompiledFlow, file: string, given: string | undefined): Promise<Sample | { reason: string }> {
  const own = flow.definition.trigger.sample;
  if (given === undefined && own === undefined) return { headers: {}, query: {}, body: {}, whole: false };
  const path = given !== undefined ? resolve(given) : resolve(dirname(file), own!);
  const shown = given !== undefined ? displayPath(path) : join(dirname(flow.file), own!);
  const folder = given !== undefined ? await flowsFolder(ctx.config.flows.dir) : await sampleFolder(file, ctx.config.flows.dir);
  return readNamedSample(path, shown, folder);
}

/** Runs the step through the engine's own step code and services, and reports the call. */
async function tryStep(ctx: CommandContext, flow: CompiledFlow, step: CompiledStep, sample: Sample, overrides: Record<string, unknown>, format: string): Promise<number> {
  const request = { method: flow.methods[0], path: flow.route, headers: sample.headers, query: sample.query, body: sample.body, ip: '127.0.0.1', receivedAt: new Date().toISOString() };
  const input = { request, vars: {}, contactId: null };
  const scope = scopeOf(input, null);
  const bindings = executionBindings('try', flow);
  try {
    await evaluateParams(flow, scope, bindings, input.vars);
  } catch (err) {
    return fail(ctx, 1, `params: ${(err as Error).message}`);
  }
  Object.assign(scope.vars, overrides);
  const live = liveServices(new Map(), (prefix) => `${prefix}_try`)(flow, 'try');
  let sent: OutgoingRequest | undefined;
  const services: StepServices = {
    http: (id, req) => ((sent = req), live.http(id, req)),
    send: () => Promise.reject(new Error('hooks try sends no messages')),
  };
  const outcome = await step.run({ scope, bindings, services, respond: () => undefined });
  const result = outcome.result as HttpStepResult;
  const report = await reportOf(flow, step.id, sent, result, outcome.vars ?? {});
  if (format === 'json') ctx.out(JSON.stringify(report, null, 2));
  else printReport(ctx, report);
  if (result.status === null) return fail(ctx, 1, `the call could not be made: ${result.error?.kind}: ${result.error?.message}`);
  return 0;
}

interface Report {
  request: { method: string | null; url: string | null; headers: Record<string, unknown>; body: string | null };
  status: number | null;
  ok: boolean;
  error: { kind: string; message: string } | null;
  headers: Record<string, string>;
  body: string | null;
  saves: { name: string; value?: unknown; error?: string }[];
  paths: { path: string; alias: string; value: unknown }[];
}

/** What was sent and what came back, with the flow's secrets, query values and credential headers masked. */
async function reportOf(flow: CompiledFlow, stepId: string, sent: OutgoingRequest | undefined, result: HttpStepResult, vars: Record<string, unknown>): Promise<Report> {
  const saves = saveNames(flow.definition, stepId).map((name) =>
    name in vars ? { name, value: vars[name] } : { name, error: result.error?.kind ?? 'KeyError' },
  );
  const answered = result.status !== null;
  const paths = answered ? (await samplePaths({ body: result.body })).map(({ path, alias, value }) => ({ path, alias, value })) : [];
  const report: Report = {
    request: {
      method: result.request.method,
      url: result.request.url ?? (sent?.url ? redactUrl(urlWithQuery(sent)) : null),
      // named as sendRequest sends them (lower case)
      headers: redactHeaders(Object.fromEntries(Object.entries(sent?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))),
      body: sent?.body === undefined ? null : bodyPreview(sent.body),
    },
    status: result.status,
    ok: result.ok,
    error: result.error,
    headers: result.headers,
    body: answered ? bodyPreview(result.body) : null,
    saves,
    paths,
  };
  return redactSecrets(report, [...new Set(flow.secrets.flatMap((s) => [s, encodeURIComponent(s)]))]);
}

function urlWithQuery(req: OutgoingRequest): string {
  try {
    const url = new URL(req.url!);
    appendParams(url.searchParams, req.query ?? {});
    return url.href;
  } catch {
    return req.url!;
  }
}

function bodyPreview(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body) ?? '';
  return text.length > BODY_PREVIEW ? `${text.slice(0, BODY_PREVIEW)}… (${text.length} characters)` : text;
}

/** The `save:` names of the http step with this id, found anywhere in the flow's definition. */
function saveNames(node: unknown, stepId: string): string[] {
  if (node === null || typeof node !== 'object') return [];
  const record = node as Record<string, unknown>;
  const http = record.http as { save?: Record<string, unknown> } | undefined;
  if (record.id === stepId && http && typeof http === 'object') return Object.keys(http.save ?? {});
  for (const child of Object.values(record)) {
    const found = saveNames(child, stepId);
    if (found.length > 0) return found;
  }
  return [];
}

function printReport(ctx: CommandContext, r: Report): void {
  ctx.out(`request   ${r.request.method ?? '(no method)'} ${r.request.url ?? '(no url)'}`);
  for (const [name, value] of Object.entries(r.request.headers)) ctx.out(`          ${name}: ${value}`);
  if (r.request.body !== null) ctx.out(`          body: ${r.request.body}`);
  if (r.status === null) return;
  ctx.out(`status    ${r.status}${r.ok ? '' : `: ${r.error?.kind} (${r.error?.message})`}`);
  for (const [name, value] of Object.entries(r.headers)) ctx.out(`          ${name}: ${value}`);
  ctx.out(`body      ${r.body}`);
  for (const s of r.saves) ctx.out(`save      ${s.name} = ${'value' in s ? preview(s.value, 80) : `(${s.error})`}`);
  if (r.paths.length > 0) ctx.out('paths');
  const widths = [0, 1].map((c) => Math.max(...r.paths.map((p) => [p.path, p.alias][c].length)));
  for (const p of r.paths) ctx.out(`  ${p.path.padEnd(widths[0])}  ${p.alias.padEnd(widths[1])}  ${preview(p.value)}`.trimEnd());
}
