import type { Auth, Flow, Step } from '../types/flow.ts';
import type { Mode } from '../types/names.ts';
import type { StepKind } from '../steps/types.ts';
import type { FlowDefinitionFile, UnreadableFlowFile } from './definitions.ts';
import { formatPath } from '../schema/problem.ts';
import { maskSecret, maskSensitive, maskUrl } from './secrets.ts';

/** One leaf that differs: `before` absent means added, `after` absent means removed. */
export interface DiffLine {
  path: string;
  before?: unknown;
  after?: unknown;
}

/** Auth as a plan shows it: kinds and secret references, never values. `{}` is "no auth". */
export interface AuthView {
  basic?: { username: string; password: string };
  signature?: {
    preset: string;
    secrets: string[];
    tolerance?: string;
    header?: string;
    algorithm?: string;
    encoding?: string;
    prefix?: string;
    timestampHeader?: string;
  };
  token?: string;
}

/** An async flow's immediate answer with its defaults applied. */
export interface ResponseView {
  status: number;
  headers: Record<string, unknown>;
  body: unknown;
}

export interface StepChange {
  kind: 'step';
  change: 'added' | 'removed' | 'changed' | 'moved';
  id: string;
  type: StepKind;
  /** where the step is (after the change, or before it when removed): null at the top, else "<branch id>: when <condition>" or "<branch id>: else" */
  where: string | null;
  /** moved steps: where it was */
  from?: string | null;
  /** one line: what the step does */
  summary: string;
  diff: DiffLine[];
}

/**
 * One thing that changes for the outside world. `null` on a side means the flow does not exist there, except for
 * `response`, where null is a sync flow (answered by its respond steps).
 */
export type Change =
  | { kind: 'file'; before: string; after: string }
  | { kind: 'route'; before: string | null; after: string | null }
  | { kind: 'methods'; before: string[] | null; after: string[] | null }
  | { kind: 'auth'; before: AuthView | null; after: AuthView | null }
  | { kind: 'mode'; before: Mode | null; after: Mode | null }
  | { kind: 'response'; before: ResponseView | null; after: ResponseView | null; diff: DiffLine[] }
  | { kind: 'settings'; diff: DiffLine[] }
  | StepChange
  | { kind: 'urls'; added: string[]; removed: string[]; unchanged: string[] }
  | { kind: 'channels'; added: string[]; removed: string[]; unchanged: string[] }
  | { kind: 'fields'; diff: DiffLine[] };

export interface FlowPlan {
  id: string;
  status: 'added' | 'removed' | 'changed';
  /** the file after the change (before it, for a removed flow) */
  file: string;
  changes: Change[];
}

