/**
 * Validation speed: generates 1,000 realistic flow files (params, identify, map, http, branch, send, tests) and
 * validates them the way `hooks validate` does. Run pinned to one core: `taskset -c 0 npm run bench:validate`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../engine/config/load.ts';
import { listFlowFiles } from '../engine/flow/directory.ts';
import { loadFlowFiles } from '../engine/flow/loader.ts';

const COUNT = Number(process.env.FLOWS ?? 1000);

/** A realistic flow; `edition` changes its text without changing what it does (for reload benchmarks). */
export function generatedFlow(i: number, edition = 1): string {
  return `version: 1
id: flow-${i}
description: Generated flow ${i}, edition ${edition}
trigger:
  path: /generated/${i}
  methods: [POST]
  params:
    payer: body.payment[0].name
    total: $sum(body.payment.amount)
    titles: body.products.title
identify:
  phone: body.phone
  defaultCountry: US
  onUnidentified: continue
map:
  first_name: body.name
mode: sync
steps:
  - id: lookup
    http:
      url: "https://api.example.com/customers/{{ body.id }}?flow=${i}"
      save: { tier: body.tier, items: body.items.title }
  - id: decide
    branch:
      - when: steps.lookup.ok and vars.total > ${i % 200}
        steps:
          - id: vip
            send: { channel: sms, to: "{{ contact.phone }}", text: "Thanks {{ vars.payer }}, total {{ vars.total }}" }
          - id: ok
            respond: { status: 200, body: { vip: true, total: "{{ vars.total }}" } }
      - else:
          - id: plain
            respond: { status: 200, body: { vip: false } }
tests:
  - name: big spender
    request: { body: { payment: [{ name: Ann, amount: 500 }] } }
    mocks: { lookup: { status: 200, body: { tier: gold, items: [] } } }
    expect: { response: { status: 200, body: { vip: true } } }
`;
}

/** Writes `count` generated flows to a temp directory and loads them the way `hooks validate` does. */
export async function validateGenerated(count: number): Promise<{ flows: number; seconds: number; heapMb: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hooks-bench-validate-'));
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => writeFile(join(dir, `flow-${i}.yaml`), generatedFlow(i))));
    const loaded = await loadConfig(undefined, {}, dir);
    if (!loaded.ok) throw new Error('config');
    const started = performance.now();
    const outcomes = await loadFlowFiles(await listFlowFiles(dir), loaded.config, {});
    const elapsed = performance.now() - started;
    const failed = outcomes.filter((o) => o.problems.length > 0);
    if (failed.length > 0) throw new Error(`${failed.length} generated flows failed: ${JSON.stringify(failed[0].problems[0])}`);
    return { flows: outcomes.length, seconds: elapsed / 1000, heapMb: process.memoryUsage().heapUsed / 1048576 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// run as a script (not when bench/scale.ts imports the generator)
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { flows, seconds, heapMb } = await validateGenerated(COUNT);
  console.log(`validated ${flows} flows in ${seconds.toFixed(2)} s (${((seconds * 1000) / flows).toFixed(2)} ms/flow), heap ${heapMb.toFixed(0)} MB`);
}
