import { Composer, LineCounter, Parser, isScalar, isSeq, type CST, type Document, type ParsedNode, type YAMLError, type YAMLSeq } from 'yaml';
import { parseYamlText, SourceDocument, syntaxProblem, YAML_OPTIONS, type ReadResult } from '../schema/document.ts';
import { nextSlice, sliceOver } from './slices.ts';

/** Files shorter than this parse in one go, in a few milliseconds; longer ones in slices. */
const SLICED_FROM_CHARS = 64 * 1024;
/** About how much text the parser reads in one slice; a slice ends at the end of a line. */
const CHUNK_CHARS = 2 * 1024;

/** A top-level list (`steps:`) whose items after the first are composed one by one, outside the rest of the file. */
interface SplitList {
  /** where its key is written: finds the list in the composed file */
  keyOffset: number;
  seq: CST.BlockSequence;
  /** the items between the first and the last (the skeleton keeps those two, so that what follows the list is placed as in the whole file) */
  middle: CST.BlockSequence['items'];
}

/**
 * Parses a YAML file like parseYamlText, with the same result and the same errors at the same positions, in slices
 * with pauses between them when the file is large: the text a chunk of lines at a time, then the file with each
 * top-level list (a flow's steps) cut to its first and last items, then each item between them on its own. A file
 * with anchors is composed in one go (an alias may point into another item), and so is a file whose top level is not
 * a mapping or that has directives or several documents.
 */
export async function parseYamlInSlices(text: string, displayName: string): Promise<ReadResult> {
  if (text.length < SLICED_FROM_CHARS) return parseYamlText(text, displayName);
  const lines = new LineCounter();
  const tokens = await parseTokens(text, lines);
  const plan = splitPlan(tokens);
  if (!plan || hasAnchor(plan.skeleton)) return parseYamlText(text, displayName);
  const [doc] = new Composer(YAML_OPTIONS).compose(plan.tokens, true, text.length);
  const errors: YAMLError[] = [...doc.errors];
  let value: Record<string, unknown>;
  try {
    value = doc.toJS() as Record<string, unknown>;
  } catch {
    return parseYamlText(text, displayName); // what the whole file's parse says about it
  }
  for (const list of plan.lists) {
    const composed = listAt(doc, list.keyOffset);
    const values = composed && value[composed.key];
    if (!composed || !Array.isArray(values) || composed.seq.items.length !== 2) return parseYamlText(text, displayName);
    const [first, last] = composed.seq.items as ParsedNode[];
    const nodes: ParsedNode[] = [first];
    const items: unknown[] = [values[0]];
    for (const item of list.middle) {
      if (sliceOver()) await nextSlice();
      if (hasAnchor(item)) return parseYamlText(text, displayName);
      // composed from where the item before it ended, as in the whole file: errors between items are placed alike
      const piece = composeItem(list.seq, item, nodes[nodes.length - 1].range[2]);
      if (!piece) return parseYamlText(text, displayName);
      nodes.push(piece.node);
      items.push(piece.value);
      errors.push(...piece.errors);
    }
    composed.seq.items = [...nodes, last];
    value[composed.key] = [...items, values[1]];
  }
  if (errors.length > 0) return { ok: false, problems: [syntaxProblem(errors.sort((a, b) => a.pos[0] - b.pos[0])[0], lines, displayName)] };
  return { ok: true, source: new SourceDocument(displayName, text, doc, lines), value };
}

/** The parser's tokens (the CST), reading the text a chunk of whole lines at a time. */
async function parseTokens(text: string, lines: LineCounter): Promise<CST.Token[]> {
  const parser = new Parser(lines.addNewLine);
  const tokens: CST.Token[] = [];
  for (let at = 0; at < text.length; ) {
    if (sliceOver()) await nextSlice();
    const newline = text.indexOf('\n', at + CHUNK_CHARS);
    const end = newline === -1 ? text.length : newline + 1;
    for (const token of parser.parse(text.slice(at, end), end < text.length)) tokens.push(token);
    at = end;
  }
  return tokens;
}

/** The tokens with each top-level list cut to its first and last items (the skeleton), and the items cut out; undefined: no split. */
function splitPlan(tokens: CST.Token[]): { tokens: CST.Token[]; skeleton: CST.Document; lists: SplitList[] } | undefined {
  const documents = tokens.filter((token) => token.type === 'document');
  if (documents.length !== 1 || tokens.some((token) => token.type === 'directive')) return undefined;
  const document = documents[0] as CST.Document;
  const map = document.value;
  if (map?.type !== 'block-map') return undefined;
  const lists: SplitList[] = [];
  const items = map.items.map((item) => {
    const seq = item.value;
    if (seq?.type !== 'block-seq' || seq.items.length < 3 || item.key?.type !== 'scalar') return item;
    lists.push({ keyOffset: item.key.offset, seq, middle: seq.items.slice(1, -1) });
    return { ...item, value: { ...seq, items: [seq.items[0], seq.items[seq.items.length - 1]] } };
  });
  if (lists.length === 0) return undefined;
  const skeleton: CST.Document = { ...document, value: { ...map, items } as CST.BlockMap };
  return { tokens: tokens.map((token) => (token === document ? skeleton : token)), skeleton, lists };
}

/** The composed list whose key is written at `keyOffset`, with its key as the value has it. */
function listAt(doc: Document.Parsed, keyOffset: number): { key: string; seq: YAMLSeq } | undefined {
  const pairs = (doc.contents as { items?: { key: unknown; value: unknown }[] } | null)?.items ?? [];
  const pair = pairs.find((p) => isScalar(p.key) && p.key.range?.[0] === keyOffset);
  // a key the value could not be given by assignment is left to the whole file's parse
  if (!pair || !isScalar(pair.key) || typeof pair.key.value !== 'string' || pair.key.value === '__proto__' || !isSeq(pair.value)) return undefined;
  return { key: pair.key.value, seq: pair.value };
}

/**
 * One list item composed as a list of its own, from `offset` on: its node (positions are offsets in the whole text),
 * value and errors; undefined when it does not compose to one item.
 */
function composeItem(seq: CST.BlockSequence, item: CST.BlockSequence['items'][number], offset: number): { node: ParsedNode; value: unknown; errors: YAMLError[] } | undefined {
  const alone: CST.Document = { type: 'document', offset, start: [], value: { ...seq, offset, items: [item] } };
  const [doc] = new Composer(YAML_OPTIONS).compose([alone], true);
  if (!isSeq(doc.contents) || doc.contents.items.length !== 1) return undefined;
  // with errors the file fails, and its value is never read (an alias to no anchor would throw here)
  if (doc.errors.length > 0) return { node: doc.contents.items[0] as ParsedNode, value: undefined, errors: doc.errors };
  try {
    return { node: doc.contents.items[0] as ParsedNode, value: (doc.toJS() as unknown[])[0], errors: [] };
  } catch {
    return undefined;
  }
}

/** Whether a part of the CST defines an anchor: walked without recursion, so deep nesting cannot overflow the stack. */
function hasAnchor(root: CST.Token | CST.BlockSequence['items'][number]): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
    } else if (node !== null && typeof node === 'object') {
      const token = node as Record<string, unknown>;
      if (token.type === 'anchor') return true;
      for (const key of ['start', 'key', 'sep', 'value', 'end', 'props', 'items']) if (token[key] !== undefined) stack.push(token[key]);
    }
  }
  return false;
}
