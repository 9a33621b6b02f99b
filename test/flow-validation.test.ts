import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFlowFile } from '../engine/flow/load.ts';
import { loadFlowFiles } from '../engine/flow/loader.ts';
import { loadConfig, type EngineConfig } from '../engine/config/load.ts';
import { formatProblem } from '../engine/schema/problem.ts';
import { scratchDir } from './support/files.ts';

const HEAD = 'version: 1\nid: f\ntrigger: { path: /f }\n';

/** One broken file per kind of mistake: the exact position and message a user sees. */
const BROKEN: { name: string; yaml: string; expect: string }[] = [
  { name: 'not YAML at all', yaml: 'version: 1\nid: f\n  trigger: [\n', expect: '2:5 YAML syntax error: Nested mappings are not allowed in compact mappings' },
  { name: 'YAML that is not a mapping', yaml: '- just\n- a list\n', expect: '1:1 a flow file must be a YAML mapping with version, id, trigger and steps' },
  { name: 'a duplicate key', yaml: 'version: 1\nid: f\nid: g\ntrigger: {}\n', expect: '3:1 Map keys must be unique: a key may appear only once in a mapping; remove or rename one' },
  { name: 'a tab-indented line', yaml: 'version: 1\nid: f\ntrigger:\n\tpath: /f\n', expect: '4:1 YAML syntax error: Tabs are not allowed as indentation' },
  { name: 'the wrong version', yaml: 'version: 2\nid: f\ntrigger: {}\n', expect: '1:10 version: must be 1; got number 2' },
  { name: 'a missing trigger', yaml: 'version: 1\nid: f\n', expect: '1:1 missing required property "trigger"' },
  { name: 'an id with spaces', yaml: 'version: 1\nid: my flow\ntrigger: {}\n', expect: '2:5 id: the string "my flow" is not valid here: unique id of the flow across the flows directory. The default route is <basePath>/<id>.' },
  { name: 'a misspelt trigger property', yaml: 'version: 1\nid: f\ntrigger:\n  methds: [POST]\n', expect: '4:3 trigger.methds: unknown property "methds" (did you mean "methods"?); allowed here: path, methods, auth, accept, params, sample, dedupe, rateLimit, bodyLimit, inbound' },
  { name: 'an unknown HTTP method', yaml: 'version: 1\nid: f\ntrigger:\n  methods: [POST, FETCH]\n', expect: '4:19 trigger.methods[1]: must be one of "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"; got the string "FETCH"' },
  { name: 'methods as a string', yaml: 'version: 1\nid: f\ntrigger:\n  methods: POST\n', expect: '4:12 trigger.methods: must be list, not the string "POST"' },
  { name: 'a path without a slash', yaml: 'version: 1\nid: f\ntrigger:\n  path: booking\n', expect: '4:9 trigger.path: the string "booking" is not valid here: route under the server\'s basePath. Default: /<id>.' },
  { name: 'an unknown mode', yaml: `${HEAD}mode: later\n`, expect: '4:7 mode: must be one of "async", "sync"; got the string "later"' },
  { name: 'a duration without a unit', yaml: `${HEAD}mode: sync\ntimeout: 15\n`, expect: '5:10 timeout: must be string, not number 15' },
  { name: 'an unknown step kind', yaml: `${HEAD}steps:\n  - id: a\n    sned: { channel: sms, to: x }\n`, expect: '6:5 steps[0].sned: unknown step kind "sned" (did you mean "send"?); a step has an id and one of: set, http, branch, send, respond, stop' },
  { name: 'a step with two kinds', yaml: `${HEAD}steps:\n  - id: a\n    set: { x: 1 }\n    stop: true\n`, expect: '5:5 steps[0]: a step does one thing, but this one has set and stop: split it into 2 steps' },
  { name: 'a step without a kind', yaml: `${HEAD}steps:\n  - id: a\n`, expect: '5:5 steps[0]: a step needs one of: set, http, branch, send, respond, stop' },
  { name: 'a step without an id', yaml: `${HEAD}steps:\n  - set: { x: 1 }\n`, expect: '5:5 steps[0]: missing required property "id"' },
  { name: 'an http step without url', yaml: `${HEAD}steps:\n  - id: a\n    http: { method: GET }\n`, expect: '6:11 steps[0].http: missing required property "url"' },
  { name: 'a status out of range', yaml: `${HEAD}mode: sync\nsteps:\n  - id: a\n    respond: { status: 700 }\n`, expect: '7:24 steps[0].respond.status: must be <= 599; got number 700' },
  { name: 'a JSONata syntax error in a param', yaml: 'version: 1\nid: f\ntrigger:\n  params:\n    total: $sum(body.payment.amount\n', expect: '5:35 trigger.params.total: JSONata expression does not compile: Expected ")" before end of expression' },
  { name: 'a JSONata syntax error in a branch condition', yaml: `${HEAD}steps:\n  - id: b\n    branch:\n      - when: "vars.x >"\n        steps: []\n`, expect: '7:23 steps[0].branch[0].when: JSONata expression does not compile: Unexpected end of expression' },
  { name: 'a template left open', yaml: `${HEAD}steps:\n  - id: call\n    http:\n      url: "https://api.example.com/{{ vars.id"\n`, expect: '7:12 steps[0].http.url: template "{{ vars.id" is not closed: add "}}"' },
  { name: 'an empty template', yaml: `${HEAD}steps:\n  - id: a\n    set: { x: "{{ }}" }\n`, expect: '6:15 steps[0].set.x: template "{{ }}" is empty: put an expression between {{ and }}' },
  { name: 'a template whose expression does not compile', yaml: `${HEAD}steps:\n  - id: a\n    set: { x: "Hi {{ $uppercase( }}" }\n`, expect: '6:15 steps[0].set.x: expression "$uppercase(" in template does not compile: Expected ")" before end of expression' },
  { name: 'duplicate step ids, also inside branches', yaml: `${HEAD}steps:\n  - id: a\n    set: { x: 1 }\n  - id: b\n    branch:\n      - else:\n          - id: a\n            stop: true\n`, expect: '10:17 steps[1].branch[0].else[0].id: step id "a" is already used by another step; step ids are unique in a flow' },
  { name: 'else that is not last', yaml: `${HEAD}steps:\n  - id: b\n    branch:\n      - else: []\n      - when: "true"\n        steps: []\n`, expect: '7:9 steps[0].branch[0].else: `else` must be the last case: cases after it could never run' },
  { name: 'respond in an async flow', yaml: `${HEAD}steps:\n  - id: r\n    respond: { status: 200 }\n`, expect: '6:5 steps[0].respond: `respond` only works in sync flows (mode: sync); async flows answer with `response:`' },
  { name: 'a response block in a sync flow', yaml: `${HEAD}mode: sync\nresponse: { status: 202 }\n`, expect: '5:1 response: `response:` is the immediate answer of async flows; a sync flow answers with a `respond` step' },
  { name: 'a send on an unknown channel', yaml: `${HEAD}steps:\n  - id: m\n    send: { channel: pigeon, to: x, text: hi }\n`, expect: '6:22 steps[0].send.channel: unknown channel "pigeon"; channels in the config: sms, voice, email' },
  { name: 'an unset environment variable', yaml: 'version: 1\nid: f\ntrigger:\n  auth:\n    basic: { username: u, password: "${env:HOOKS_TEST_UNSET_PASSWORD}" }\n', expect: '5:37 trigger.auth.basic.password: environment variable HOOKS_TEST_UNSET_PASSWORD is not set; set it or give a default: ${env:HOOKS_TEST_UNSET_PASSWORD:-default}' },
  { name: 'a signature check without a secret', yaml: 'version: 1\nid: f\ntrigger:\n  auth:\n    signature: { preset: github }\n', expect: '5:16 trigger.auth.signature: a signature check needs `secret` or `secrets`' },
  { name: 'an unknown signature preset', yaml: 'version: 1\nid: f\ntrigger:\n  auth:\n    signature: { preset: gitlab, secret: s }\n', expect: '5:26 trigger.auth.signature.preset: must be one of "github", "stripe", "twilio", "standard-webhooks", "hmac"; got the string "gitlab"' },
  { name: 'a case with neither when nor else', yaml: `${HEAD}steps:\n  - id: b\n    branch:\n      - {}\n`, expect: '7:9 steps[0].branch[0]: a case needs `when` and `steps`, or `else`' },
  { name: 'a when without steps', yaml: `${HEAD}steps:\n  - id: b\n    branch:\n      - when: "true"\n`, expect: '7:9 steps[0].branch[0]: must have property steps when property when is present; got a mapping' },
];

