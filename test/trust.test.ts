import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { Webhook } from 'standardwebhooks';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { runHooks } from './support/cli.ts';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];
const GITHUB_SECRET = 'gh-secret-for-tests';
const SW_SECRET = `whsec_${Buffer.from('standard webhooks test key!').toString('base64')}`;
const URL_TOKEN = 'tok3n-in-the-url-9f2c';

const FLOWS: Record<string, string> = {
  'github.yaml': `version: 1
id: github
trigger:
  path: /github
  accept: [json]
  auth: { signature: { preset: github, secret: "\${env:GITHUB_SECRET}" } }
  dedupe: headers."x-github-delivery"
response: { status: 202, body: { delivery: "{{ headers.\\"x-github-delivery\\" }}", execution: "{{ $execution.id }}" } }
steps:
  - id: note
    set: { repo: "{{ body.repository.full_name }}" }
`,
  'sw.yaml': `version: 1
id: sw
trigger:
  path: /sw
  auth: { signature: { preset: standard-webhooks, secrets: ["whsec_b2xkIGtleSBub3cgcm90YXRlZCBvdXQ=", "\${env:SW_SECRET}"] } }
  dedupe: { key: headers."webhook-id", window: 1h }
mode: sync
steps:
  - id: answer
    respond: { body: { type: "{{ body.type }}", n: "{{ body.n }}" } }
`,
  'flaky.yaml': `version: 1
id: flaky
trigger: { path: /flaky, dedupe: body.id }
mode: sync
steps:
  - id: answer
    branch:
      - when: body.fail
        steps: [{ id: no, respond: { status: 500, body: failed } }]
      - else:
          - id: yes
            respond: { status: 200, body: done }
`,
  'limited.yaml': `version: 1
id: limited
trigger: { path: /limited, rateLimit: { max: 3, per: 1m } }
`,
  'secret-url.yaml': `version: 1
id: secret-url
trigger: { path: /inbox, auth: { token: "\${env:URL_TOKEN}" } }
`,
  'runaway.yaml': `version: 1
id: runaway
trigger: { path: /runaway }
mode: sync
steps:
  - id: work
    set:
      deep: "{{ body.kind = 'deep' ? ($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1000000)) : 0 }}"
      huge: "{{ body.kind = 'huge' ? $count([1..20000000]) : 0 }}"
`,
};

