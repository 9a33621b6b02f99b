import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const FLOW = `# yaml-language-server: $schema=../schemas/flow.schema.json
version: 1
id: orders
description: >
  A long folded description that a re-rendering of the document would fold again at eighty columns, which it must not.
trigger:
  path: /orders
  methods: [POST]   # kept as written
  params:
    name: body.customer.name   # already read
  sample: samples/order.json
`;
const ORDER = { customer: { name: 'Ann', phone: '+14155552671' }, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }] };
const REQUEST = { request: { headers: { Authorization: 'Bearer s3cret-token', 'X-Request-Id': 'r-1' }, query: { src: 'ad' }, body: { id: 7 } } };

describe('hooks paths', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  const run = (...args: string[]) => runHooks(['paths', ...args], { cwd: dir.dir });
  beforeAll(async () => {
    dir = await scratchDir();
    await dir.write('hooks.config.yaml', 'flows: { dir: flows }\n');
    await dir.write('flows/samples/order.json', JSON.stringify(ORDER));
    await dir.write('flows/samples/request.json', JSON.stringify(REQUEST));
    await dir.write('flows/samples/broken.json', '{"a": 1,\n "b": }');
    await dir.write('outside.json', '{"a": 1}');
    await dir.write('flows/orders.yaml', FLOW);
    await dir.write('flows/inline.yaml', 'version: 1\nid: inline\ntrigger: { path: /inline, sample: samples/order.json }\n');
  });
  afterAll(() => dir.remove());

  it('lists every leaf of a body sample with an alias and its value, lists also flattened, in aligned columns', async () => {
    const result = await run('flows/samples/order.json');
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out.split('\n')).toEqual([
      'path                 alias        value',
      'body.customer.name   name         "Ann"',
      'body.customer.phone  phone        "+14155552671"',
      'body.items[0].sku    sku          "a"',
      'body.items[0].qty    qty          1',
      'body.items[1].sku    items_1_sku  "b"',
      'body.items[1].qty    items_1_qty  2',
      'body.items.sku       items_sku    ["a","b"]',
      'body.items.qty       items_qty    [1,2]',
    ]);
  });

  it('reads a whole request: headers and query too, credential headers never shown', async () => {
    const result = await run('flows/samples/request.json', '--format', 'json');
    expect(result.code).toBe(0);
    expect(result.out).not.toContain('s3cret');
    expect(JSON.parse(result.out)).toEqual([
      { path: 'headers.authorization', alias: 'authorization', value: '[redacted]', flattened: false },
      { path: 'headers.`x-request-id`', alias: 'x_request_id', value: 'r-1', flattened: false },
      { path: 'query.src', alias: 'src', value: 'ad', flattened: false },
      { path: 'body.id', alias: 'id', value: 7, flattened: false },
    ]);
  });

  it('parses a URL or a query string as the engine parses req.query: nested keys are keys, repeats are lists', async () => {
    const fromUrl = await run('https://partner.example/hook?a=1&b[c]=2&t[]=x&t[]=y');
    const fromText = await run('a=1&b[c]=2&t[]=x&t[]=y');
    expect(fromUrl.out).toBe(fromText.out);
    expect(fromText.out.split('\n')).toEqual([
      'path            alias  value',
      'query.a         a      "1"',
      'query.`b[c]`    b_c    "2"',
      'query.`t[]`[0]  t_0    "x"',
      'query.`t[]`[1]  t_1    "y"',
      'query.`t[]`     t      ["x","y"]',
    ]);
  });

  it('--into adds the new paths to the flow, keeping its comments and layout, and the flow still validates', async () => {
    const result = await run('flows/samples/order.json', '--into', 'flows/orders.yaml');
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain('7 params added to flows/orders.yaml');
    expect(result.out).not.toContain('body.customer.name');
    const text = await readFile(`${dir.dir}/flows/orders.yaml`, 'utf8');
    // the old text is all there, the new entries after the existing one, at its indentation
    expect(text).toBe(
      FLOW.replace(
        '    name: body.customer.name   # already read\n',
        '    name: body.customer.name   # already read\n    phone: body.customer.phone\n    sku: body.items[0].sku\n    qty: body.items[0].qty\n' +
          '    items_1_sku: body.items[1].sku\n    items_1_qty: body.items[1].qty\n    items_sku: body.items.sku\n    items_qty: body.items.qty\n',
      ),
    );
    expect(await runHooks(['validate', 'flows/orders.yaml'], { cwd: dir.dir })).toMatchObject({ code: 0, out: '1 file checked: 1 valid, 0 with problems' });
    const again = await run('flows/samples/order.json', '--into', 'flows/orders.yaml');
    expect(again).toMatchObject({ code: 0, out: '0 params added to flows/orders.yaml' });
  });

  it('--into writes a params block into a flow-style trigger', async () => {
    const result = await run('flows/samples/order.json', '--into', 'flows/inline.yaml');
    expect(result.code).toBe(0);
    const text = await readFile(`${dir.dir}/flows/inline.yaml`, 'utf8');
    expect(text).toContain('trigger: { path: /inline, sample: samples/order.json, params: { name: "body.customer.name", ');
    expect(await runHooks(['validate', 'flows/inline.yaml'], { cwd: dir.dir })).toMatchObject({ code: 0 });
  });

  it('refuses bad input with one clear line: not JSON, outside the flows folder, missing, no argument', async () => {
    expect(await run('flows/samples/broken.json')).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^hooks paths: sample flows\/samples\/broken.json cannot be read: it is not JSON( \(line 2, column \d+\))?$/) });
    expect(await run('outside.json')).toEqual({ code: 1, out: '', err: 'hooks paths: sample outside.json cannot be read: it is outside flows: a sample is a file in the flows folder' });
    expect(await run('flows/samples/none.json')).toMatchObject({ code: 1, err: 'hooks paths: sample flows/samples/none.json cannot be read: file not found' });
    expect(await run()).toMatchObject({ code: 2, err: expect.stringMatching(/^hooks paths: give a sample JSON file/) });
    expect(await run('a=1', '--format', 'xml')).toMatchObject({ code: 2, err: 'hooks paths: --format must be one of text, json' });
  });

  it('--help says what it does and names every option', async () => {
    const result = await runHooks(['paths', '--help'], { cwd: root });
    expect(result.code).toBe(0);
    for (const word of ['usage: hooks paths', '--into <flow file>', '--format text|json', 'flattened']) expect(result.out).toContain(word);
  });
});
