import { isMap, isScalar, parseDocument, stringify, type Pair, type YAMLMap } from 'yaml';
import { YAML_OPTIONS } from '../schema/document.ts';

export type ParamsEdit = { ok: true; text: string } | { ok: false; reason: string };

/** The params a flow file already has: its names, and the expressions they read (to leave those paths out). */
export function existingParams(text: string): { names: Set<string>; reads: Set<string> } {
  const doc = parseDocument(text, YAML_OPTIONS);
  const params = doc.getIn(['trigger', 'params'], true);
  const names = new Set<string>();
  const reads = new Set<string>();
  if (isMap(params)) {
    for (const pair of params.items) {
      if (isScalar(pair.key)) names.add(String(pair.key.value));
      if (isScalar(pair.value)) reads.add(String(pair.value.value).trim());
    }
  }
  return { names, reads };
}

/**
 * Adds `name: path` entries to the flow's `trigger.params`, writing only new text into the file's own: every other
 * byte (comments, layout, quoting) stays as it was, which re-rendering the document would not keep. A block map gets
 * lines at its indentation; a flow map (`{ ... }`) gets entries before its closing brace.
 */
export function addParams(text: string, entries: [string, string][]): ParamsEdit {
  const doc = parseDocument(text, YAML_OPTIONS);
  if (doc.errors.length > 0) return { ok: false, reason: `it is not valid YAML: ${doc.errors[0].message.split('\n')[0]}` };
  if (entries.length === 0) return { ok: true, text };
  const trigger = doc.get('trigger', true);
  if (!isMap(trigger)) return { ok: false, reason: 'it has no trigger: mapping to put params under' };
  const params = trigger.get('params', true);
  if (params !== undefined && !isMap(params) && !(isScalar(params) && params.value === null)) return { ok: false, reason: 'its trigger.params is not a mapping' };
  if (isMap(params) && params.items.length > 0) return appendTo(text, params, entries.map(([k, v]) => [k, v]));
  // no params yet (or `params:` / `params: {}`): a params entry in the trigger, holding the new ones
  const withoutEmpty = params === undefined ? text : removePair(text, trigger, 'params');
  const reparsed = parseDocument(withoutEmpty, YAML_OPTIONS).get('trigger', true) as YAMLMap;
  return appendTo(withoutEmpty, reparsed, [['params', entries]]);
}

type Entry = [string, string | [string, string][]];

function appendTo(text: string, map: YAMLMap, entries: Entry[]): ParamsEdit {
  const last = map.items[map.items.length - 1] as Pair;
  if (map.flow) {
    const close = text.lastIndexOf('}', map.range![1]);
    const inner = entries.map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : `{ ${v.map(([a, b]) => `${a}: ${JSON.stringify(b)}`).join(', ')} }`}`).join(', ');
    const before = text.slice(0, close).trimEnd().replace(/,$/, '');
    const sep = before.endsWith('{') ? ' ' : ', ';
    return { ok: true, text: `${before}${sep}${inner} ${text.slice(close)}` };
  }
  const keyStart = (last.key as { range: [number, number, number] }).range[0];
  const indent = keyStart - (text.lastIndexOf('\n', keyStart - 1) + 1);
  const end = (last.value as { range?: [number, number, number] } | null)?.range?.[1] ?? (last.key as { range: [number, number, number] }).range[2];
  // after the line the last entry ends on (its comment included)
  const lineEnd = text[end - 1] === '\n' ? end : text.indexOf('\n', end) === -1 ? text.length : text.indexOf('\n', end) + 1;
  const head = text.slice(0, lineEnd);
  const lines = block(entries, ' '.repeat(indent));
  return { ok: true, text: `${head}${head.endsWith('\n') ? '' : '\n'}${lines}${text.slice(lineEnd)}` };
}

function block(entries: Entry[], indent: string): string {
  return entries
    .map(([k, v]) => (typeof v === 'string' ? `${indent}${k}: ${stringify(v).trimEnd()}\n` : `${indent}${k}:\n${block(v, `${indent}  `)}`))
    .join('');
}

/** The text without an empty `key:` entry of `map` (its whole line). */
function removePair(text: string, map: YAMLMap, key: string): string {
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair;
  const start = (pair.key as { range: [number, number, number] }).range[0];
  if (map.flow) {
    const end = (pair.value as { range?: [number, number, number] } | null)?.range?.[1] ?? start + key.length + 1;
    return `${text.slice(0, start)}${text.slice(end).replace(/^\s*,?\s*/, '')}`;
  }
  const lineStart = text.lastIndexOf('\n', start - 1) + 1;
  const lineEnd = text.indexOf('\n', start);
  return `${text.slice(0, lineStart)}${lineEnd === -1 ? '' : text.slice(lineEnd + 1)}`;
}