describe('trusting callers', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine(FLOWS, 'server: { publicUrl: "https://hooks.example.com" }\n', { GITHUB_SECRET, SW_SECRET, URL_TOKEN });
  });
  afterAll(() => engine.stop());

  const push = examples.find((e) => e.name === 'push')!.examples[0];
  const githubBody = JSON.stringify(push);
  const githubHeaders = (delivery: string, body = githubBody, secret = GITHUB_SECRET) => ({
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': delivery,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  });
  const logs = async (flow: string, limit = 100) => (await engine.admin(`/api/logs?flow=${flow}&limit=${limit}`)).body.entries as Record<string, unknown>[];

  it('accepts a GitHub delivery signed over the raw bytes, and rejects a wrong secret, a changed byte and a missing header', async () => {
    const ok = await engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: githubHeaders('d-ok') });
    expect(ok.status).toBe(202);
    const wrongSecret = await engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: githubHeaders('d-1', githubBody, 'other') });
    const changed = githubBody.replace('"ref"', '"reF"');
    const oneByte = await engine.request('/hooks/github', { method: 'POST', body: changed, headers: githubHeaders('d-2') });
    const { 'x-hub-signature-256': _dropped, ...unsigned } = githubHeaders('d-3');
    const missing = await engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: unsigned });
    for (const res of [wrongSecret, oneByte, missing]) expect(res).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    const reasons = (await logs('github', 3)).map((e) => e.reason);
    expect(reasons[0]).toMatch(/^signature check failed: missing header: /);
    expect(reasons[1]).toMatch(/^signature check failed: mismatch/);
    expect(reasons[2]).toMatch(/^signature check failed: mismatch/);
    expect(JSON.stringify(await logs('github'))).not.toContain(GITHUB_SECRET);
  });

  it('runs 20 concurrent copies of one delivery once; the log links the 19 duplicates to the first', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: githubHeaders('d-burst') })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(new Set(answers.map((a) => (a.body as { execution: string }).execution)).size).toBe(1);
    const entries = (await logs('github')).filter((e) => (e.headers as Record<string, string>)['x-github-delivery'] === 'd-burst');
    const first = entries.filter((e) => e.outcome === 'accepted');
    const copies = entries.filter((e) => e.outcome === 'duplicate');
    expect(first).toHaveLength(1);
    expect(copies).toHaveLength(19);
    expect(copies.every((c) => c.duplicateOf === first[0].id && c.executionId === null)).toBe(true);
  });

  it('answers a copy of a sync delivery with the first answer (Standard Webhooks, key rotation)', async () => {
    const signer = new Webhook(SW_SECRET);
    const send = (id: string, payload: string) => {
      const at = new Date();
      return engine.request('/hooks/sw', {
        method: 'POST',
        body: payload,
        headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signer.sign(id, at, payload) },
      });
    };
    const first = await send('msg_1', '{"type":"invoice.paid","n":1}');
    const copy = await send('msg_1', '{"type":"invoice.paid","n":2}');
    expect(first).toMatchObject({ status: 200, body: { type: 'invoice.paid', n: 1 } });
    expect(copy).toMatchObject({ status: 200, body: { type: 'invoice.paid', n: 1 } });
    expect((await logs('sw', 1))[0]).toMatchObject({ outcome: 'duplicate', status: 200 });
    const stale = await engine.request('/hooks/sw', {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_2', 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600), 'webhook-signature': signer.sign('msg_2', new Date(Date.now() - 3_600_000), '{}') },
    });
    expect(stale.status).toBe(401);
    expect((await logs('sw', 1))[0].reason).toMatch(/^signature check failed: stale timestamp/);
  });

  it('runs a delivery again when its first copy failed, so the sender\'s retry is not swallowed', async () => {
    expect((await engine.request('/hooks/flaky', { json: { id: 'o-1', fail: true } })).status).toBe(500);
    expect(await engine.request('/hooks/flaky', { json: { id: 'o-1' } })).toMatchObject({ status: 200, text: 'done' });
    expect(await engine.request('/hooks/flaky', { json: { id: 'o-1', fail: true } })).toMatchObject({ status: 200, text: 'done' });
  });

  it('answers 429 with Retry-After past the rate limit, and logs it', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await engine.request('/hooks/limited', { json: {} }));
    expect(statuses.map((s) => s.status)).toEqual([200, 200, 200, 429, 429]);
    expect(Number(statuses[3].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await logs('limited', 1))[0]).toMatchObject({ outcome: 'rejected', status: 429, reason: 'rate limit of 3 per 60 s reached' });
  });

  it('serves a flow only at its secret URL, compared in constant time and never logged', async () => {
    expect((await engine.request(`/hooks/inbox/${URL_TOKEN}`, { json: { a: 1 } })).status).toBe(200);
    expect((await engine.request('/hooks/inbox/wrong-token', { json: {} })).status).toBe(404);
    expect((await engine.request('/hooks/inbox', { json: {} })).status).toBe(404);
    const entries = await logs('secret-url');
    // the 404s are logged against the flow as rejected (issue #31), newest first; only the first one ran
    expect(entries.map((e) => [e.path, e.outcome, e.status])).toEqual([
      ['/inbox', 'rejected', 404],
      ['/inbox/[token]', 'rejected', 404],
      ['/inbox/[token]', 'accepted', 200],
    ]);
    expect(entries.filter((e) => e.executionId)).toHaveLength(1);
    expect(JSON.stringify(entries)).not.toContain(URL_TOKEN);
    expect(JSON.stringify(entries)).not.toContain('wrong-token');
  });

  it('replays a logged request through the current flow as a new execution with the same input', async () => {
    const original = await engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: githubHeaders('d-replay') });
    const [entry] = await logs('github', 1);
    const res = await fetch(`${engine.url}/api/logs/${entry.id}/replay`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    const replay = (await res.json()) as { replayOf: string; log: string; execution: string; answer: { status: number } };
    expect(replay).toMatchObject({ replayOf: entry.id, answer: { status: 202 } });
    expect(replay.execution).not.toBe((original.body as { execution: string }).execution);
    const replayed = (await engine.admin(`/api/logs/${replay.log}`)).body;
    expect(replayed).toMatchObject({ replayOf: entry.id, outcome: 'accepted', body: entry.body });
    const [a, b] = await Promise.all([entry.executionId, replay.execution].map(async (id) => (await engine.admin(`/api/executions/${id}`)).body));
    expect(b.input.vars).toEqual(a.input.vars);
    expect(b.input.request.body).toEqual(a.input.request.body);
  });

  it('hooks replay asks the running engine; --dry-run shows what would happen and does nothing', async () => {
    await engine.request('/hooks/github', { method: 'POST', body: githubBody, headers: githubHeaders('d-cli') });
    const [entry] = await logs('github', 1);
    const config = ['--config', `${engine.dir}/hooks.config.yaml`];
    const env = { GITHUB_SECRET, SW_SECRET, URL_TOKEN };
    const dry = await runHooks(['replay', String(entry.id), '--dry-run', ...config], { env });
    expect(dry.code).toBe(0);
    expect(dry.out.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^dry run of ${entry.id} on flow github \\(revision [0-9a-f]{12}\\): nothing is sent or stored$`)),
      'answer: 202 {"delivery":"d-cli","execution":"ex_test1"}',
      'steps: note',
    ]);
    expect((await logs('github', 1))[0].id).toBe(entry.id); // the dry run stored nothing

    const real = await runHooks(['replay', String(entry.id), '--url', engine.url, ...config], { env });
    expect(real.code).toBe(0);
    expect(real.out).toMatch(new RegExp(`^replayed ${entry.id} as log_\\w+ \\(execution ex_\\w+\\): answered 202$`));
    expect((await logs('github', 1))[0]).toMatchObject({ replayOf: entry.id });
    expect(await runHooks(['replay', 'log_nope', '--url', engine.url, ...config], { env })).toMatchObject({ code: 1, err: 'hooks replay: no such log entry' });
  });

  it('fails a runaway expression in bounded time while other requests are served', async () => {
    const started = Date.now();
    const [deep, huge, other] = await Promise.all([
      engine.request('/hooks/runaway', { json: { kind: 'deep' } }),
      engine.request('/hooks/runaway', { json: { kind: 'huge' } }),
      engine.request('/hooks/limited', { method: 'PUT', json: {} }),
    ]);
    expect(deep.status).toBe(500);
    expect(huge.status).toBe(500);
    expect(other.status).toBe(405); // answered while the runaways ran
    const reasons = (await logs('runaway', 2)).map((e) => e.reason);
    expect(reasons.some((r) => /recursed deeper than the limit/.test(String(r)))).toBe(true);
    expect(reasons.some((r) => /must not exceed 1e7/.test(String(r)))).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000); // a liveness bound, not a speed figure: these fail in milliseconds
  });

  it('refuses oversized request headers (431) before any flow runs', async () => {
    const res = await fetch(`${engine.url}/hooks/limited`, { method: 'POST', headers: { 'x-big': 'x'.repeat(20_000) } }).catch((err) => err);
    expect(res.status).toBe(431);
  });
});