describe('a broken flow file gets one clear error with its position', () => {
  let config: EngineConfig;
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    dir = await scratchDir();
    const loaded = await loadConfig(join(dir.dir, 'none.yaml'), {}, dir.dir).catch(() => undefined);
    expect(loaded?.ok).toBe(false); // an explicit config that does not exist is an error...
    const defaults = await loadConfig(undefined, {}, dir.dir); // ...while no config at all runs on defaults
    if (!defaults.ok) throw new Error('defaults must load');
    config = defaults.config;
  });
  afterAll(() => dir.remove());

  it('covers at least 25 kinds of mistake', () => {
    expect(BROKEN.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of BROKEN) {
    it(c.name, async () => {
      const file = await dir.write(`${c.name.replace(/\W+/g, '-')}.yaml`, c.yaml);
      const result = await loadFlowFile(file, 'flows/f.yaml', config, {});
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.problems.map(formatProblem)).toEqual([`flows/f.yaml:${c.expect}`]);
    });
  }

  it('refuses a 50 MB file before reading it', async () => {
    const file = join(dir.dir, 'huge.yaml');
    await writeFile(file, Buffer.alloc(50 * 1024 * 1024, 'a'));
    const result = await loadFlowFile(file, 'flows/huge.yaml', config, {});
    expect(result.ok || formatProblem(result.problems[0])).toBe('flows/huge.yaml:1:1 file is 50.0 MB; the limit is 1 MB: split it or remove what is not needed');
  });

  it('refuses an alias bomb instead of expanding it', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefg'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(',')}]`)].join('\n');
    const file = await dir.write('bomb.yaml', bomb);
    const result = await loadFlowFile(file, 'flows/bomb.yaml', config, {});
    expect(result.ok || formatProblem(result.problems[0])).toBe('flows/bomb.yaml:1:1 too many alias expansions (limit 100): this looks like an alias bomb; write the values out instead');
  });

  it('refuses a binary file with a clear message', async () => {
    const file = await dir.write('binary.yaml', '\u0000\u0001\u0002PNG\u0000');
    const result = await loadFlowFile(file, 'flows/binary.yaml', config, {});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(formatProblem(result.problems[0])).toMatch(/^flows\/binary\.yaml:1:1 /);
  });

  it('reports every problem of a file at once, in line order', async () => {
    const file = await dir.write('many.yaml', `${HEAD}steps:\n  - id: a\n    set: { x: "{{ vars.y" }\n  - id: a\n    http: { url: "{{ 1 + }}" }\n`);
    const result = await loadFlowFile(file, 'flows/many.yaml', config, {});
    expect(result.ok ? [] : result.problems.map((p) => `${p.line}:${p.col} ${p.path}`)).toEqual(['6:15 steps[0].set.x', '7:9 steps[1].id', '8:18 steps[1].http.url']);
  });

  it('never shows a resolved secret in a message', async () => {
    const file = await dir.write('secret.yaml', 'version: 1\nid: f\ntrigger:\n  auth:\n    basic: { username: u, password: "${env:TEST_SECRET}" }\n  path: "${env:TEST_PATH}"\n');
    const result = await loadFlowFile(file, 'flows/secret.yaml', config, { TEST_SECRET: 's3cr3t-value', TEST_PATH: 'no-slash-s3cr3t' });
    expect(result.ok).toBe(false);
    const text = result.ok ? '' : result.problems.map(formatProblem).join('\n');
    expect(text).toContain('trigger.path');
    expect(text).not.toContain('s3cr3t');
  });

  it('checks params against the sample payload', async () => {
    await dir.write('samples/order.json', JSON.stringify({ payment: [{ name: 'Ann', amount: 3 }] }));
    const file = await dir.write('sampled.yaml', 'version: 1\nid: f\ntrigger:\n  sample: samples/order.json\n  params:\n    payer: body.payment[0].name\n    typo: body.paymnet[0].name\n');
    const result = await loadFlowFile(file, 'flows/sampled.yaml', config, {});
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      'flows/sampled.yaml:7:11 trigger.params.typo: "body.paymnet[0].name" finds nothing in sample "samples/order.json": check the path',
    ]);
  });

  it('keeps a working file loading beside broken ones, and rejects id and route clashes', async () => {
    const good = await dir.write('dir/a-good.yaml', 'version: 1\nid: good\ntrigger: { path: /good }\n');
    const clash = await dir.write('dir/b-clash.yaml', 'version: 1\nid: good\ntrigger: { path: /other }\n');
    const route = await dir.write('dir/c-route.yaml', 'version: 1\nid: third\ntrigger:\n  path: /good\n');
    const broken = await dir.write('dir/d-broken.yaml', 'version: 1\nid: [\n');
    const outcomes = await loadFlowFiles([good, clash, route, broken], config, {});
    expect(outcomes.map((o) => o.flow?.id ?? null)).toEqual(['good', null, null, null]);
    expect(outcomes[1].problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([`2:5 flow id "good" is already used by ${outcomes[0].flow!.file}; flow ids are unique across the flows directory`]);
    expect(outcomes[2].problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([`4:9 route "/good" is already served by ${outcomes[0].flow!.file} (flow "good"); give this flow another trigger.path`]);
    expect(outcomes[3].problems).toHaveLength(1);
  });
});

