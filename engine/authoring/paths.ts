import { parse as parseEngineQuery } from 'fast-querystring';
import { compileExpression } from '../expr/expression.ts';
import { redactHeaders } from '../common/redact.ts';

/** One path a flow's params could read: the JSONata path, a variable name for it, and what the sample holds there. */
export interface PathRow {
  path: string;
  alias: string;
  value: unknown;
  /** the path reads every item of a list (JSONata maps over arrays): the flatMap a path helper suggests */
  flattened: boolean;
}

/** The parts of a request a sample gives; a body sample gives the body only. */
export interface SampleParts {
  headers?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

/** Items of a list listed one by one; the flattened path covers every item, however many. */
const INDEXED_ITEMS = 3;
/** The flow schema's `name`: what a params key (and so an alias) may be. */
export const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** JSONata reads these as operators or literals, so as a field they are quoted. */
const RESERVED = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);

type Segment = string | number;

/**
 * A query string as the engine's Fastify server parses `req.query` (find-my-way's default parser, fast-querystring):
 * `a[b]=1` is the key "a[b]", a repeated key a list; so the paths listed are the ones a flow sees.
 */
export function parseQuery(text: string): Record<string, unknown> {
  const query = text.startsWith('?') ? text.slice(1) : text;
  return query.length === 0 ? {} : { ...parseEngineQuery(query) };
}

/** `body.items[0].name`; a key that is not a plain name is quoted (`` query.`a[b]` ``). */
export function renderPath(segments: Segment[]): string {
  return segments
    .map((s, i) => {
      if (typeof s === 'number') return `[${s}]`;
      const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !RESERVED.has(s) ? s : `\`${s}\``;
      return i === 0 ? name : `.${name}`;
    })
    .join('');
}

/** Every leaf under each root, depth first: objects by key, lists by index. A key JSONata cannot quote is left out. */
function leavesOf(value: unknown, at: Segment[], out: Segment[][]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => leavesOf(item, [...at, i], out));
    return;
  }
  if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value)) if (!key.includes('`')) leavesOf(item, [...at, key], out);
    return;
  }
  out.push(at);
}

const valueAt = (root: Record<string, unknown>, segments: Segment[]) => segments.reduce<unknown>((v, s) => (v as Record<string | number, unknown>)[s], root);

/**
 * The paths of a sample, one per leaf (lists item by item, the first INDEXED_ITEMS of each), each list's paths also
 * flattened right after its items (`body.items.name`, valued by JSONata as a flow would read it). Aliases are unique
 * and avoid `taken` (the names a flow already has).
 */
export async function samplePaths(parts: SampleParts, taken: Iterable<string> = []): Promise<PathRow[]> {
  const root: Record<string, unknown> = {};
  if (parts.headers) root.headers = redactHeaders(parts.headers);
  if (parts.query) root.query = parts.query;
  if ('body' in parts) root.body = parts.body;
  const leaves: Segment[][] = [];
  for (const name of Object.keys(root)) leavesOf(root[name], [name], leaves);
  const rows: (Omit<PathRow, 'alias'> & { segments: Segment[] })[] = [];
  let group: { key: string; flattened: Map<string, Segment[]> } | undefined;
  const closeGroup = async () => {
    for (const [path, segments] of group?.flattened ?? []) rows.push({ path, segments, value: await compileExpression(path).evaluate(root), flattened: true });
  };
  for (const leaf of leaves) {
    const firstIndex = leaf.findIndex((s) => typeof s === 'number');
    const key = firstIndex === -1 ? '' : renderPath(leaf.slice(0, firstIndex));
    if (group && group.key !== key) await closeGroup();
    if (!group || group.key !== key) group = { key, flattened: new Map() };
    if (firstIndex !== -1) {
      const names = leaf.filter((s) => typeof s === 'string');
      group.flattened.set(renderPath(names), names);
    }
    if (leaf.every((s) => typeof s === 'string' || s < INDEXED_ITEMS)) rows.push({ path: renderPath(leaf), segments: leaf, value: valueAt(root, leaf), flattened: false });
  }
  await closeGroup();
  const names = new Set(taken);
  return rows.map(({ segments, ...row }) => ({ ...row, alias: aliasFor(segments, names) }));
}

/** A name from the leaf (`name`), else with its parents (`items_name`, `body_items_name`), else numbered. */
function aliasFor(segments: Segment[], taken: Set<string>): string {
  const candidates: string[] = [];
  // the root (body, query, headers) only when the path's own names are taken
  for (let k = 1; k <= segments.length; k++) {
    const name = segments
      .slice(-k)
      .map(String)
      .join('_')
      .replace(/[^A-Za-z0-9_]+/g, '_')
      .replace(/_+/g, '_')
      .replace(/^_|_$/g, '')
      .slice(-64)
      .replace(/^[0-9_]+/, '');
    if (NAME.test(name)) candidates.push(name);
  }
  const base = candidates[0] ?? 'value';
  let alias = candidates.find((c) => !taken.has(c));
  for (let n = 2; alias === undefined; n++) if (!taken.has(`${base.slice(0, 60)}_${n}`)) alias = `${base.slice(0, 60)}_${n}`;
  taken.add(alias);
  return alias;
}

/** A value as one short line: JSON, cut at `width` characters. */
export function preview(value: unknown, width = 40): string {
  const text = value === undefined ? '(nothing)' : JSON.stringify(value);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}
