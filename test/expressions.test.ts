import { describe, expect, it } from 'vitest';
import jsonata from 'jsonata';
import { compileExpression } from '../engine/expr/expression.ts';
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
];

describe('expressions', () => {
  it.each(['a', 'a.b', 'a.b.c', 'a.toString', 'a.constructor', 'true', 'null'])('"%s" gives exactly what JSONata gives, for every shape of data', async (source) => {
    const compiled = compileExpression(source);
    for (const data of DATA) {
      const expected = await jsonata(source).evaluate(data);
      const actual = await compiled.evaluate(data);
      expect(actual, `${source} over ${JSON.stringify(data)}`).toEqual(Array.isArray(expected) ? Array.from(expected) : expected);
    }
  });

  it('keeps the value type of a template that is one expression, and joins text otherwise', async () => {
    const scope = { vars: { n: 3, list: ['x', 'y'], name: 'Ann' } };
    expect(await compileTemplate('{{ vars.n }}')(scope)).toBe(3);
    expect(await compileTemplate('{{ vars.list }}')(scope)).toEqual(['x', 'y']);
    expect(await compileTemplate('Hi {{ vars.name }}, {{ vars.n + 1 }} {{ vars.missing }}!')(scope)).toBe('Hi Ann, 4 !');
    expect(await compileTemplate({ a: ['{{ vars.n }}', 'plain'], b: 2 })(scope)).toEqual({ a: [3, 'plain'], b: 2 });
  });

  it('fails a runaway expression with a clear error instead of stalling', async () => {
    const runaway = compileExpression('($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))', { timeoutMs: 1000, maxDepth: 200, maxSequence: 1_000_000 });
    await expect(runaway.evaluate({})).rejects.toThrow(/recursed deeper than the limit/);
  });
});
