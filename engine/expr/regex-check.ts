import { parseRegExpLiteral, type AST } from '@eslint-community/regexpp';

/**
 * Regular expressions written in flows run on callers' text with a backtracking engine, where a few shapes take
 * exponential time on an input that almost matches (`/^(a+)+$/` on 30 "a" and a "!" blocks the server for seconds).
 * This refuses those shapes before a flow loads: a repeat inside a repeat that nothing separates, alternatives under a
 * repeat that can start with the same character, and backreferences. A few safe patterns are refused too (the check
 * reads the pattern's shape, not every input); the message says how to rewrite it.
 */
export interface UnsafeRegex {
  message: string;
  /** offset (0-based) into the pattern's source of the part that is refused */
  offset: number;
}

/** The verdict on a regular expression: undefined when it is safe to run on any input. */
export function checkRegex(re: RegExp): UnsafeRegex | undefined {
  let literal: AST.RegExpLiteral;
  try {
    literal = parseRegExpLiteral(re);
  } catch (err) {
    return { message: `regular expression /${re.source}/ cannot be checked: ${(err as Error).message}`, offset: 0 };
  }
  const fold = re.flags.includes('i');
  const found = firstProblem(literal.pattern, [], fold);
  if (!found) return undefined;
  // node offsets count the literal's opening "/"
  return { message: `regular expression /${re.source}/ ${found.why}`, offset: Math.max(0, found.node.start - 1) };
}

type Problem = { node: AST.Node; why: string };

const REWRITE = 'rewrite it so that each character of a text can be matched one way only';

