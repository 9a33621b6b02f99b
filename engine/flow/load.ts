import { createHash } from 'node:crypto';
import type { Flow } from '../types/flow.ts';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from './compiled.ts';
import type { DocPath, Problem } from '../schema/problem.ts';
import { readYamlFile } from '../schema/document.ts';
import { validateAgainst, flowSchema } from '../schema/validate.ts';
import { hasEnvRef, resolveEnvRefs } from '../expr/env.ts';
import { compileFlow } from './compile.ts';
import { checkSample } from './sample.ts';
import { saveListWarnings } from './save-lists.ts';
import { nextSlice, sliceOver } from './slices.ts';
import { parseYamlInSlices } from './yaml-slices.ts';

/** Where the id and the route are written: cross-file checks (unique ids and routes) point there. */
export interface FlowPositions {
  id: Problem;
  route: Problem;
}

/**
 * A file's flow and its warnings (it loads, but likely does not do what was meant: `hooks validate` prints them), or
 * every problem found in it.
 */
export type FlowResult = { ok: true; flow: CompiledFlow; positions: FlowPositions; warnings: Problem[] } | { ok: false; problems: Problem[] };

/** A flow's revision: its text's sha256, shortened. Equal revisions mean a compiled flow can be reused. */
export function revisionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/**
 * Turns one flow file into a compiled flow, or into every problem found in it. Never throws: a broken file must not
 * stop the others from loading.
 */
export async function loadFlowFile(file: string, displayName: string, config: EngineConfig, env: NodeJS.ProcessEnv = process.env): Promise<FlowResult> {
  const read = await readYamlFile(file, displayName, parseYamlInSlices);
  if (!read.ok) return read;
  const { source, value } = read;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problems: [source.problem([], 'a flow file must be a YAML mapping with version, id, trigger and steps')] };
  }
  const schemaProblems = validateAgainst(flowSchema, value, source);
  if (schemaProblems.length > 0) return { ok: false, problems: schemaProblems };

  const problems: Problem[] = [];
  const secrets: string[] = [];
  const { definition, resolved } = await copyResolved(value as Record<string, unknown>, (value, path) =>
    resolveEnv(value, path, env, (at, names) => {
      problems.push(source.problem(at, `environment variable ${names.map((n) => `${n}`).join(', ')} is not set; set it or give a default: \${env:${names[0]}:-default}`));
    }, secrets),
  );

  const compiled = await compileFlow(resolved, { file: displayName, revision: revisionOf(source.text), definition, secrets }, config);
  for (const p of compiled.problems) problems.push(source.problem(p.path, p.message, p.at));
  if (problems.length === 0 && definition.trigger.sample) problems.push(...(await checkSample(compiled.flow, file, source, config.flows.dir)));
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems) };
  const routePath = definition.trigger.path ? ['trigger', 'path'] : ['id'];
  const warnings = saveListWarnings(definition).map((w) => source.problem(w.path, w.message));
  return { ok: true, flow: compiled.flow, positions: { id: source.problem(['id'], ''), route: source.problem(routePath, '') }, warnings };
}

/**
 * The definition as written, a copy (the parser's strings are slices of the file's text, and a served flow would
 * keep the whole text alive), and the same with its env references resolved; a top-level list (the steps) item by
 * item, with pauses between: a large flow is copied in slices too.
 */
async function copyResolved(value: Record<string, unknown>, resolve: (value: unknown, path: DocPath) => unknown): Promise<{ definition: Flow; resolved: Flow }> {
  const definition: [string, unknown][] = [];
  const resolved: [string, unknown][] = [];
  for (const [key, part] of Object.entries(value)) {
    if (!Array.isArray(part)) {
      const copy = structuredClone(part);
      definition.push([key, copy]);
      resolved.push([key, resolve(copy, [key])]);
      continue;
    }
    // as long as the list from the start, as map() makes it: an array grown by push keeps spare room
    const copies = part.map(() => undefined as unknown);
    const resolvedItems = part.map(() => undefined as unknown);
    for (const [i, item] of part.entries()) {
      if (sliceOver()) await nextSlice();
      copies[i] = structuredClone(item);
      resolvedItems[i] = resolve(copies[i], [key, i]);
    }
    definition.push([key, copies]);
    resolved.push([key, resolvedItems]);
  }
  return { definition: Object.fromEntries(definition) as unknown as Flow, resolved: Object.fromEntries(resolved) as unknown as Flow };
}

function resolveEnv(value: unknown, path: DocPath, env: NodeJS.ProcessEnv, onMissing: (path: DocPath, names: string[]) => void, secrets: string[]): unknown {
  if (typeof value === 'string') {
    if (!hasEnvRef(value)) return value;
    const result = resolveEnvRefs(value, env);
    if (result.missing.length > 0) onMissing(path, result.missing);
    secrets.push(...result.secrets);
    return result.value;
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnv(item, [...path, i], env, onMissing, secrets));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, [...path, k], env, onMissing, secrets)]));
  }
  return value;
}

function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}
