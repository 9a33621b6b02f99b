import jsonata from 'jsonata';
import { checkRegex } from './regex-check.ts';

/**
 * What one evaluation may cost. JSONata checks its time limit only between the nodes it evaluates, and one built-in
 * call is a single node: `$pad('', 50000000, 'x')` took 4 s and 1 GB. So every value an expression makes is capped
 * (a string at MAX_STRING_LENGTH characters, a list at ExpressionLimits.maxSequence items), the built-ins that could
 * build more than that from small inputs are checked before they run, and a long evaluation hands the event loop back
 * every SLICE_MS so that other requests are served meanwhile (its time limit counts only the time it ran).
 */

/** The longest string one expression may make: 1,000,000 characters, about 1 MB of text; no real flow needs more. */
export const MAX_STRING_LENGTH = 1_000_000;

/** The most items in one list an expression makes (ExpressionLimits.maxSequence by default). */
export const MAX_ITEMS = 100_000;

/** How long an evaluation runs before it lets the other requests in (see exitHook). */
const SLICE_MS = 10;

/** A value over the caps: fails its expression like any evaluation error, with code `TooLarge`. */
export function tooLarge(what: string, position?: number): Error & { code: string; position?: number } {
  const err = new Error(`value too large: ${what}; ${CAPS}`) as Error & { code: string; position?: number };
  err.code = 'TooLarge';
  if (position !== undefined) err.position = position;
  return err;
}

const count = (n: number) => n.toLocaleString('en-US');
const CAPS = `an expression makes strings of at most ${count(MAX_STRING_LENGTH)} characters and lists of at most ${count(MAX_ITEMS)} items`;

/**
 * Whether the JSON text of `value` (as $string or a template writes it) would pass `limit` characters, found without
 * writing it: a list of 100,000 references to one long string is small in memory and enormous as text.
 */
export function serialisedOver(value: unknown, limit: number, indent = 0): boolean {
  let left = limit;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    left -= indent * depth + 1; // separators, and the indentation of a prettified line
    if (typeof node === 'string') left -= node.length + 2;
    else if (typeof node === 'number' || typeof node === 'boolean') left -= String(node).length;
    else if (node === null) left -= 4;
    else if (Array.isArray(node)) for (const item of node) stack.push([item, depth + 1]);
    else if (typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        left -= key.length + 3;
        stack.push([item, depth + 1]);
      }
    }
    if (left < 0) return true;
  }
  return false;
}

interface JsonataFunction {
  _jsonata_function: true;
  implementation: (...args: unknown[]) => unknown;
  signature: unknown;
}

// the built-ins as JSONata defines them, read once: a guarded one checks its arguments, then calls the original
const originals = new Map<string, Promise<JsonataFunction>>();
function original(name: string): Promise<JsonataFunction> {
  let found = originals.get(name);
  if (!found) originals.set(name, (found = jsonata(`$${name}`).evaluate({}) as Promise<JsonataFunction>));
  return found;
}

type Focus = { createSequence(): unknown[] };
type Run = (this: Focus, args: unknown[], original: () => Promise<JsonataFunction>) => unknown;

/** Checks the arguments, then runs JSONata's own built-in. */
const checked = (check: (args: unknown[]) => void): Run =>
  async function (args, original) {
    check(args);
    return (await original()).implementation.apply(this, args);
  };

/**
 * The built-ins whose result can be far larger, or take far longer, than their arguments: checked before they run, or
 * (sort, distinct: JSONata's take quadratic time or memory) run here with the same results.
 */
