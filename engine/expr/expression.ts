import jsonata from 'jsonata';
import { checkRegex } from './regex-check.ts';
import { CheckedRegExp, CONCATENATED, EVALUATE_EXIT, exitHook, GUARDED, guardBuiltins, MAX_ITEMS, tooLarge } from './bounded.ts';

/**
 * Bounds applied to every evaluation so that a runaway expression fails its execution instead of stalling the server:
 * the time it may run (its own turns of the event loop: a long one lets other requests in, see bounded.ts), how deep
 * it may recurse, and how many items a list it makes may hold. Strings are capped at MAX_STRING_LENGTH (bounded.ts).
 */
export interface ExpressionLimits {
  timeoutMs: number;
  maxDepth: number;
  maxSequence: number;
}

export const DEFAULT_LIMITS: ExpressionLimits = { timeoutMs: 1_000, maxDepth: 500, maxSequence: MAX_ITEMS };

/** A JSONata expression compiled once, at load time. */
export interface CompiledExpression {
  readonly source: string;
  evaluate(scope: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
  /**
   * The value at once, without JSONata, for the common shapes (a path, a sum over one, a path compared with a literal)
   * over plain data; SLOW otherwise, and then `evaluate` gives it. The request path reads most values this way: an
   * await per value is a measurable share of a request.
   */
  readNow(scope: unknown): unknown;
  // both are plain functions, called detached too: a template keeps an expression's own as its renderings
}

/** What `readNow` returns for an expression or data it does not cover: `evaluate` (JSONata) gives that value. */
export const SLOW = Symbol('slow');

/** A compile or evaluation failure with the character offset (0-based) into the source, where JSONata gives one. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly offset: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

interface JsonataError {
  message?: string;
  position?: number;
  code?: string;
  token?: string;
}

function toExpressionError(err: unknown, source: string, limits: ExpressionLimits = DEFAULT_LIMITS): ExpressionError {
  const e = (err ?? {}) as JsonataError;
  let message = e.message ?? String(err);
  let code = e.code;
  if (code === 'D1011') message = `expression recursed deeper than the limit (${message})`;
  if (code === 'D1012') message = `expression ran longer than the limit (${message})`;
  if (code === 'D2015') message = tooLarge(`a list of more than ${limits.maxSequence.toLocaleString('en-US')} items`).message;
  if (err instanceof RangeError) {
    // what V8 refuses to build, or a value nested deeper than JavaScript's own stack
    if (/Invalid (string|array) length|allocation failed/.test(message)) message = tooLarge('a string or list longer than the engine can hold').message;
    else if (/call stack/.test(message)) message = `expression recursed deeper than the engine can go (${message})`;
    code ??= message.startsWith('value too large') ? 'TooLarge' : 'D1011';
  }
  // JSONata positions point just past the offending token
  const offset = typeof e.position === 'number' ? Math.max(0, Math.min(source.length, e.position - 1)) : undefined;
  return new ExpressionError(message, offset, code);
}

/**
 * Identical sources share one compiled expression: flows repeat the same idioms (body.phone, contact.phone), and a
 * compiled JSONata expression is reusable because every evaluation gets its own frame. Bounded, so that a process
 * reloading flows for weeks does not grow.
 */
const cache = new Map<string, CompiledExpression>();
const CACHE_LIMIT = 20_000;

export function compileExpression(source: string, limits: ExpressionLimits = DEFAULT_LIMITS): CompiledExpression {
  const key = `${limits.timeoutMs}:${limits.maxDepth}:${limits.maxSequence}:${source}`;
  let found = cache.get(key);
  if (!found) {
    found = compileUncached(source, limits);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, found);
  }
  return found;
}

function compileUncached(source: string, limits: ExpressionLimits): CompiledExpression {
  // no `timeout`: JSONata's would count the turns a long evaluation leaves to other requests; the exit hook keeps time
  const options = { stack: limits.maxDepth, sequence: limits.maxSequence, RegexEngine: CheckedRegExp as unknown as RegExpConstructor };
  let compiled: ReturnType<typeof jsonata>;
  try {
    // compiled once, at load: a syntax error fails the load, and no request pays for a parse
    compiled = jsonata(source, options);
  } catch (err) {
    throw toExpressionError(err, source);
  }
  bound(compiled, source, limits);
  const evaluate = async (scope: unknown, bindings?: Record<string, unknown>) => {
    try {
      return normalise(await compiled.evaluate(scope, bindings));
    } catch (err) {
      throw toExpressionError(err, source, limits);
    }
  };
  const read = fastRead(source);
  if (!read) return { source, evaluate, readNow: () => SLOW };
  return {
    source,
    // most expressions are paths (vars.name, body.payment[0].name), sums over one ($sum(body.items.price)) or a path
    // compared with a literal (vars.total > 100): read them directly, with JSONata's result, and leave data they do
    // not cover (arrays of arrays, other types...) to JSONata
    evaluate(scope, bindings) {
      const value = read(scope);
      return value === SLOW ? evaluate(scope, bindings) : Promise.resolve(value);
    },
    readNow: read,
  };
}

/**
 * The load-time half of bounded.ts: a regular expression that can backtrack catastrophically fails the load (at its
 * offset in the source); the exit hook and the guarded built-ins the expression names are put in its frame.
 */
