import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

const FLOW = `version: 1
id: shop
trigger: { path: /shop }
identify: { phone: body.phone, defaultCountry: US, onUnidentified: continue }
map: { first_name: body.name }
mode: sync
steps:
  - id: price
    http: { url: "https://prices.example.com/{{ body.sku }}", save: { price: body.price } }
  - id: decide
    branch:
      - when: steps.price.ok
        steps:
          - id: text
            send: { channel: sms, to: "{{ contact.phone }}", text: "{{ contact.fields.first_name }}, it costs {{ vars.price }}" }
          - id: ok
            respond: { status: 200, body: { price: "{{ vars.price }}" } }
      - else:
          - id: sorry
            respond: { status: 503, body: { error: "{{ vars.last_webhook_failure.kind }}" } }
tests:
  - name: passes
    request: { body: { phone: "(415) 555-0100", name: Ann, sku: a1 } }
    mocks: { price: { status: 200, body: { price: 12 } } }
    expect:
      response: { status: 200, body: { price: 12 } }
      vars: { price: 12 }
      steps: { taken: [price, text, ok], notTaken: [sorry] }
      sent: [{ channel: sms, to: "+14155550100", text: "/^Ann, it costs 1\\\\d$/" }]
      contact: { phone: "+14155550100", fields: { first_name: Ann } }
      log: { outcome: completed }
  - name: fails everywhere
    request: { body: { phone: "(415) 555-0100", name: Ann, sku: a1 } }
    mocks: { price: { error: { kind: Timeout } } }
    expect:
      response: { status: 200, body: { price: 12 } }
      vars: { price: 12 }
      steps: { taken: [text], notTaken: [sorry] }
      sent: [{ channel: sms }]
      contact: { fields: { first_name: Bob } }
      log: { outcome: failed }
  - name: an http step without a mock
    request: { body: { sku: a1 } }
    expect: { response: { status: 503 } }
`;

const BESIDE = `# yaml-language-server: $schema=../schemas/flow-tests.schema.json
tests:
  - name: from the file beside the flow
    request: { body: { phone: "+1 415 555 0199", sku: b2 } }
    mocks: { price: { status: 500, body: oops } }
    expect: { response: { status: 503, body: { error: BadResponse } }, sent: [] }
  - name: each test starts empty
    request: { body: { sku: c3 } }
    mocks: { price: { status: 200, body: { price: 1 } } }
    expect: { sent: [{ to: "" }] }
`;

describe('hooks test', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    dir = await scratchDir();
    await dir.write('flows/shop.yaml', FLOW);
    await dir.write('flows/shop.test.yaml', BESIDE);
  });
  afterAll(() => dir.remove());

  it('passes on every example flow in flows/', async () => {
    const result = await runHooks(['test', 'flows'], { cwd: root });
    expect(result.out.split('\n').at(-1)).toBe('14 passed, 0 failed');
    expect(result.out).not.toContain('✗');
    expect(result.code).toBe(0);
  });

  it('prints a line per test, a diff line per broken expectation, and the summary; exit 1', async () => {
    const result = await runHooks(['test', 'flows'], { cwd: dir.dir });
    expect(result.code).toBe(1);
    expect(result.out.split('\n')).toEqual([
      '✓ shop › passes',
      '✗ shop › fails everywhere',
      '    response.status: expected 200, got 503',
      '    response.body.price: expected 12, got nothing',
      '    vars.price: expected 12, got nothing',
      '    steps: expected "text" to run, but it did not (ran: price, decide, sorry)',
      '    steps: expected "sorry" not to run, but it did',
      '    sent: expected 1 message(s), got 0: []',
      '    contact.fields.first_name: expected "Bob", got "Ann"',
      '    log.outcome: expected "failed", got "completed"',
      '✗ shop › an http step without a mock',
      '    http step "price" has no mock in this test: add mocks.price with status and body, an error, or real: true',
      '✓ shop › from the file beside the flow',
      '✗ shop › each test starts empty',
      '    sent[0].to: expected "", got nothing',
      '2 passed, 3 failed',
    ]);
  });

  it('writes JUnit XML for CI', async () => {
    const result = await runHooks(['test', 'flows', '--reporter', 'junit', '--output', 'report.xml'], { cwd: dir.dir });
    expect(result.code).toBe(1);
    const xml = await readFile(`${dir.dir}/report.xml`, 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="hooks test" tests="5" failures="3">\n {2}<testsuite name="shop" file="flows\/shop.yaml" tests="5" failures="3" time="[\d.]+">/);
    expect(xml).toMatch(/<testcase classname="shop" name="passes" file="flows\/shop.yaml" time="[\d.]+"\/>/);
    expect(xml).toContain('<failure message="response.status: expected 200, got 503">response.status: expected 200, got 503\nresponse.body.price: expected 12, got nothing');
    expect(xml).toContain('name="each test starts empty"');
  });

  it('fails a flow file that does not load, with its position', async () => {
    await dir.write('broken/bad.yaml', 'version: 1\nid: bad\ntrigger: { path: /bad }\nsteps:\n  - id: x\n    sned: {}\n');
    const result = await runHooks(['test', 'broken'], { cwd: dir.dir });
    expect(result.code).toBe(1);
    expect(result.out.split('\n')[0]).toMatch(/^✗ broken\/bad\.yaml:6:5 steps\[0\]\.sned: unknown step kind "sned"/);
    expect(result.out.split('\n').at(-1)).toBe('0 passed, 0 failed (1 flow file did not load)');
  });
});
