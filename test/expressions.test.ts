import { describe, expect, it } from 'vitest';
import jsonata from 'jsonata';
import { compileExpression, SLOW } from '../engine/expr/expression.ts';
import { compileTemplate } from '../engine/expr/template.ts';

const DATA: unknown[] = [
  { a: [1] },
  { a: [1, 2] },
  { a: [{ b: 1 }, { b: 2 }] },
  { a: { b: { c: 1 } } },
  { a: { b: [1, 2] } },
  { a: null },
  { a: '' },
  { a: 'str' },
  { a: {} },
  {},
  { a: [{ b: [1] }] },
  { a: [[1]] },
  { a: 0 },
  { a: false },
  { a: { b: null } },
  [{ a: 1 }, { a: 2 }],
  { a: { toString: 'own' } },
  { a: {} as Record<string, unknown> },
  { a: [] },
  { a: [{ b: 2.5 }, { b: 0.1 }, { c: 1 }] },
  { a: [{ b: [1, 2] }, { b: 3 }] },
  { a: [{ b: { c: 4 } }, { b: [{ c: 5 }, { c: 6 }] }] },
  { a: [{ b: [[1]] }] },
  { a: [{ b: 'x' }] },
  { a: [{ b: null }] },
  { a: [null, 1, { b: 7 }] },
  { a: [{ b: 1 }, [{ b: 2 }]] },
  { a: { b: 5 } },
  { a: [{ b: 1 }, { b: 2 }, { b: 3 }], b: 9 },
  { a: { b: [] } },
  { a: [{ b: [] }, { b: 1 }] },
  { a: [{ b: [{ c: 1 }] }, { b: { c: [2, 3] } }] },
];

describe('expressions', () => {
  // paths and sums are read without JSONata where the data allows (engine/expr/expression.ts): the same answers
  const SOURCES = ['a', 'a.b', 'a.b.c', 'a.toString', 'a.constructor', 'true', 'null', 'a[0]', 'a[1]', 'a[2].b', 'a[0].b', 'a.b[0]', 'a[0].b[1].c', 'a[1].b.c',
    '$sum(a)', '$sum(a.b)', '$sum(a.b.c)', '$sum( b )', '$sum(a.toString)',
    'a > 0', 'a.b >= 2.5', 'a[0].b < 2', 'a.b.c <= 1', 'a = 0', 'a != 0', 'a = "str"', "a != 'str'", 'a > "s"', 'a.b = -1e0', 'b > 8'];
  it.each(SOURCES)('"%s" gives exactly what JSONata gives, or fails as it does, for every shape of data', async (source) => {
    const compiled = compileExpression(source);
    for (const data of DATA) {
      const expected = await jsonata(source).evaluate(data).then((value) => ({ value: Array.isArray(value) ? Array.from(value) : value }), (err) => ({ error: err.code }));
      const actual = await compiled.evaluate(data).then((value) => ({ value }), (err) => ({ error: err.code }));
      expect(actual, `${source} over ${JSON.stringify(data)}`).toEqual(expected);
      // read at once, it is JSONata's value or SLOW (then evaluate decides), never another value and never an error
      const now = compiled.readNow(data);
      if (now !== SLOW) expect({ value: now }, `${source} read at once over ${JSON.stringify(data)}`).toEqual(expected);
    }
  });

  it('keeps the value type of a template that is one expression, and joins text otherwise', async () => {
    const scope = { vars: { n: 3, list: ['x', 'y'], name: 'Ann' } };
    expect(await compileTemplate('{{ vars.n }}')(scope)).toBe(3);
    expect(await compileTemplate('{{ vars.list }}')(scope)).toEqual(['x', 'y']);
    expect(await compileTemplate('Hi {{ vars.name }}, {{ vars.n + 1 }} {{ vars.missing }}!')(scope)).toBe('Hi Ann, 4 !');
    expect(await compileTemplate({ a: ['{{ vars.n }}', 'plain'], b: 2 })(scope)).toEqual({ a: [3, 'plain'], b: 2 });
  });

  it('renders a template of plain paths at once, and leaves one with any other expression to JSONata', async () => {
    const scope = { vars: { n: 3, name: 'Ann', items: [{ x: 1 }, { x: 2 }] } };
    const paths = compileTemplate({ greeting: 'Hi {{ vars.name }}', n: '{{ vars.n }}', list: ['{{ vars.name }}', 'x'] });
    expect(paths.now(scope)).toEqual({ greeting: 'Hi Ann', n: 3, list: ['Ann', 'x'] });
    const sum = compileTemplate({ greeting: 'Hi {{ vars.name }}', next: '{{ vars.n + 1 }}' });
    expect(sum.now(scope)).toBe(SLOW);
    expect(await sum(scope)).toEqual({ greeting: 'Hi Ann', next: 4 });
    // data a plain read does not cover (a path mapped over an array) goes to JSONata too, with JSONata's answer
    const mapped = compileTemplate('{{ vars.items.x }}');
    expect(mapped.now(scope)).toBe(SLOW);
    expect(await mapped(scope)).toEqual([1, 2]);
  });

  it('gives every flow that writes the same template its own answer, from one compiled copy', async () => {
    // flows share compiled texts, constants and expressions (memory at 1,000 flows): nothing of one render reaches another
    const first = compileTemplate({ to: '{{ contact.phone }}', text: 'Hi {{ vars.name }}, {{ $count(vars.items) }} items', fixed: { tier: 'gold' } });
    const second = compileTemplate({ to: '{{ contact.phone }}', text: 'Hi {{ vars.name }}, {{ $count(vars.items) }} items', fixed: { tier: 'gold' } });
    const ann = { contact: { phone: '+1555' }, vars: { name: 'Ann', items: [1, 2] } };
    const bob = { contact: { phone: '+1666' }, vars: { name: 'Bob', items: [] } };
    const [a, b] = await Promise.all([first(ann), second(bob)]);
    expect(a).toEqual({ to: '+1555', text: 'Hi Ann, 2 items', fixed: { tier: 'gold' } });
    expect(b).toEqual({ to: '+1666', text: 'Hi Bob, 0 items', fixed: { tier: 'gold' } });
    (a as { to: string }).to = 'changed by the caller';
    expect(await first(ann)).toEqual({ to: '+1555', text: 'Hi Ann, 2 items', fixed: { tier: 'gold' } });
    expect(() => ((a as { fixed: { tier: string } }).fixed.tier = 'x')).toThrow(TypeError);
    // an expression only JSONata evaluates: the same answer each time, whoever asked before
    const count = compileExpression('$count(vars.items) * 2');
    expect([await count.evaluate(ann), await count.evaluate(bob), await count.evaluate(ann)]).toEqual([4, 0, 4]);
    expect(() => compileExpression('vars.items[')).toThrow(/Expected/);
  });

  it('fails a runaway expression with a clear error instead of stalling', async () => {
    const runaway = compileExpression('($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))', { timeoutMs: 1000, maxDepth: 200, maxSequence: 1_000_000 });
    await expect(runaway.evaluate({})).rejects.toThrow(/recursed deeper than the limit/);
  });
});