export interface PlanProblem {
  side: 'base' | 'head';
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface FlowSetInput {
  files: FlowDefinitionFile[];
  unreadable: UnreadableFlowFile[];
}

export interface FlowsDiff {
  summary: { added: number; removed: number; changed: number; unchanged: number };
  flows: FlowPlan[];
  problems: PlanProblem[];
}

const STEP_TYPES: StepKind[] = ['set', 'http', 'branch', 'send', 'respond', 'stop'];

/**
 * Compares two sets of flow definitions (as written) and lists what changes for callers and for the systems the flows
 * call. Flows are matched by id, so a renamed file keeping its id is a move. A flow whose other side is a file that
 * could not be read is not compared (its problem is reported instead of a made-up removal or addition).
 */
export function diffFlowSets(base: FlowSetInput, head: FlowSetInput, options: { basePath: string }): FlowsDiff {
  const problems: PlanProblem[] = [];
  const baseById = indexById(base, 'base', problems);
  const headById = indexById(head, 'head', problems);
  const unknown = (side: FlowSetInput, id: string, file: string) => side.unreadable.some((u) => u.id === id || u.file === file);

  const flows: FlowPlan[] = [];
  let unchanged = 0;
  for (const id of [...new Set([...baseById.keys(), ...headById.keys()])].sort()) {
    const before = baseById.get(id);
    const after = headById.get(id);
    if (before && after) {
      const changes = diffFlow(before, after, options.basePath);
      if (changes.length === 0) unchanged++;
      else flows.push({ id, status: 'changed', file: after.file, changes });
    } else if (after) {
      if (!unknown(base, id, after.file)) flows.push({ id, status: 'added', file: after.file, changes: diffFlow(undefined, after, options.basePath) });
    } else if (before) {
      if (!unknown(head, id, before.file)) flows.push({ id, status: 'removed', file: before.file, changes: diffFlow(before, undefined, options.basePath) });
    }
  }
  const count = (status: FlowPlan['status']) => flows.filter((f) => f.status === status).length;
  return { summary: { added: count('added'), removed: count('removed'), changed: count('changed'), unchanged }, flows, problems };
}

function indexById(set: FlowSetInput, side: 'base' | 'head', problems: PlanProblem[]): Map<string, FlowDefinitionFile> {
  for (const u of set.unreadable) for (const p of u.problems) problems.push({ side, ...p });
  const byId = new Map<string, FlowDefinitionFile>();
  for (const file of set.files) {
    const first = byId.get(file.flow.id);
    if (first) {
      problems.push({ side, file: file.file, line: 1, col: 1, path: 'id', message: `flow id "${file.flow.id}" is already used by ${first.file}; only that file is compared` });
      continue;
    }
    byId.set(file.flow.id, file);
  }
  return byId;
}

/** The changes between two versions of one flow; a missing side is a flow added or removed. */
export function diffFlow(base: FlowDefinitionFile | undefined, head: FlowDefinitionFile | undefined, basePath: string): Change[] {
  const a = base?.flow;
  const b = head?.flow;
  const changes: Change[] = [];
  if (base && head && base.file !== head.file) changes.push({ kind: 'file', before: base.file, after: head.file });

  const route = (f: Flow | undefined) => (f ? `${basePath}${f.trigger.path ?? `/${f.id}`}` : null);
  if (route(a) !== route(b)) changes.push({ kind: 'route', before: route(a), after: route(b) });

  const methods = (f: Flow | undefined) => (f ? [...(f.trigger.methods ?? ['POST'])] : null);
  if (!same(methods(a), methods(b))) changes.push({ kind: 'methods', before: methods(a), after: methods(b) });

  const rawAuth = (f: Flow | undefined) => (f ? { basic: f.trigger.auth?.basic, signature: f.trigger.auth?.signature, token: f.trigger.auth?.token } : null);
  if (!same(rawAuth(a), rawAuth(b))) changes.push({ kind: 'auth', before: a ? authView(a.trigger.auth) : null, after: b ? authView(b.trigger.auth) : null });

  const removed = a && !b;
  const mode = (f: Flow | undefined) => (f ? (f.mode ?? 'async') : null);
  if (!removed && mode(a) !== mode(b)) changes.push({ kind: 'mode', before: mode(a), after: mode(b) });

  if (!removed) {
    const ra = a && responseView(a);
    const rb = b && responseView(b);
    if (!same(ra ?? null, rb ?? null)) changes.push({ kind: 'response', before: ra ?? null, after: rb ?? null, diff: diffValues(ra ?? undefined, rb ?? undefined) });

    const settings = diffSettings(a, b);
    if (settings.length > 0) changes.push({ kind: 'settings', diff: settings });

    changes.push(...diffSteps(a, b));
  }

  const urls = diffLists(a ? outboundUrls(a) : [], b ? outboundUrls(b) : []);
  if (urls.added.length > 0 || urls.removed.length > 0) changes.push({ kind: 'urls', ...urls });
  const channels = diffLists(a ? channelsUsed(a) : [], b ? channelsUsed(b) : []);
  if (channels.added.length > 0 || channels.removed.length > 0) changes.push({ kind: 'channels', ...channels });

  const fields: DiffLine[] = [];
  const ma = a?.map ?? {};
  const mb = b?.map ?? {};
  for (const field of [...new Set([...Object.keys(mb), ...Object.keys(ma)])]) {
    if (ma[field] === mb[field]) continue;
    fields.push(line(field, field in ma ? ma[field] : undefined, field in mb ? mb[field] : undefined));
  }
  if (fields.length > 0) changes.push({ kind: 'fields', diff: fields });
  return changes;
}

export function authView(auth: Auth | undefined): AuthView {
  const view: AuthView = {};
  if (auth?.basic) view.basic = { username: maskSecret(auth.basic.username), password: maskSecret(auth.basic.password) };
  if (auth?.signature) {
    const { preset, secret, secrets, ...rest } = auth.signature;
    view.signature = { preset, secrets: [...(secret !== undefined ? [secret] : []), ...(secrets ?? [])].map(maskSecret), ...rest };
  }
  if (auth?.token !== undefined) view.token = maskSecret(auth.token);
  return view;
}

/** The immediate answer of an async flow, defaults applied; null for a sync flow (its respond steps answer). */
function responseView(flow: Flow): ResponseView | null {
  if ((flow.mode ?? 'async') === 'sync') return null;
  const r = flow.response ?? {};
  return { status: r.status ?? 200, headers: r.headers ?? {}, body: r.body === undefined ? 'ok' : r.body };
}

/** Settings that change how callers are served, with their defaults, compared by effective value. */
const SETTINGS: { path: string; get(f: Flow): unknown; default?: unknown }[] = [
  { path: 'enabled', get: (f) => f.enabled ?? true, default: true },
  { path: 'timeout', get: (f) => ((f.mode ?? 'async') === 'sync' ? (f.timeout ?? '30s') : '30s'), default: '30s' },
  { path: 'trigger.accept', get: (f) => f.trigger.accept ?? ['json', 'form'], default: ['json', 'form'] },
  { path: 'trigger.params', get: (f) => f.trigger.params },
  { path: 'trigger.dedupe', get: (f) => f.trigger.dedupe },
  { path: 'trigger.rateLimit', get: (f) => f.trigger.rateLimit },
  { path: 'trigger.bodyLimit', get: (f) => f.trigger.bodyLimit },
  { path: 'trigger.inbound', get: (f) => f.trigger.inbound },
  { path: 'identify', get: (f) => f.identify && { ...f.identify, onUnidentified: f.identify.onUnidentified ?? 'reject' } },
];

function diffSettings(a: Flow | undefined, b: Flow | undefined): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const setting of SETTINGS) {
    const before = a ? setting.get(a) : undefined;
    const after = b ? setting.get(b) : undefined;
    // a new flow shows only what differs from the defaults
    if (!a && same(after, setting.default)) continue;
    lines.push(...diffValues(before, after, setting.path));
  }
  return lines;
}

