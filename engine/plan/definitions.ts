import type { Flow } from '../types/flow.ts';
import type { Problem } from '../schema/problem.ts';
import { MAX_FILE_BYTES, parseYamlText } from '../schema/document.ts';
import { flowSchema, validateAgainst } from '../schema/validate.ts';

/** A flow file's content as written: parsed and checked against the schema, env references left unresolved. */
export interface FlowDefinitionFile {
  /** path relative to the repository root (plan) or as given (graph) */
  file: string;
  flow: Flow;
}

/** A file that could not be read as a flow; `id` when the YAML at least names one, so it can still be matched. */
export interface UnreadableFlowFile {
  file: string;
  id?: string;
  problems: Problem[];
}

export type DefinitionResult = { ok: true; flow: Flow } | { ok: false; id?: string; problems: Problem[] };

/**
 * Reads a flow file's text the way `hooks plan` and `hooks graph` need it: YAML with positions, the schema, nothing
 * more. Env references are never resolved (a plan shows `${env:NAME}`, never a value), and nothing is compiled, so a
 * flow can be shown without its environment.
 */
export function readFlowDefinition(text: string, file: string): DefinitionResult {
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) {
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '', message: `file is over the ${MAX_FILE_BYTES / 1024 / 1024} MB limit` }] };
  }
  const read = parseYamlText(text, file);
  if (!read.ok) return read;
  const { source, value } = read;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problems: [source.problem([], 'a flow file must be a YAML mapping with version, id, trigger and steps')] };
  }
  const named = (value as { id?: unknown }).id;
  const id = typeof named === 'string' ? named : undefined;
  const problems = validateAgainst(flowSchema, value, source);
  if (problems.length > 0) return { ok: false, id, problems };
  return { ok: true, flow: value as Flow };
}