/** Walks the pattern depth first; `repeats` are the quantifiers (max > 1) the node sits inside, innermost last. */
function firstProblem(node: AST.Node, repeats: AST.Quantifier[], fold: boolean): Problem | undefined {
  switch (node.type) {
    case 'Backreference':
      return { node, why: `uses a backreference (${node.raw}), which can take exponential time: match without it` };
    case 'Quantifier': {
      if (repeats.length > 0 && node.max > 1 && node.min !== node.max) {
        const outer = repeats.find((q) => !delimited(node, q, fold));
        if (outer) {
          return { node, why: `can take exponential time (catastrophic backtracking): "${node.raw}" repeats inside "${outer.raw}" with nothing that tells one repetition from the next; ${REWRITE}` };
        }
      }
      return firstProblem(node.element, node.max > 1 ? [...repeats, node] : repeats, fold);
    }
    case 'Pattern':
    case 'Group':
    case 'CapturingGroup':
    case 'Assertion': {
      if (node.type === 'Assertion' && (node.kind === 'start' || node.kind === 'end' || node.kind === 'word')) return undefined;
      const alternatives = (node as { alternatives: AST.Alternative[] }).alternatives;
      if (repeats.length > 0 && node.type !== 'Assertion' && overlapping(alternatives, fold)) {
        return { node, why: `can take exponential time (catastrophic backtracking): alternatives of "${node.raw}" inside "${repeats[0].raw}" can start with the same character; ${REWRITE}` };
      }
      for (const alternative of alternatives) {
        const found = firstProblem(alternative, repeats, fold);
        if (found) return found;
      }
      return undefined;
    }
    case 'Alternative':
      for (const element of node.elements) {
        const found = firstProblem(element, repeats, fold);
        if (found) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Whether what follows `inner` up to the end of one repetition of `outer` (or the start of the next) always begins with
 * a character `inner` cannot match: then where `inner` stops is decided by the text, and there is one way to match.
 * Single characters that `inner` could also match may come first (`[a-z-]*[a-z]\.`): the text still decides.
 */
function delimited(inner: AST.Quantifier, outer: AST.Quantifier, fold: boolean): boolean {
  const scan = { alphabet: charsIn(inner.element, fold), next: [] as Ranges, variable: false };
  let node: AST.Node = inner;
  while (node !== outer) {
    const parent = node.parent as AST.Node | null;
    if (!parent) return false;
    if (parent.type === 'Alternative') {
      for (const element of parent.elements.slice(parent.elements.indexOf(node as AST.Element) + 1)) {
        const verdict = follow(scan, element, fold);
        if (verdict !== undefined) return verdict;
      }
    } else if (parent.type === 'Quantifier' && parent.max > 1) {
      // the end of one repetition is followed by the next one (or by what follows the repeat)
      scan.next = union(scan.next, firstChars(parent.element, fold));
      scan.variable = true;
      if (parent === outer) return !intersects(scan.next, scan.alphabet);
    }
    node = parent;
  }
  return false;
}

/** One element after the inner repeat: true or false once it decides, undefined to read on. */
function follow(scan: { alphabet: Ranges; next: Ranges; variable: boolean }, element: AST.Element, fold: boolean): boolean | undefined {
  scan.next = union(scan.next, firstChars(element, fold));
  if (nullable(element)) {
    scan.variable = true;
    return undefined;
  }
  if (!intersects(scan.next, scan.alphabet)) return true;
  const single = element.type === 'Character' || element.type === 'CharacterSet' || element.type === 'CharacterClass';
  if (scan.variable || !single) return false;
  scan.alphabet = union(scan.alphabet, scan.next);
  scan.next = [];
  return undefined;
}

/** Two alternatives whose first characters overlap: under a repeat, a text can be split between them many ways. */
function overlapping(alternatives: AST.Alternative[], fold: boolean): boolean {
  if (alternatives.length < 2) return false;
  const firsts = alternatives.map((alternative) => firstChars(alternative, fold));
  return firsts.some((a, i) => firsts.slice(i + 1).some((b) => intersects(a, b)));
}

function nullable(node: AST.Node): boolean {
  switch (node.type) {
    case 'Character':
    case 'CharacterSet':
    case 'CharacterClass':
    case 'ExpressionCharacterClass':
      return false;
    case 'Quantifier':
      return node.min === 0 || nullable(node.element);
    case 'Alternative':
      return node.elements.every(nullable);
    case 'Group':
    case 'CapturingGroup':
    case 'Pattern':
      return node.alternatives.some(nullable);
    default:
      return true; // assertions match no character; a backreference may match none
  }
}

/** The characters a non-empty match of the node can start with. */
function firstChars(node: AST.Node, fold: boolean): Ranges {
  switch (node.type) {
    case 'Quantifier':
      return firstChars(node.element, fold);
    case 'Alternative': {
      let out: Ranges = [];
      for (const element of node.elements) {
        out = union(out, firstChars(element, fold));
        if (!nullable(element)) break;
      }
      return out;
    }
    case 'Group':
    case 'CapturingGroup':
    case 'Pattern':
      return node.alternatives.reduce<Ranges>((out, alternative) => union(out, firstChars(alternative, fold)), []);
    case 'Assertion':
      return [];
    default:
      return charsIn(node, fold);
  }
}

/** Every character the node can match anywhere in it. */
function charsIn(node: AST.Node, fold: boolean): Ranges {
  switch (node.type) {
    case 'Character':
      return folded([[node.value, node.value]], fold);
    case 'CharacterSet':
      return node.kind === 'any' ? ANY : node.kind === 'property' ? ALL : maybeNegated(SETS[node.kind], node.negate);
    case 'CharacterClass': {
      let out: Ranges = [];
      for (const element of node.elements) {
        out = union(out, element.type === 'CharacterClassRange' ? folded([[element.min.value, element.max.value]], fold) : charsIn(element, fold));
      }
      return node.negate ? complement(out) : out;
    }
    case 'Quantifier':
      return charsIn(node.element, fold);
    case 'Alternative':
      return node.elements.reduce<Ranges>((out, element) => union(out, charsIn(element, fold)), []);
    case 'Group':
    case 'CapturingGroup':
    case 'Pattern':
      return node.alternatives.reduce<Ranges>((out, alternative) => union(out, charsIn(alternative, fold)), []);
    case 'Assertion':
      return [];
    default:
      return ALL; // a backreference, or a class expression (flag v, which flows cannot set): anything
  }
}

/** Sets of UTF-16 code units as sorted, disjoint, inclusive ranges. */
type Ranges = [number, number][];

const MAX_UNIT = 0x10ffff;
const ALL: Ranges = [[0, MAX_UNIT]];
const ANY: Ranges = [[0, 9], [11, 12], [14, 0x2027], [0x202a, MAX_UNIT]]; // `.`: all but line terminators
const SETS: Record<'digit' | 'space' | 'word', Ranges> = {
  digit: [[48, 57]],
  word: [[48, 57], [65, 90], [95, 95], [97, 122]],
  space: [[9, 13], [32, 32], [160, 160], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]],
};

function maybeNegated(ranges: Ranges, negate: boolean): Ranges {
  return negate ? complement(ranges) : ranges;
}

/** With flag i, ASCII letters match both cases (enough for the check: other scripts only make it less strict). */
function folded(ranges: Ranges, fold: boolean): Ranges {
  if (!fold) return ranges;
  const extra: Ranges = [];
  for (const [lo, hi] of ranges) {
    for (const [from, to, shift] of [[65, 90, 32], [97, 122, -32]]) {
      const a = Math.max(lo, from);
      const b = Math.min(hi, to);
      if (a <= b) extra.push([a + shift, b + shift]);
    }
  }
  return union(ranges, extra);
}

function union(a: Ranges, b: Ranges): Ranges {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const [lo, hi] of all) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(ranges: Ranges): Ranges {
  const out: Ranges = [];
  let from = 0;
  for (const [lo, hi] of union(ranges, [])) {
    if (lo > from) out.push([from, lo - 1]);
    from = hi + 1;
  }
  if (from <= MAX_UNIT) out.push([from, MAX_UNIT]);
  return out;
}

function intersects(a: Ranges, b: Ranges): boolean {
  return a.some(([lo, hi]) => b.some(([from, to]) => lo <= to && from <= hi));
}