const GUARDS: Record<string, { signature: string; run: Run }> = {
  pad: {
    signature: '<s-ns?:s>',
    run: checked(([str, width, char]) => {
      const wanted = Math.abs(Math.trunc(Number(width)));
      const fill = typeof char === 'string' && char.length > 0 ? char.length : 1;
      // JSONata repeats the whole fill string before cutting it to length
      if (typeof str === 'string' && (wanted > MAX_STRING_LENGTH || (wanted - str.length) * fill > 4 * MAX_STRING_LENGTH)) {
        throw tooLarge(`$pad would make a string of ${count(wanted)} characters`);
      }
    }),
  },
  join: {
    signature: '<a<s>s?:s>',
    run: checked(([strs, separator]) => {
      if (!Array.isArray(strs)) return;
      let total = typeof separator === 'string' ? separator.length * Math.max(0, strs.length - 1) : 0;
      for (const item of strs) total += typeof item === 'string' ? item.length : 0;
      if (total > MAX_STRING_LENGTH) throw tooLarge(`$join would make a string of ${count(total)} characters`);
    }),
  },
  string: {
    signature: '<x-b?:s>',
    run: checked(([value, prettify]) => {
      if (value !== null && typeof value === 'object' && serialisedOver(value, MAX_STRING_LENGTH, prettify ? 2 : 0)) {
        throw tooLarge(`$string would make a string of more than ${count(MAX_STRING_LENGTH)} characters`);
      }
    }),
  },
  sort: {
    signature: '<af?:a>',
    async run([arr, comparator], original) {
      if (!Array.isArray(arr) || arr.length <= 1 || (comparator === undefined && !sortable(arr))) return (await original()).implementation.apply(this, [arr, comparator]);
      const swap = (comparator as ((a: unknown, b: unknown) => unknown) | undefined) ?? ((a: unknown, b: unknown) => (a as number) > (b as number));
      return mergeSort(arr, swap);
    },
  },
  distinct: {
    signature: '<x:x>',
    run([arr]) {
      if (!Array.isArray(arr) || arr.length <= 1) return arr;
      return distinct(arr, (arr as { sequence?: boolean }).sequence ? this.createSequence() : []);
    },
  },
};

export const GUARDED = new Set(Object.keys(GUARDS));

/**
 * Each guarded built-in as a JSONata function object (its signature parsed), built once: registering one per
 * expression costs 1.3 KB of memory each (a closure and a parsed signature), 10 MB across 1,000 flows.
 */
const GUARDED_FUNCTIONS: Record<string, unknown> = Object.fromEntries(
  await Promise.all(
    Object.entries(GUARDS).map(async ([name, guard]) => {
      const probe = jsonata(`$${name}`);
      probe.registerFunction(name, function (this: jsonata.Focus, ...args: unknown[]) {
        return guard.run.call(this as unknown as Focus, args, () => original(name));
      }, guard.signature);
      return [name, await probe.evaluate({})] as const;
    }),
  ),
);

/** Puts the guarded built-ins that an expression names (all of them when it uses $eval) in its own frame. */
export function guardBuiltins(compiled: jsonata.Expression, names: Iterable<string>): void {
  for (const name of names) if (GUARDED_FUNCTIONS[name]) compiled.assign(name, GUARDED_FUNCTIONS[name]);
}

function sortable(arr: unknown[]): boolean {
  return arr.every((item) => typeof item === 'number') || arr.every((item) => typeof item === 'string');
}

/**
 * JSONata's $sort, in O(n log n): a stable merge sort where `swap(a, b)` true puts b first (JSONata's copies a slice
 * per step, and 100,000 items took gigabytes). The comparator may be a JSONata function, awaited.
 */
async function mergeSort(items: unknown[], swap: (a: unknown, b: unknown) => unknown): Promise<unknown[]> {
  let from = [...items];
  let to = new Array<unknown>(items.length);
  for (let width = 1; width < from.length; width *= 2) {
    for (let lo = 0; lo < from.length; lo += 2 * width) {
      const mid = Math.min(lo + width, from.length);
      const hi = Math.min(lo + 2 * width, from.length);
      let l = lo;
      let r = mid;
      let out = lo;
      while (l < mid && r < hi) to[out++] = (await swap(from[l], from[r])) ? from[r++] : from[l++];
      while (l < mid) to[out++] = from[l++];
      while (r < hi) to[out++] = from[r++];
    }
    [from, to] = [to, from];
  }
  return from;
}

