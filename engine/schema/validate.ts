import { createRequire } from 'node:module';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { SourceDocument } from './document.ts';
import type { DocPath, Problem } from './problem.ts';

const require = createRequire(import.meta.url);
const addFormats = require('ajv-formats') as (ajv: Ajv2020) => Ajv2020;

export const flowSchema = require('../../schemas/flow.schema.json') as Record<string, unknown>;
export const configSchema = require('../../schemas/config.schema.json') as Record<string, unknown>;
export const flowTestsSchema = require('../../schemas/flow-tests.schema.json') as Record<string, unknown>;

const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
// the tests file refers to the flow schema's definitions
ajv.addSchema(flowSchema);
const validators = new Map<object, ValidateFunction>();
/** A sample file that holds a whole request (trigger.sample): the flow schema's definition of one. */
export const sampleRequestSchema = { $ref: `${String(flowSchema.$id)}#/$defs/sampleRequest` };

function validatorFor(schema: object): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/**
 * Validates a value against a schema; every problem is placed at its node in the source with a plain message.
 * `written` is the document as written, when `value` has env references resolved: messages quote what the file says,
 * never a value from the environment.
 */
export function validateAgainst(schema: object, value: unknown, source: SourceDocument, written: unknown = value): Problem[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  return selectErrors(validate.errors ?? []).map((err) => toProblem({ ...err, data: valueAt(written, pathOf(err)) }, source));
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let node = root;
  for (const part of path) node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[part] : undefined;
  return node;
}

function pathOf(err: ErrorObject): (string | number)[] {
  if (err.instancePath === '') return [];
  return err.instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

// Errors that only summarise others ("must match exactly one schema") rank last.
const RANK: Record<string, number> = { additionalProperties: 0, required: 1, type: 2, const: 3, enum: 3, oneOf: 9, anyOf: 9, if: 9 };

/** One error per location, the most useful first; summaries are dropped when a deeper error explains them. */
function selectErrors(errors: ErrorObject[]): ErrorObject[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const err of errors) {
    const key = err.keyword === 'additionalProperties' ? `${err.instancePath}/${String(err.params.additionalProperty)}` : err.instancePath;
    byPath.set(key, [...(byPath.get(key) ?? []), err]);
  }
  const chosen: ErrorObject[] = [];
  for (const [path, group] of byPath) {
    group.sort((a, b) => (RANK[a.keyword] ?? 5) - (RANK[b.keyword] ?? 5));
    const best = group[0];
    const oneOf = group.find((e) => e.keyword === 'oneOf');
    const explainedDeeper = [...byPath.keys()].some((other) => other !== path && other.startsWith(`${path}/`));
    // "exactly one of" (step kinds): a required-error per alternative says nothing useful, the summary does, and an
    // unknown key below (a misspelt kind) says it better still
    if (oneOf && (best.keyword === 'required' || best === oneOf)) {
      if (!explainedDeeper) chosen.push(oneOf);
      continue;
    }
    if ((RANK[best.keyword] ?? 5) === 9 && explainedDeeper) continue;
    chosen.push(best);
  }
  return chosen;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function suggestion(name: string, allowed: string[]): string {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of allowed) {
    const score = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/** Edit distance where swapping two neighbouring letters counts as one edit ("sned" is one edit from "send"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

// the flow schema's step is an id and exactly one of these: its oneOf names them
const STEP_KINDS = ((flowSchema.$defs as { step: { oneOf: { required: [string] }[] } }).step.oneOf).map((one) => one.required[0]);

function isStepSchema(schema: unknown): boolean {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props !== undefined && STEP_KINDS.every((kind) => kind in props);
}

function toProblem(err: ErrorObject, source: SourceDocument): Problem {
  const path: DocPath = pathOf(err);
  const parent = err.parentSchema as { properties?: Record<string, unknown>; description?: string } | undefined;
  switch (err.keyword) {
    case 'additionalProperties': {
      const name = String(err.params.additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const message = isStepSchema(parent)
        ? `unknown step kind "${name}"${suggestion(name, STEP_KINDS)}; a step has an id and one of: ${STEP_KINDS.join(', ')}`
        : `unknown property "${name}"${suggestion(name, allowed)}; allowed here: ${allowed.join(', ')}`;
      return source.problem([...path, name], message, { key: true });
    }
    case 'required':
      return source.problem(path, `missing required property "${String(err.params.missingProperty)}"${whatToWrite(String(err.params.missingProperty), parent, path)}`);
    case 'oneOf':
      if (isStepSchema(parent)) {
        const present = STEP_KINDS.filter((kind) => kind in (err.data as object));
        const message =
          present.length === 0
            ? `a step needs one of: ${STEP_KINDS.join(', ')}`
            : `a step does one thing, but this one has ${present.join(' and ')}: split it into ${present.length} steps`;
        return source.problem(path, message);
      }
      return source.problem(path, err.message ?? 'is not valid');
    case 'type': {
      const expected = String(err.params.type).replace(/,/g, ' or ').replace('object', 'mapping').replace('array', 'list');
      return source.problem(path, `must be ${expected}, not ${describeType(err.data)}`);
    }
    case 'enum':
      return source.problem(path, `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; got ${describeType(err.data)}`);
    case 'const':
      return source.problem(path, `must be ${JSON.stringify(err.params.allowedValue)}; got ${describeType(err.data)}`);
    case 'pattern':
    case 'format':
      return source.problem(path, `${describeType(err.data)} is not valid here: ${lowerFirst(parent?.description ?? err.message ?? "")}`);
    default:
      return source.problem(path, `${err.message ?? 'is not valid'}; got ${describeType(err.data)}`);
  }
}

/** For a required property that can hold one value only (a flow's version): the line to add, and where. */
function whatToWrite(name: string, parent: { properties?: Record<string, unknown> } | undefined, path: DocPath): string {
  const schema = parent?.properties?.[name] as { const?: unknown } | undefined;
  if (schema?.const === undefined) return '';
  return `: add "${name}: ${JSON.stringify(schema.const)}"${path.length === 0 ? ' at the top of the file' : ''}`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
