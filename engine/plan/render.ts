import type { AuthView, DiffLine, FlowPlan, FlowsDiff, ResponseView, StepChange } from './diff.ts';
import { same } from './diff.ts';

/** A whole plan: the base it compares with, and the differences. This is also the `--format json` document. */
export interface Plan extends FlowsDiff {
  base: { ref: string; commit: string };
  /** the flows folder relative to the repository root */
  flowsDir: string;
}

export const PLAN_FORMATS = ['text', 'markdown', 'json'] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

export function renderPlan(plan: Plan, format: PlanFormat): string {
  if (format === 'json') return JSON.stringify(plan, null, 2);
  return format === 'markdown' ? renderMarkdown(plan) : renderText(plan);
}

type Quote = (s: string) => string;
const plain: Quote = (s) => s;
const json = (v: unknown) => JSON.stringify(v);

function summaryLine(plan: Plan): string {
  const { added, removed, changed, unchanged } = plan.summary;
  return `${added} added, ${removed} removed, ${changed} changed, ${unchanged} unchanged`;
}

function describeAuth(v: AuthView, q: Quote): string {
  const parts: string[] = [];
  if (v.basic) parts.push(`basic (username ${q(v.basic.username)}, password ${q(v.basic.password)})`);
  if (v.signature) {
    const { preset, secrets, ...options } = v.signature;
    const extra = Object.entries(options).map(([k, value]) => `, ${k} ${q(String(value))}`);
    parts.push(`signature ${preset} (${secrets.length === 1 ? 'secret' : 'secrets'} ${secrets.map(q).join(', ')}${extra.join('')})`);
  }
  if (v.token !== undefined) parts.push(`token ${q(v.token)}`);
  return parts.length > 0 ? parts.join(' + ') : 'none';
}

function authItem(before: AuthView | null, after: AuthView | null, q: Quote): { label: string; text: string } {
  if (!before || !after) return { label: 'auth', text: describeAuth((after ?? before)!, q) };
  const on = (v: AuthView) => Object.keys(v).length > 0;
  if (!on(before)) return { label: 'auth turned on', text: describeAuth(after, q) };
  if (!on(after)) return { label: 'auth turned off', text: `was ${describeAuth(before, q)}` };
  if (same(before, after)) return { label: 'auth changed', text: `${describeAuth(after, q)} (a value that is not shown changed)` };
  return { label: 'auth changed', text: `${describeAuth(before, q)} → ${describeAuth(after, q)}` };
}

function describeResponse(v: ResponseView | null): string {
  if (!v) return 'answered by respond steps (sync)';
  const headers = Object.keys(v.headers).length > 0 ? `, headers ${json(v.headers)}` : '';
  return `${v.status} ${json(v.body)}${headers}`;
}

function fromTo<T>(before: T | null, after: T | null, show: (v: T) => string): string {
  if (before === null) return show(after!);
  if (after === null) return show(before);
  return `${show(before)} → ${show(after)}`;
}

/** A diff line as text: `~ path: before → after`, `+ path: after`, `- path: before`. */
function diffLineText(l: DiffLine, value: (v: unknown) => string = json): string {
  if ('before' in l && 'after' in l) return `~ ${l.path}: ${value(l.before)} → ${value(l.after)}`;
  return 'after' in l ? `+ ${l.path}: ${value(l.after)}` : `- ${l.path}: ${value(l.before)}`;
}

/** The same line in a ```diff block: a changed value is a removed and an added line. */
function diffLineMarkdown(l: DiffLine, indent: string, value: (v: unknown) => string = json): string[] {
  const out: string[] = [];
  if ('before' in l) out.push(`-${indent}${l.path}: ${value(l.before)}`);
  if ('after' in l) out.push(`+${indent}${l.path}: ${value(l.after)}`);
  return out;
}

const rawString = (v: unknown) => (typeof v === 'string' ? v : json(v));

