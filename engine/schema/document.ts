import { readFile, stat } from 'node:fs/promises';
import { isScalar, LineCounter, parseDocument, Scalar, isMap, type Document, type YAMLError } from 'yaml';
import type { DocPath, Problem } from './problem.ts';
import { formatPath } from './problem.ts';

/** Largest file read; a bigger one is refused before parsing. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Alias expansions allowed when converting to plain values (stops "billion laughs" files). */
const MAX_ALIAS_COUNT = 100;

/** A parsed YAML file that can answer "where is this path?" for error messages. */
export class SourceDocument {
  constructor(
    readonly file: string,
    readonly text: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  problem(path: DocPath, message: string, at: { key?: boolean; offset?: number } = {}): Problem {
    const { line, col } = this.position(path, at);
    return { file: this.file, line, col, path: formatPath(path), message };
  }

  /** 1-based line and column of the node at `path`: its key with `key`, or a character `offset` inside a scalar. */
  position(path: DocPath, at: { key?: boolean; offset?: number } = {}): { line: number; col: number } {
    let offset = this.offsetOf(path, at);
    if (offset === undefined) offset = 0;
    return this.lines.linePos(offset);
  }

  private offsetOf(path: DocPath, at: { key?: boolean; offset?: number }): number | undefined {
    // walk up to the nearest ancestor that exists, so a missing property points at its parent
    for (let depth = path.length; depth >= 0; depth--) {
      const sub = path.slice(0, depth);
      if (at.key && depth === path.length && depth > 0) {
        const parent = sub.length > 1 ? this.doc.getIn(sub.slice(0, -1), true) : this.doc.contents;
        if (isMap(parent)) {
          const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(sub[sub.length - 1]));
          if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
        }
      }
      const node = sub.length === 0 ? this.doc.contents : this.doc.getIn(sub, true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (!range) continue;
      if (depth === path.length && at.offset !== undefined && isScalar(node)) return range[0] + scalarOffset(node, at.offset);
      return range[0];
    }
    return undefined;
  }
}

function scalarOffset(node: Scalar, offset: number): number {
  if (node.type === Scalar.PLAIN) return offset;
  if (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) return offset + 1;
  return 0; // block scalars: the start of the scalar is the best honest answer
}

export type ReadResult = { ok: true; source: SourceDocument; value: unknown } | { ok: false; problems: Problem[] };

/**
 * Reads and parses a YAML file with positions, refusing oversize files, duplicate keys and alias bombs; `parse` turns
 * the text into the result (the flow loader parses a large file in slices).
 */
export async function readYamlFile(file: string, displayName = file, parse: (text: string, displayName: string) => ReadResult | Promise<ReadResult> = parseYamlText): Promise<ReadResult> {
  const whole = (message: string): ReadResult => ({ ok: false, problems: [{ file: displayName, line: 1, col: 1, path: '', message }] });
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) return whole('is not a file');
    if (info.size > MAX_FILE_BYTES) {
      return whole(`file is ${(info.size / 1024 / 1024).toFixed(1)} MB; the limit is ${MAX_FILE_BYTES / 1024 / 1024} MB: split it or remove what is not needed`);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    return whole(`cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parse(text, displayName);
}

/** How every YAML file is parsed: a duplicate key is an error, and so is anything the spec calls one. */
export const YAML_OPTIONS = { uniqueKeys: true, prettyErrors: false, strict: true } as const;

export function parseYamlText(text: string, displayName: string): ReadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, ...YAML_OPTIONS });
  // the first syntax error is the real one; the parser's later errors are mostly its consequences
  if (doc.errors.length > 0) return { ok: false, problems: [syntaxProblem(doc.errors[0], lines, displayName)] };
  const source = new SourceDocument(displayName, text, doc, lines);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const message = /alias/i.test((err as Error).message)
      ? `too many alias expansions (limit ${MAX_ALIAS_COUNT}): this looks like an alias bomb; write the values out instead`
      : `cannot be read as data: ${(err as Error).message}`;
    return { ok: false, problems: [source.problem([], message)] };
  }
  return { ok: true, source, value };
}

/** A YAML syntax error as a problem at its line and column. */
export function syntaxProblem(err: YAMLError, lines: LineCounter, file: string): Problem {
  const { line, col } = lines.linePos(err.pos[0]);
  return { file, line, col, path: '', message: yamlMessage(err.code, err.message) };
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return `${first}: a key may appear only once in a mapping; remove or rename one`;
  return `YAML syntax error: ${first}`;
}