interface StepInfo {
  step: Step;
  type: StepKind;
  where: string | null;
  /** identifies the list the step is in, stable when a branch's condition is edited */
  parent: string;
}

function stepType(step: Step): StepKind {
  return STEP_TYPES.find((t) => step[t] !== undefined) ?? 'set';
}

/** Every step of a flow by id, in document order (depth first), with where it sits. */
export function collectSteps(steps: Step[] | undefined, out = new Map<string, StepInfo>(), where: string | null = null, parent = ''): Map<string, StepInfo> {
  for (const step of steps ?? []) {
    if (!out.has(step.id)) out.set(step.id, { step, type: stepType(step), where, parent });
    step.branch?.forEach((c, i) => {
      const isElse = c.else !== undefined;
      collectSteps(isElse ? c.else : c.steps, out, `${step.id}: ${isElse ? 'else' : `when ${c.when}`}`, `${step.id}#${isElse ? 'else' : i}`);
    });
  }
  return out;
}

/** What a step does, in one line. */
export function stepSummary(step: Step): string {
  const type = stepType(step);
  switch (type) {
    case 'set':
      return `set ${Object.keys(step.set ?? {}).join(', ')}`;
    case 'http':
      return `${(step.http!.method ?? 'GET').toUpperCase()} ${maskUrl(step.http!.url)}`;
    case 'branch':
      return `branch ${step.branch!.map((c) => (c.else !== undefined ? 'else' : `when ${c.when}`)).join(' | ')}`;
    case 'send':
      return `send ${step.send!.channel} to ${step.send!.to}`;
    case 'respond':
      return `respond ${step.respond!.status ?? 200}`;
    case 'stop':
      return typeof step.stop === 'object' && step.stop.reason ? `stop: ${step.stop.reason}` : 'stop';
  }
}

/** A step's own settings, for its diff: nested steps are compared on their own, credentials masked. */
function stepContent(step: Step): Record<string, unknown> {
  const type = stepType(step);
  if (type === 'branch') return { branch: step.branch!.map((c) => (c.else !== undefined ? 'else' : { when: c.when })) };
  if (type === 'http') {
    const http = step.http!;
    return { http: { ...http, url: maskUrl(http.url), headers: maskSensitive(http.headers), query: maskSensitive(http.query) } };
  }
  return { [type]: step[type] };
}

