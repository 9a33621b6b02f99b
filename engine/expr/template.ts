import { compileExpression, ExpressionError, SLOW, type CompiledExpression, type ExpressionLimits } from './expression.ts';
import { MAX_STRING_LENGTH, serialisedOver, tooLarge } from './bounded.ts';

/**
 * Templates: any value whose strings may hold `{{ expression }}`. A string that is only one `{{ expression }}` keeps
 * the value's type; otherwise the parts are joined as text. Compiled once; constants evaluate without JSONata.
 *
 * In an HTML context (an e-mail's `html`, a response whose content type is HTML: the flow compiler says which) every
 * `{{ expression }}` is HTML-escaped, so a caller's `<script>` arrives as text; `{{{ expression }}}` writes the value
 * as it is (raw), for markup the flow trusts. Elsewhere both forms are the same.
 */
export type TemplateContext = 'text' | 'html';
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
const RAW_OPEN = '{{{';
const RAW_CLOSE = '}}}';

/** An expression's place in a text: its value HTML-escaped (`{{ }}` in an HTML context) or written as it is. */
interface Slot {
  expression: CompiledExpression;
  escape: boolean;
}
type Part = string | Slot;

function parseString(text: string, limits: ExpressionLimits | undefined, context: TemplateContext): Part[] {
  const parts: Part[] = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf(OPEN, at);
    if (open === -1) {
      parts.push(text.slice(at));
      break;
    }
    if (open > at) parts.push(text.slice(at, open));
    const raw = text.startsWith(RAW_OPEN, open);
    const [opener, closer] = raw ? [RAW_OPEN, RAW_CLOSE] : [OPEN, CLOSE];
    const close = text.indexOf(closer, open + opener.length);
    if (close === -1) throw new Error(`template "${excerpt(text.slice(open))}" is not closed: add "${closer}"`);
    const source = text.slice(open + opener.length, close).trim();
    if (source === '') throw new Error(`template "${excerpt(text.slice(open, close + closer.length))}" is empty: put an expression between ${opener} and ${closer}`);
    try {
      parts.push({ expression: compileExpression(source, limits), escape: context === 'html' && !raw });
    } catch (err) {
      const message = err instanceof ExpressionError ? err.message : String(err);
      throw new Error(`expression "${excerpt(source)}" in template does not compile: ${message}`);
    }
    at = close + closer.length;
  }
  return parts;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The text with the characters that HTML reads as markup (in text and in quoted attributes) written as entities. */
export function escapeHtml(text: string): string {
  return /[&<>"']/.test(text) ? text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]) : text;
}

/** A value written into HTML: text escaped, numbers and booleans as they are (nothing to escape), nothing as nothing. */
function escapedValue(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  return escapeHtml(stringify(value));
}

function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isTemplateString(value: unknown): boolean {
  return typeof value === 'string' && value.includes(OPEN);
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') {
    // a list of many references to one long string is small in memory and enormous as text
    if (serialisedOver(value, MAX_STRING_LENGTH)) throw limitError(`a value of more than ${MAX_STRING_LENGTH.toLocaleString('en-US')} characters as text`);
    return JSON.stringify(value);
  }
  return String(value);
}

function limitError(what: string): ExpressionError {
  return new ExpressionError(`template: ${tooLarge(what).message}`, undefined, 'TooLarge');
}

/** Text made by joining parts: within the same cap as a string an expression makes. */
function capped(text: string): string {
  if (text.length > MAX_STRING_LENGTH) throw limitError(`a string of ${text.length.toLocaleString('en-US')} characters`);
  return text;
}

/**
 * Compiles a template; problems are reported through `problems` (all of them) and the result is still usable.
 * `context` is where the rendered text goes: 'html' escapes each `{{ expression }}` (see TemplateContext).
 */
export function compileTemplate(value: unknown, problems: TemplateProblem[] = [], limits?: ExpressionLimits, path: (string | number)[] = [], context: TemplateContext = 'text'): CompiledTemplate {
  if (typeof value === 'string') return value.includes(OPEN) ? compileText(value, problems, limits, path, context) : fixed(value);
  if (Array.isArray(value)) {
    if (!containsTemplate(value)) return constant(value);
    const items = value.map((item, i) => member(item, problems, limits, [...path, i], context));
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
    const entries = Object.entries(value).map(([key, item]) => member(item, problems, limits, [...path, key], context, key));
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

function compileText(value: string, problems: TemplateProblem[], limits: ExpressionLimits | undefined, path: (string | number)[], context: TemplateContext): CompiledTemplate {
  const key = `${context}:${limits?.timeoutMs}:${limits?.maxDepth}:${limits?.maxSequence}:${value}`;
  const found = texts.get(key);
  if (found) return found;
  let parts: Part[];
  try {
    parts = parseString(value, limits, context);
  } catch (err) {
    problems.push({ path, message: (err as Error).message });
    return fixed(value);
  }
  const only = parts.length === 1 ? parts[0] : undefined;
  const compiled = only !== undefined && typeof only !== 'string' ? single(only) : joined(parts);
  if (texts.size >= TEXTS_LIMIT) texts.delete(texts.keys().next().value!);
  texts.set(key, compiled);
  return compiled;
}

/** A rendering at once that may throw (a value over the caps): SLOW instead, so that the failure is a rejection. */
function orSlow(now: (scope: unknown) => unknown): (scope: unknown) => unknown {
  return (scope) => {
    try {
      return now(scope);
    } catch {
      return SLOW;
    }
  };
}

/** A string that is only one expression: its value with its type, or escaped for HTML. */
function single({ expression, escape }: Slot): CompiledTemplate {
  if (!escape) return template(expression.readNow, expression.evaluate);
  return template(
    orSlow((scope) => {
      const read = expression.readNow(scope);
      return read === SLOW ? SLOW : escapedValue(read);
    }),
    async (scope, bindings) => escapedValue(await expression.evaluate(scope, bindings)),
  );
}

/** A slot's value as text: escaped for HTML where its slot says so. */
function slotText(slot: Slot, value: unknown): string {
  return slot.escape ? escapeHtml(stringify(value)) : stringify(value);
}

/** Text and expressions joined into one string (no closure beyond the two renderings: 1,000 flows hold many). */
function joined(parts: Part[]): CompiledTemplate {
  return template(
    (scope) => {
      let out = '';
      try {
        for (const part of parts) {
          if (typeof part === 'string') out += part;
          else {
            const read = part.expression.readNow(scope);
            if (read === SLOW) return SLOW;
            out += slotText(part, read);
          }
        }
        return capped(out);
      } catch {
        return SLOW; // over the caps: rendered again by the async path, whose failure is a rejection
      }
    },
    async (scope, bindings) => {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : slotText(part, await part.expression.evaluate(scope, bindings));
      return capped(out);
    },
  );
}

/**
 * An item of an array or object template (with its key in an object): a template where it holds one, else its value
 * (frozen), kept as it is: a constant needs no template of its own.
 */
type Member = { key?: string } & ({ template: CompiledTemplate; value?: undefined } | { template?: undefined; value: unknown });

function member(item: unknown, problems: TemplateProblem[], limits: ExpressionLimits | undefined, path: (string | number)[], context: TemplateContext, key?: string): Member {
  if (containsTemplate(item)) return { key, template: compileTemplate(item, problems, limits, path, context) };
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
