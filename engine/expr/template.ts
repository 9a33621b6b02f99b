import { compileExpression, ExpressionError, SLOW, type CompiledExpression, type ExpressionLimits } from './expression.ts';

/**
 * Templates: any value whose strings may hold `{{ expression }}`. A string that is only one `{{ expression }}` keeps
 * the value's type; otherwise the parts are joined as text. Compiled once; constants evaluate without JSONata.
 */
export type CompiledTemplate = ((scope: unknown, bindings?: Record<string, unknown>) => Promise<unknown>) & {
  /** the value rendered at once when every expression in it reads without JSONata (CompiledExpression.readNow), else SLOW */
  readonly now: (scope: unknown) => unknown;
};

/** A template from its two renderings: at once, and through JSONata for what `now` does not cover. */
function template(now: (scope: unknown) => unknown, later: (scope: unknown, bindings?: Record<string, unknown>) => Promise<unknown>): CompiledTemplate {
  const render = (scope: unknown, bindings?: Record<string, unknown>) => {
    const value = now(scope);
    return value === SLOW ? later(scope, bindings) : Promise.resolve(value);
  };
  return Object.assign(render, { now });
}

/**
 * Constants are most of a flow's templates (a method, a default body, the `{}` of absent headers), so equal ones share
 * one template: a few hundred bytes each, otherwise, in every flow. Bounded like the expressions' cache.
 */
const constants = new Map<unknown, CompiledTemplate>();
const CONSTANTS_LIMIT = 20_000;
const EMPTY_OBJECT = Symbol('{}');
const EMPTY_ARRAY = Symbol('[]');

function fixed(value: unknown): CompiledTemplate {
  const key = sharedKey(value);
  let found = key === undefined ? undefined : constants.get(key);
  if (!found) {
    found = template(() => value, async () => value);
    if (key === undefined) return found;
    if (constants.size >= CONSTANTS_LIMIT) constants.delete(constants.keys().next().value);
    constants.set(key, found);
  }
  return found;
}

/** The key equal constants share: primitives by value (not -0, which a Map key equates with 0), frozen {} and []. */
function sharedKey(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return Object.is(value, -0) ? undefined : value;
  if (!Object.isFrozen(value)) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? EMPTY_ARRAY : undefined;
  return Object.getPrototypeOf(value) === Object.prototype && Object.keys(value).length === 0 ? EMPTY_OBJECT : undefined;
}

/** Where a template failed to compile: a path below the template's root (e.g. ["body", "name"]) and a message. */
export interface TemplateProblem {
  path: (string | number)[];
  message: string;
}

const OPEN = '{{';
const CLOSE = '}}';

type Part = string | CompiledExpression;

function parseString(text: string, limits: ExpressionLimits | undefined): Part[] {
  const parts: Part[] = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf(OPEN, at);
    if (open === -1) {
      parts.push(text.slice(at));
      break;
    }
    if (open > at) parts.push(text.slice(at, open));
    const close = text.indexOf(CLOSE, open + OPEN.length);
    if (close === -1) throw new Error(`template "${excerpt(text.slice(open))}" is not closed: add "}}"`);
    const source = text.slice(open + OPEN.length, close).trim();
    if (source === '') throw new Error(`template "${excerpt(text.slice(open, close + 2))}" is empty: put an expression between {{ and }}`);
    try {
      parts.push(compileExpression(source, limits));
    } catch (err) {
      const message = err instanceof ExpressionError ? err.message : String(err);
      throw new Error(`expression "${excerpt(source)}" in template does not compile: ${message}`);
    }
    at = close + CLOSE.length;
  }
  return parts;
}

