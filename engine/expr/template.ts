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

function fixed(value: unknown): CompiledTemplate {
  return template(() => value, async () => value);
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
  if (typeof value === 'string') {
    if (!value.includes(OPEN)) return fixed(value);
    let parts: Part[];
    try {
      parts = parseString(value, limits);
    } catch (err) {
      problems.push({ path, message: (err as Error).message });
      return fixed(value);
    }
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only !== undefined && typeof only !== 'string') return template((scope) => only.readNow(scope), (scope, bindings) => only.evaluate(scope, bindings));
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
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileTemplate(item, problems, limits, [...path, i]));
    if (value.every((item) => !containsTemplate(item))) return constant(value);
    return template(
      (scope) => {
        const out: unknown[] = [];
        for (const item of items) {
          const read = item.now(scope);
          if (read === SLOW) return SLOW;
          out.push(read);
        }
        return out;
      },
      async (scope, bindings) => Promise.all(items.map((item) => item(scope, bindings))),
    );
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([key, item]) => [key, compileTemplate(item, problems, limits, [...path, key])] as const);
    if (!containsTemplate(value)) return constant(value);
    return template(
      (scope) => {
        const out: Record<string, unknown> = {};
        for (const [key, item] of entries) {
          const read = item.now(scope);
          if (read === SLOW) return SLOW;
          out[key] = read;
        }
        return out;
      },
      async (scope, bindings) => {
        const out: Record<string, unknown> = {};
        for (const [key, item] of entries) out[key] = await item(scope, bindings);
        return out;
      },
    );
  }
  return fixed(value);
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