function where(w: string | null | undefined): string {
  return w ? w : 'top level';
}

function stepHeadline(s: StepChange): string {
  const at = s.where ? ` (in ${s.where})` : '';
  if (s.change === 'added') return `+ step ${s.id} added: ${s.summary}${at}`;
  if (s.change === 'removed') return `- step ${s.id} removed: ${s.summary}${at}`;
  const what: string[] = s.change === 'changed' ? ['changed'] : [];
  const relocated = s.from !== undefined && s.from !== s.where;
  if (s.from !== undefined) what.push(relocated ? `moved from ${where(s.from)} to ${where(s.where)}` : 'runs in another order');
  return `~ step ${s.id} ${what.join(', ')}: ${s.summary}${relocated ? '' : at}`;
}

interface Block {
  title: string;
  lines: string[];
}

/** The multi-line parts of a flow's changes, in a fixed order: response, settings, steps, URLs, channels, fields. */
function blocks(f: FlowPlan, markdown: boolean): Block[] {
  const diff = (lines: DiffLine[], indent = '', value?: (v: unknown) => string) =>
    lines.flatMap((l) => (markdown ? diffLineMarkdown(l, indent || ' ', value) : [`${indent}${diffLineText(l, value)}`]));
  const list = (c: { added: string[]; removed: string[]; unchanged: string[] }) => [
    ...c.added.map((x) => `+ ${x}`),
    ...c.removed.map((x) => `- ${x}`),
    ...c.unchanged.map((x) => `  ${x}`),
  ];
  const byTitle = new Map<string, string[]>();
  const add = (title: string, lines: string[]) => byTitle.set(title, [...(byTitle.get(title) ?? []), ...lines]);
  for (const c of f.changes) {
    if (c.kind === 'response' && f.status === 'changed' && c.before && c.after) add('response', diff(c.diff));
    else if (c.kind === 'settings') add('settings', diff(c.diff));
    else if (c.kind === 'step') add('steps', [stepHeadline(c), ...(c.change === 'removed' ? [] : diff(c.diff, '    '))]);
    else if (c.kind === 'urls') add('URLs called', list(c));
    else if (c.kind === 'channels') add('channels', list(c));
    else if (c.kind === 'fields') add('contact fields written (map)', diff(c.diff, '', rawString));
  }
  const order = ['response', 'settings', 'steps', 'URLs called', 'channels', 'contact fields written (map)'];
  return order.filter((t) => byTitle.has(t)).map((title) => ({ title, lines: byTitle.get(title)! }));
}

/** The one-line parts: file, route, methods, auth, mode, and a response that is not a field-by-field diff. */
function items(f: FlowPlan, q: Quote): { label: string; text: string }[] {
  const out: { label: string; text: string }[] = [];
  for (const c of f.changes) {
    if (c.kind === 'file') out.push({ label: 'file', text: `${q(c.before)} → ${q(c.after)}` });
    else if (c.kind === 'route') out.push({ label: 'route', text: fromTo(c.before, c.after, q) });
    else if (c.kind === 'methods') out.push({ label: 'methods', text: fromTo(c.before, c.after, (m) => q(m.join(', '))) });
    else if (c.kind === 'auth') out.push(authItem(c.before, c.after, q));
    else if (c.kind === 'mode') out.push({ label: 'mode', text: fromTo(c.before, c.after, q) });
    else if (c.kind === 'response') {
      const show = (v: ResponseView | null) => (v ? q(describeResponse(v)) : describeResponse(v));
      if (f.status !== 'changed') out.push({ label: 'response', text: show(c.after ?? c.before) });
      else if (!(c.before && c.after)) out.push({ label: 'response', text: `${show(c.before)} → ${show(c.after)}` });
    }
  }
  return out;
}

function flowHeadline(f: FlowPlan): string {
  const mark = f.status === 'added' ? '+' : f.status === 'removed' ? '-' : '~';
  return `${mark} ${f.id} (${f.file}): ${f.status}`;
}