function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isTemplateString(value: unknown): boolean {
  return typeof value === 'string' && value.includes(OPEN);
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Compiles a template; problems are reported through `problems` (all of them) and the result is still usable. */
export function compileTemplate(value: unknown, problems: TemplateProblem[] = [], limits?: ExpressionLimits, path: (string | number)[] = []): CompiledTemplate {
  if (typeof value === 'string') return value.includes(OPEN) ? compileText(value, problems, limits, path) : fixed(value);
  if (Array.isArray(value)) {
    if (!containsTemplate(value)) return constant(value);
    const items = value.map((item, i) => member(item, problems, limits, [...path, i]));
    return template(
      (scope) => {
        const out: unknown[] = [];
        for (const item of items) {
          const read = item.template ? item.template.now(scope) : item.value;
          if (read === SLOW) return SLOW;
          out.push(read);
        }
        return out;
      },
      async (scope, bindings) => Promise.all(items.map((item) => (item.template ? item.template(scope, bindings) : item.value))),
    );
  }
  if (value !== null && typeof value === 'object') {
    if (!containsTemplate(value)) return constant(value);
    const entries = Object.entries(value).map(([key, item]) => member(item, problems, limits, [...path, key], key));
    return template(
      (scope) => {
        const out: Record<string, unknown> = {};
        for (const item of entries) {
          const read = item.template ? item.template.now(scope) : item.value;
          if (read === SLOW) return SLOW;
          out[item.key!] = read;
        }
        return out;
      },
      async (scope, bindings) => {
        const out: Record<string, unknown> = {};
        for (const item of entries) out[item.key!] = item.template ? await item.template(scope, bindings) : item.value;
        return out;
      },
    );
  }
  return fixed(value);
}

/**
 * Flows repeat their templated strings ("{{ contact.phone }}", a greeting), so each text compiles once, like an
 * expression (expression.ts), and is shared: compiled templates hold no state of their own.
 */
const texts = new Map<string, CompiledTemplate>();
const TEXTS_LIMIT = 20_000;

function compileText(value: string, problems: TemplateProblem[], limits: ExpressionLimits | undefined, path: (string | number)[]): CompiledTemplate {
  const key = `${limits?.timeoutMs}:${limits?.maxDepth}:${limits?.maxSequence}:${value}`;
  const found = texts.get(key);
  if (found) return found;
  let parts: Part[];
  try {
    parts = parseString(value, limits);
  } catch (err) {
    problems.push({ path, message: (err as Error).message });
    return fixed(value);
  }
  const only = parts.length === 1 ? parts[0] : undefined;
  const compiled = only !== undefined && typeof only !== 'string' ? template(only.readNow, only.evaluate) : joined(parts);
  if (texts.size >= TEXTS_LIMIT) texts.delete(texts.keys().next().value!);
  texts.set(key, compiled);
  return compiled;
}

/** Text and expressions joined into one string. */
function joined(parts: Part[]): CompiledTemplate {
  return template(
    (scope) => {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else {
          const read = part.readNow(scope);
          if (read === SLOW) return SLOW;
          out += stringify(read);
        }
      }
      return out;
    },
    async (scope, bindings) => {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : stringify(await part.evaluate(scope, bindings));
      return out;
    },
  );
}

/**
 * An item of an array or object template (with its key in an object): a template where it holds one, else its value
 * (frozen), kept as it is: a constant needs no template of its own.
 */
type Member = { key?: string } & ({ template: CompiledTemplate; value?: undefined } | { template?: undefined; value: unknown });

function member(item: unknown, problems: TemplateProblem[], limits: ExpressionLimits | undefined, path: (string | number)[], key?: string): Member {
  if (containsTemplate(item)) return { key, template: compileTemplate(item, problems, limits, path) };
  return { key, value: item !== null && typeof item === 'object' ? deepFreeze(structuredClone(item)) : item };
}

/** A value without templates is the same on every run: frozen once and shared, never copied per request. */
function constant(value: unknown): CompiledTemplate {
  return fixed(deepFreeze(structuredClone(value)));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function containsTemplate(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(OPEN);
  if (Array.isArray(value)) return value.some(containsTemplate);
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsTemplate);
  return false;
}
