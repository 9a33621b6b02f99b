import jsonata from 'jsonata';

/** Bounds applied to every evaluation so that a runaway expression fails its execution instead of stalling the server. */
export interface ExpressionLimits {
  timeoutMs: number;
  maxDepth: number;
  maxSequence: number;
}

export const DEFAULT_LIMITS: ExpressionLimits = { timeoutMs: 1_000, maxDepth: 500, maxSequence: 1_000_000 };

/** A JSONata expression compiled once, at load time. */
export interface CompiledExpression {
  readonly source: string;
  evaluate(scope: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

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

function toExpressionError(err: unknown, source: string): ExpressionError {
  const e = (err ?? {}) as JsonataError;
  let message = e.message ?? String(err);
  if (e.code === 'D1011') message = `expression recursed deeper than the limit (${message})`;
  if (e.code === 'D1012') message = `expression ran longer than the limit (${message})`;
  // JSONata positions point just past the offending token
  const offset = typeof e.position === 'number' ? Math.max(0, Math.min(source.length, e.position - 1)) : undefined;
  return new ExpressionError(message, offset, e.code);
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
  let compiled: ReturnType<typeof jsonata>;
  try {
    // jsonata's typings omit the guardrail options (timeout, stack, sequence) that its runtime honours
    compiled = jsonata(source, { timeout: limits.timeoutMs, stack: limits.maxDepth, sequence: limits.maxSequence } as never);
  } catch (err) {
    throw toExpressionError(err, source);
  }
  const evaluate = async (scope: unknown, bindings?: Record<string, unknown>) => {
    try {
      return normalise(await compiled.evaluate(scope, bindings));
    } catch (err) {
      throw toExpressionError(err, source);
    }
  };
  const path = plainPath(source);
  if (!path) return { source, evaluate };
  return {
    source,
    // most expressions are plain property paths (vars.name, body.phone): read them directly, with JSONata's result,
    // and leave the rest (mapping over arrays) to JSONata itself
    evaluate(scope, bindings) {
      let node = scope;
      for (const key of path) {
        if (Array.isArray(node)) return evaluate(scope, bindings);
        if (node === null || typeof node !== 'object') return Promise.resolve(undefined);
        node = Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
      }
      return Promise.resolve(node);
    },
  };
}

const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
// words that JSONata reads as literals or operators, not as field names
const RESERVED = new Set(['true', 'false', 'null', 'and', 'or', 'in']);

function plainPath(source: string): string[] | undefined {
  const trimmed = source.trim();
  if (!PLAIN_PATH.test(trimmed)) return undefined;
  const keys = trimmed.split('.');
  return keys.some((key) => RESERVED.has(key)) ? undefined : keys;
}

/** JSONata returns arrays tagged as sequences; callers and JSON serialisation want plain values. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value) && (value as { sequence?: boolean }).sequence) return Array.from(value);
  return value;
}