function renderText(plan: Plan): string {
  const out: string[] = [`hooks plan: ${plan.flowsDir || '.'} at ${plan.base.ref} (${plan.base.commit.slice(0, 7)}) → working tree`, summaryLine(plan)];
  for (const f of plan.flows) {
    out.push('', flowHeadline(f));
    for (const item of items(f, plain)) out.push(`    ${item.label}: ${item.text}`);
    for (const block of blocks(f, false)) {
      if (block.title === 'steps') out.push(...block.lines.map((l) => `    ${l}`));
      else out.push(`    ${block.title}:`, ...block.lines.map((l) => `      ${l}`));
    }
  }
  if (plan.flows.length === 0) out.push('', 'no changes to routes, auth, responses, steps or calls');
  if (plan.problems.length > 0) {
    out.push('', 'files that could not be read (not compared):');
    for (const p of plan.problems) out.push(`  ! ${p.side === 'base' ? 'base' : 'working tree'} ${p.file}:${p.line}:${p.col} ${p.path ? `${p.path}: ` : ''}${p.message}`);
  }
  return out.join('\n');
}

/** Inline code that survives any content, usable in a table cell too. */
function code(s: string): string {
  const fence = s.includes('`') ? '``' : '`';
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s.replace(/\|/g, '\\|')}${pad}${fence}`;
}

function fenceFor(lines: string[]): string {
  const longest = Math.max(2, ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))));
  return '`'.repeat(longest + 1);
}

/** GitHub refuses comments over 65,536 characters: past this, flow details are left out and the rest counted. */
export const MARKDOWN_LIMIT = 60_000;

function renderMarkdown(plan: Plan, limit = MARKDOWN_LIMIT): string {
  const { added, removed, changed, unchanged } = plan.summary;
  const out: string[] = [
    '## hooks plan',
    '',
    `Flows in ${code(plan.flowsDir || '.')} at ${plan.base.ref} (${code(plan.base.commit.slice(0, 7))}) compared with this change: ` +
      `**${added} added, ${removed} removed, ${changed} changed**, ${unchanged} unchanged.`,
  ];
  if (plan.flows.length === 0) out.push('', 'No changes to routes, auth, responses, steps or calls.');
  const problems: string[] = [];
  if (plan.problems.length > 0) {
    problems.push('', '### Files that could not be read (not compared)', '');
    for (const p of plan.problems) problems.push(`- ${p.side === 'base' ? 'base' : 'this change'}: ${code(`${p.file}:${p.line}:${p.col}`)} ${p.path ? `${code(p.path)}: ` : ''}${p.message}`);
  }
  let size = out.join('\n').length + problems.join('\n').length;
  for (const [index, f] of plan.flows.entries()) {
    const section = ['', `### ${f.status === 'added' ? '➕' : f.status === 'removed' ? '➖' : '✏️'} ${code(f.id)} ${f.status}`, '', `File: ${code(f.file)}`];
    const list = items(f, code);
    if (list.length > 0) section.push('', ...list.map((i) => `- **${i.label}:** ${i.text}`));
    const lines = blocks(f, true).flatMap((b) => [`@@ ${b.title} @@`, ...b.lines]);
    if (lines.length > 0) {
      const fence = fenceFor(lines);
      section.push('', `${fence}diff`, ...lines, fence);
    }
    size += section.join('\n').length + 1;
    if (size > limit) {
      const left = plan.flows.slice(index).map((x) => code(x.id));
      const named = left.length > 20 ? `${left.slice(0, 20).join(', ')}, …` : left.join(', ');
      out.push('', `…and ${left.length} more changed flow${left.length === 1 ? '' : 's'} (${named}): too long for one comment; run \`hooks plan\` for the whole plan.`);
      break;
    }
    out.push(...section);
  }
  return [...out, ...problems].join('\n');
}