/** JSONata's $distinct (first copies kept, deep equality), by a canonical text of each value rather than pairwise. */
function distinct(arr: unknown[], out: unknown[]): unknown[] {
  if (arr.some((item) => item !== null && typeof item === 'object') && serialisedOver(arr, 4 * MAX_STRING_LENGTH)) {
    throw tooLarge(`$distinct over a list of more than ${count(4 * MAX_STRING_LENGTH)} characters as text`);
  }
  const values = new Set<unknown>();
  const objects = new Set<string>();
  for (const item of arr) {
    const [seen, key] = item !== null && typeof item === 'object' ? [objects as Set<unknown>, canonical(item)] : [values, item];
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(item);
  }
  return out;
}

const functionIds = new WeakMap<object, number>();
let functionCount = 0;
function canonical(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') {
    if (!functionIds.has(value)) functionIds.set(value, functionCount++);
    return `f${functionIds.get(value)}`;
  }
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.getOwnPropertyNames(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

/**
 * JSONata's hook after each node it evaluates (Symbol.for('jsonata.__evaluate_exit')): the size caps on the node's
 * value, and the time this evaluation has run. Past SLICE_MS it waits for the event loop's next turn, so a long
 * evaluation shares the process; past the time limit (counting only its own turns) it fails.
 */
export const EVALUATE_EXIT = Symbol.for('jsonata.__evaluate_exit');

interface Clock {
  turnStart: number;
  spent: number;
  nodes: number;
}
const CLOCK = Symbol('clock');

/** Nodes whose value is written as text by `&`: an object there is measured before JSON.stringify writes it. */
export const CONCATENATED = new WeakSet<object>();


interface Node {
  type?: string;
  value?: unknown;
  position?: number;
  procedure?: { value?: unknown };
}

export function exitHook(limits: { timeoutMs: number; maxSequence: number }) {
  return (node: Node, _input: unknown, environment: { base: Record<symbol, Clock | undefined> }, result: unknown): Promise<void> | undefined => {
    if (typeof result === 'string') {
      if (result.length > MAX_STRING_LENGTH) throw tooLarge(`${made(node)} a string of ${count(result.length)} characters`, node.position);
    } else if (result !== null && typeof result === 'object') {
      if (Array.isArray(result) && result.length > limits.maxSequence) throw tooLarge(`${made(node)} a list of ${count(result.length)} items`, node.position);
      if (CONCATENATED.has(node) && serialisedOver(result, MAX_STRING_LENGTH)) throw tooLarge(`& would write a value of more than ${count(MAX_STRING_LENGTH)} characters as text`, node.position);
    }
    const base = environment.base;
    const clock = (base[CLOCK] ??= { turnStart: Date.now(), spent: 0, nodes: 0 });
    if (++clock.nodes % 16 !== 0) return undefined;
    const now = Date.now();
    const ran = now - clock.turnStart;
    if (clock.spent + ran > limits.timeoutMs) throw Object.assign(new Error(), { code: 'D1012', value: limits.timeoutMs, position: node.position });
    if (ran < SLICE_MS) return undefined;
    clock.spent += ran;
    return new Promise<void>((resume) =>
      setImmediate(() => {
        clock.turnStart = Date.now();
        resume();
      }),
    );
  };
}

function made(node: Node): string {
  if (node.type === 'function' && typeof node.procedure?.value === 'string') return `$${node.procedure.value} made`;
  if (node.type === 'binary' && node.value === '&') return '& made';
  return 'the expression made';
}

/**
 * JSONata's RegexEngine: every regular expression an evaluation runs, also one that `$eval` reads from data, passes
 * the catastrophic-backtracking check first (flows' own were checked at load; the verdicts are kept).
 */
export function CheckedRegExp(pattern: RegExp | string, flags?: string): RegExp {
  const re = new RegExp(pattern, flags); // a copy: each evaluation moves its own lastIndex
  const key = `${re.flags}/${re.source}`;
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    verdict = checkRegex(re)?.message ?? null;
    if (verdicts.size >= VERDICTS_LIMIT) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(key, verdict);
  }
  if (verdict !== null) throw Object.assign(new Error(verdict), { code: 'UnsafeRegex' });
  return re;
}
const verdicts = new Map<string, string | null>();
const VERDICTS_LIMIT = 1_000;