function diffSteps(a: Flow | undefined, b: Flow | undefined): StepChange[] {
  const before = collectSteps(a?.steps);
  const after = collectSteps(b?.steps);
  const moved = movedSteps(before, after);
  const changes: StepChange[] = [];
  for (const [id, now] of after) {
    const was = before.get(id);
    const summary = stepSummary(now.step);
    if (!was) {
      changes.push({ kind: 'step', change: 'added', id, type: now.type, where: now.where, summary, diff: diffValues(undefined, stepContent(now.step)) });
      continue;
    }
    const diff = diffValues(stepContent(was.step), stepContent(now.step));
    const isMoved = moved.has(id);
    if (diff.length === 0 && !isMoved) continue;
    changes.push({ kind: 'step', change: diff.length > 0 ? 'changed' : 'moved', id, type: now.type, where: now.where, ...(isMoved ? { from: was.where } : {}), summary, diff });
  }
  for (const [id, was] of before) {
    if (after.has(id)) continue;
    changes.push({ kind: 'step', change: 'removed', id, type: was.type, where: was.where, summary: stepSummary(was.step), diff: diffValues(stepContent(was.step), undefined) });
  }
  return changes;
}

/** Steps that run somewhere else or in another order: a different list, or outside the longest common order of their list. */
function movedSteps(before: Map<string, StepInfo>, after: Map<string, StepInfo>): Set<string> {
  const moved = new Set<string>();
  const lists = new Map<string, { was: string[]; now: string[] }>();
  for (const [id, now] of after) {
    const was = before.get(id);
    if (!was) continue;
    if (was.parent !== now.parent) {
      moved.add(id);
      continue;
    }
    const list = lists.get(now.parent) ?? { was: [], now: [] };
    list.now.push(id);
    lists.set(now.parent, list);
  }
  for (const [id, was] of before) {
    const list = lists.get(was.parent);
    if (list && after.get(id)?.parent === was.parent) list.was.push(id);
  }
  for (const { was, now } of lists.values()) {
    const kept = new Set(longestCommonOrder(was, now));
    for (const id of now) if (!kept.has(id)) moved.add(id);
  }
  return moved;
}

function longestCommonOrder(a: string[], b: string[]): string[] {
  const table = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
  }
  const out: string[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) {
      out.push(a[i]);
      i++;
      j++;
    } else if (table[i + 1][j] >= table[i][j + 1]) i++;
    else j++;
  }
  return out;
}

/** Every URL template the flow's http steps call, as "METHOD url", in document order. */
export function outboundUrls(flow: Flow): string[] {
  const urls: string[] = [];
  for (const { step } of collectSteps(flow.steps).values()) if (step.http) urls.push(`${(step.http.method ?? 'GET').toUpperCase()} ${maskUrl(step.http.url)}`);
  return [...new Set(urls)];
}

/** Every channel the flow's send steps use, in document order. */
export function channelsUsed(flow: Flow): string[] {
  return [...new Set([...collectSteps(flow.steps).values()].flatMap(({ step }) => (step.send ? [step.send.channel] : [])))];
}

function diffLists(before: string[], after: string[]): { added: string[]; removed: string[]; unchanged: string[] } {
  return {
    added: after.filter((x) => !before.includes(x)),
    removed: before.filter((x) => !after.includes(x)),
    unchanged: after.filter((x) => before.includes(x)),
  };
}

function line(path: string, before: unknown, after: unknown): DiffLine {
  return { path, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) };
}

/** Leaf paths of a value: objects by key, arrays by index, except arrays of plain values, which are one leaf. */
function leaves(value: unknown, path: (string | number)[], out: Map<string, unknown>): Map<string, unknown> {
  if (value === undefined) return out;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return out;
  if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) value.forEach((v, i) => leaves(v, [...path, i], out));
  else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, [...path, k], out);
  } else out.set(formatPath(path), value);
  return out;
}

/** A compact diff of two values: one line per leaf that differs. */
export function diffValues(before: unknown, after: unknown, prefix?: string): DiffLine[] {
  const root = prefix ? prefix.split('.') : [];
  const a = leaves(before, root, new Map());
  const b = leaves(after, root, new Map());
  const lines: DiffLine[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    if (a.has(path) && b.has(path) && same(a.get(path), b.get(path))) continue;
    lines.push(line(path, a.get(path), b.get(path)));
  }
  // in the old order, then what is new in the new order
  return lines;
}

export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