describe('signature settings are checked when the file loads', () => {
  it('refuses a Standard Webhooks secret that is not whsec_ base64, without echoing it', async () => {
    const dir = await scratchDir();
    try {
      const loaded = await loadConfig(undefined, {}, dir.dir);
      if (!loaded.ok) throw new Error('defaults must load');
      const file = await dir.write('sw.yaml', 'version: 1\nid: f\ntrigger:\n  auth:\n    signature: { preset: standard-webhooks, secret: "${env:SW_SECRET}" }\n');
      const result = await loadFlowFile(file, 'flows/sw.yaml', loaded.config, { SW_SECRET: 'not-a-whsec-secret!!' });
      expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
        'flows/sw.yaml:5:16 trigger.auth.signature: signing secret #1 is not a Standard Webhooks secret (whsec_ followed by base64)',
      ]);
    } finally {
      await dir.remove();
    }
  });
});

describe('a route the engine would never hand to the flow is refused at load', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let atHooks: EngineConfig;
  let atRoot: EngineConfig;
  const problemsOf = async (config: EngineConfig, yaml: string) => {
    const file = await dir.write('route.yaml', yaml);
    const result = await loadFlowFile(file, 'flows/route.yaml', config, {});
    return result.ok ? [] : result.problems.map(formatProblem);
  };
  const withPath = (path: string) => `version: 1\nid: f\ntrigger:\n  path: "${path}"\n`;
  beforeAll(async () => {
    dir = await scratchDir();
    const defaults = await loadConfig(undefined, {}, dir.dir);
    const root = await loadConfig(await dir.write('root.config.yaml', 'server: { basePath: "" }\n'), {}, dir.dir);
    if (!defaults.ok || !root.ok) throw new Error('configs must load');
    atHooks = defaults.config;
    atRoot = root.config;
    expect(atRoot.server.basePath).toBe('');
  });
  afterAll(() => dir.remove());

  for (const path of ['/a/../admin', '/..', '/a/./b', '/a/..']) {
    it(`refuses the dot segment in ${path}, under any basePath`, async () => {
      expect(await problemsOf(atHooks, withPath(path))).toEqual([
        `flows/route.yaml:4:9 trigger.path: route "${path}" has a "." or ".." segment, which clients and proxies resolve away before it arrives; write the path without it`,
      ]);
    });
  }

  it('refuses a percent-encoded dot (the path pattern allows no %)', async () => {
    expect(await problemsOf(atHooks, withPath('/a/%2e%2e/b'))).toEqual([
      `flows/route.yaml:4:9 trigger.path: the string "/a/%2e%2e/b" is not valid here: route under the server's basePath. Default: /<id>.`,
    ]);
  });

  it('keeps refusing /_ routes, /_status included', async () => {
    expect(await problemsOf(atRoot, withPath('/_status/twilio'))).toEqual([
      `flows/route.yaml:4:9 trigger.path: routes starting with /_ are the engine's own (/_status/twilio receives Twilio status callbacks); choose another path`,
    ]);
  });

  for (const [path, own] of [['/api', '/api'], ['/api/flows', '/api'], ['/metrics', '/metrics'], ['/healthz', '/healthz'], ['/readyz', '/readyz'], ['/ui', '/ui'], ['/ui/flows/x', '/ui'], ['/metrics/', '/metrics']]) {
    it(`refuses ${path} when the flows sit at the root, naming ${own}`, async () => {
      expect(await problemsOf(atRoot, withPath(path))).toEqual([
        `flows/route.yaml:4:9 trigger.path: route "${path}" is shadowed by the engine's own ${own} (server.basePath is ""): choose another path, or set server.basePath, e.g. /hooks`,
      ]);
    });
  }

  it('refuses a default route /<id> that lands on an engine path, at the id', async () => {
    expect(await problemsOf(atRoot, 'version: 1\nid: metrics\ntrigger: {}\n')).toEqual([
      `flows/route.yaml:2:5 id: route "/metrics" is shadowed by the engine's own /metrics (server.basePath is ""): choose another path, or set server.basePath, e.g. /hooks`,
    ]);
  });

  it('allows names that only start like an engine path, and engine paths under a basePath', async () => {
    for (const path of ['/apix', '/metrics-x', '/healthzz', '/uiux', '/a.b/..c']) expect(await problemsOf(atRoot, withPath(path))).toEqual([]);
    expect(await problemsOf(atHooks, withPath('/api'))).toEqual([]); // served at /hooks/api
    expect(await problemsOf(atHooks, withPath('/metrics'))).toEqual([]);
  });
});
