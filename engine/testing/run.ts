import { dirname, resolve } from 'node:path';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import type { Test } from '../types/flow.ts';
import type { IncomingRequest } from '../request/incoming.ts';
import type { Answer } from '../common/scope.ts';
import type { Store } from '../store/types.ts';
import { handleWebhook } from '../request/handle.ts';
import { runExecution } from '../execution/execute.ts';
import { contactFinder } from '../contacts/identify.ts';
import { createHarness, type Harness } from './harness.ts';
import { scopeOf } from '../execution/scope.ts';
import { readSample } from '../flow/sample.ts';
import { match } from './match.ts';

export interface TestResult {
  flow: string;
  file: string;
  name: string;
  passed: boolean;
  /** one line per expectation that did not hold */
  diffs: string[];
  durationMs: number;
}

/** Runs one test of a flow in isolation and compares what happened with what it expects. */
export async function runFlowTest(config: EngineConfig, flow: CompiledFlow, test: Test): Promise<TestResult> {
  const started = performance.now();
  const harness = await createHarness(config, flow, test);
  const diffs: string[] = [];
  try {
    for (const c of test.contacts ?? []) {
      if (!c.phone) throw new Error('a test contact needs a phone');
      const { contact } = await harness.store.createContact({ id: c.id ?? harness.ctx.newId('ct'), phone: c.phone, email: c.email?.toLowerCase() ?? null }, harness.ctx.now().toISOString());
      if (c.fields) await harness.store.setContactFields(contact.id, c.fields, harness.ctx.now().toISOString(), null);
    }
    const answer = await handleWebhook(harness.ctx, flow, await requestOf(flow, test, harness));
    await finishWork(harness, flow);
    await compare(test, answer, harness, diffs);
  } catch (err) {
    diffs.push(`the test could not run: ${(err as Error).message}`);
  } finally {
    await harness.store.close();
  }
  diffs.unshift(...harness.problems);
  return { flow: flow.id, file: flow.file, name: test.name, passed: diffs.length === 0, diffs, durationMs: performance.now() - started };
}

async function requestOf(flow: CompiledFlow, test: Test, harness: Harness): Promise<IncomingRequest> {
  const given = test.request ?? {};
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given.headers ?? {})) headers[name.toLowerCase()] = value;
  let body = given.body;
  if (given.sample) {
    // confined as trigger.sample is: a regular file of at most 1 MB beside the flow, nothing of it in the error
    const read = await readSample(resolve(dirname(resolve(flow.file)), given.sample), given.sample, dirname(resolve(flow.file)));
    if (!read.ok) throw new Error(`sample "${given.sample}" cannot be read: ${'reason' in read ? read.reason : read.problems.map((p) => p.message).join('; ')}`);
    body = read.sample.body;
  }
  let rawBody: Buffer | undefined;
  if (body !== undefined) {
    const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    headers['content-type'] ??= 'application/json';
    rawBody = Buffer.from(form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body));
  }
  const query = given.query ?? {};
  const search = new URLSearchParams(query).toString();
  return {
    method: given.method ?? flow.methods[0],
    path: flow.route,
    url: `${harness.ctx.config.server.publicUrl ?? 'http://localhost'}${harness.ctx.config.server.basePath}${flow.route}${search ? `?${search}` : ''}`,
    headers,
    query,
    rawBody,
    ip: '127.0.0.1',
    receivedAt: harness.ctx.now(),
  };
}

/** Runs what the request left to do: queued async executions, and sync steps still running after `respond`. */
export async function finishWork(harness: Harness, flow: CompiledFlow): Promise<void> {
  const { store, ctx } = harness;
  for (const execution of await store.claimExecutions(100, 60_000, ctx.now())) await runExecution(ctx, flow, execution, contactFinder(store));
  await Promise.all(harness.tails);
}

async function finalVars(store: Store, executionId: string | null): Promise<Record<string, unknown>> {
  if (!executionId) return {};
  const execution = await store.getExecution(executionId);
  // the request's own variables, what the intake added, then what the steps set
  const vars = execution ? scopeOf(execution.input, null).vars : {};
  for (const entry of await store.journal(executionId)) Object.assign(vars, entry.vars ?? {});
  return vars;
}

/** Checks the expectations in the order the schema lists them, one diff line per mismatch. */
async function compare(test: Test, answer: Answer, harness: Harness, diffs: string[]): Promise<void> {
  const expect = test.expect ?? {};
  const { store } = harness;
  const [log] = await store.listLogs({ limit: 1 });
  if (expect.response) {
    if (expect.response.status !== undefined) match(expect.response.status, answer.status, 'response.status', diffs);
    if (expect.response.headers) match(lowerKeys(expect.response.headers), answer.headers, 'response.headers', diffs);
    if ('body' in expect.response) match(expect.response.body, answer.body, 'response.body', diffs);
  }
  if (expect.vars) match(expect.vars, await finalVars(store, log?.executionId ?? null), 'vars', diffs);
  if (expect.steps) {
    const taken = log?.executionId ? (await store.journal(log.executionId)).map((e) => e.stepId) : [];
    for (const id of expect.steps.taken ?? []) if (!taken.includes(id)) diffs.push(`steps: expected "${id}" to run, but it did not (ran: ${taken.join(', ') || 'none'})`);
    for (const id of expect.steps.notTaken ?? []) if (taken.includes(id)) diffs.push(`steps: expected "${id}" not to run, but it did`);
  }
  if (expect.sent) {
    const sent = harness.sent.map(({ stepId: _step, ...message }) => message);
    if (sent.length !== expect.sent.length) diffs.push(`sent: expected ${expect.sent.length} message(s), got ${sent.length}: ${JSON.stringify(sent)}`);
    else expect.sent.forEach((message, i) => match(message, sent[i], `sent[${i}]`, diffs, { regex: true }));
  }
  if (expect.contact) {
    const contact = log?.contactId ? await store.findContact({ id: log.contactId }) : undefined;
    if (!contact) diffs.push('contact: expected a contact, but the request had none');
    else match(expect.contact, contact, 'contact', diffs);
  }
  if (expect.log?.outcome) match(expect.log.outcome, log?.outcome, 'log.outcome', diffs);
}

function lowerKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}