function bound(compiled: ReturnType<typeof jsonata>, source: string, limits: ExpressionLimits): void {
  const names = new Set<string>();
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || seen.has(node) || node instanceof RegExp) return;
    seen.add(node);
    const n = node as { type?: string; value?: unknown; position?: number; lhs?: object; rhs?: object };
    if (n.type === 'regex' && n.value instanceof RegExp) checkLiteral(n.value, n.position ?? 0, source);
    else if (n.type === 'variable' && typeof n.value === 'string') names.add(n.value);
    else if (n.type === 'binary' && n.value === '&') for (const side of [n.lhs, n.rhs]) if (side) CONCATENATED.add(side);
    for (const child of Object.values(node)) visit(child);
  };
  visit(compiled.ast());
  compiled.assign(EVALUATE_EXIT as never, exitHookFor(limits));
  // $eval reads expressions from data at run time: they may call any built-in
  guardBuiltins(compiled, names.has('eval') ? GUARDED : names);
}

function checkLiteral(re: RegExp, end: number, source: string): void {
  const unsafe = checkRegex(re);
  if (!unsafe) return;
  // JSONata's position is just past the literal: /source/ and its flags (without the g it adds)
  const start = end - re.source.length - 2 - re.flags.replace('g', '').length;
  throw new ExpressionError(unsafe.message, Math.max(0, Math.min(source.length, start + 1 + unsafe.offset)), 'UnsafeRegex');
}

const exitHooks = new Map<string, ReturnType<typeof exitHook>>();
function exitHookFor(limits: ExpressionLimits): ReturnType<typeof exitHook> {
  const key = `${limits.timeoutMs}:${limits.maxSequence}`;
  let found = exitHooks.get(key);
  if (!found) exitHooks.set(key, (found = exitHook(limits)));
  return found;
}

interface PathStep {
  key: string;
  /** `key[n]`: the n-th item of the field's value (an array), or the value itself for n = 0 (a single value) */
  index?: number;
}

const FIELD = '[A-Za-z_][A-Za-z0-9_]*';
const PATH = new RegExp(`^${FIELD}(?:\\[\\d+\\])?(?:\\.${FIELD}(?:\\[\\d+\\])?)*$`);
const SUM = /^\$sum\(\s*([^()]*?)\s*\)$/;
// words that JSONata reads as literals or operators, not as field names
const RESERVED = new Set(['true', 'false', 'null', 'and', 'or', 'in']);

function pathSteps(text: string): PathStep[] | undefined {
  if (!PATH.test(text)) return undefined;
  const steps = text.split('.').map((segment) => {
    const [, key, index] = /^(\w+)(?:\[(\d+)\])?$/.exec(segment)!;
    return { key, index: index === undefined ? undefined : Number(index) };
  });
  return steps.some((step) => RESERVED.has(step.key)) ? undefined : steps;
}

// `path <op> literal`, the usual branch condition; the literal a number or a string without escapes
const COMPARISON = /^(\S+?)\s*(<=|>=|!=|=|<|>)\s*(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|"[^"\\]*"|'[^'\\]*')$/;
const COMPARE: Record<string, (a: number | string, b: number | string) => boolean> = {
  '=': (a, b) => a === b,
  '!=': (a, b) => a !== b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function fastRead(source: string): ((scope: unknown) => unknown) | undefined {
  const trimmed = source.trim();
  const comparison = COMPARISON.exec(trimmed);
  if (comparison) {
    const [, left, op, literal] = comparison;
    const steps = pathSteps(left);
    const right = /^['"]/.test(literal) ? literal.slice(1, -1) : Number(literal);
    // only a value of the literal's own type is compared here; JSONata decides the rest (undefined, other types)
    return steps && ((scope) => {
      const value = read(steps, scope);
      return typeof value === typeof right ? COMPARE[op](value as number | string, right) : SLOW;
    });
  }
  const sum = SUM.exec(trimmed);
  if (sum) {
    const steps = pathSteps(sum[1]);
    return steps && !steps.some((step) => step.index !== undefined) ? (scope) => sumOf(steps, scope) : undefined;
  }
  const steps = pathSteps(trimmed);
  return steps && ((scope) => read(steps, scope));
}

/** A path through objects from one context. Any array on the way defers, except the one an index picks an item from. */
function read(steps: PathStep[], scope: unknown): unknown {
  let node = scope;
  for (const { key, index } of steps) {
    if (Array.isArray(node)) return SLOW;
    if (node === null || typeof node !== 'object') return undefined;
    node = Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
    if (index === undefined || node === undefined) continue;
    if (!Array.isArray(node)) node = index === 0 ? node : undefined;
    else if (Array.isArray((node = node[index]))) return SLOW;
  }
  return node;
}

/** `$sum(path)`: the path mapped over arrays of objects (one level each step), its numbers added in order, as JSONata does. */
function sumOf(steps: PathStep[], scope: unknown): unknown {
  let nodes: unknown[] = [scope];
  for (const { key } of steps) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (Array.isArray(node)) return SLOW;
      if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) continue;
      const value = (node as Record<string, unknown>)[key];
      if (!Array.isArray(value)) {
        if (value !== undefined) next.push(value);
        continue;
      }
      if (value.length === 0) return SLOW; // an empty array is a value of its own to JSONata ($sum([]) is 0)
      for (const item of value) {
        if (Array.isArray(item)) return SLOW;
        next.push(item);
      }
    }
    nodes = next;
  }
  if (nodes.length === 0) return undefined;
  let total = 0;
  for (const value of nodes) {
    if (typeof value !== 'number') return SLOW; // JSONata's own error
    total += value;
  }
  return total;
}

/** JSONata returns arrays tagged as sequences; callers and JSON serialisation want plain values. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value) && (value as { sequence?: boolean }).sequence) return Array.from(value);
  return value;
}
