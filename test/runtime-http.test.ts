import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { startTestEngine, type TestEngine } from './support/engine.ts';

const FLOWS: Record<string, string> = {
  'params.yaml': `version: 1
id: params
trigger:
  path: /params
  params:
    payer: body.payment[0].name
    second: body.products[1].category
    titles: body.products.title
    requestId: headers."x-request-id"
response:
  status: 202
  headers: { x-execution: "{{ $execution.id }}" }
  body: { name: "{{ vars.name }}", source: "{{ vars.source }}", payer: "{{ vars.payer }}", second: "{{ vars.second }}", titles: "{{ vars.titles }}", requestId: "{{ vars.requestId }}" }
steps:
  - id: note
    set: { seen: "{{ vars.name & ' paid by ' & vars.payer }}" }
`,
  'payments.yaml': `version: 1
id: payments
trigger: { path: /payments }
mode: sync
steps:
  - id: decide
    branch:
      - when: $number(body.amount) <= 500
        steps:
          - id: approve
            respond: { status: 200, body: { approved: true, amount: "{{ $number(body.amount) }}" } }
      - else:
          - id: decline
            respond: { status: 402, headers: { x-reason: over-limit }, body: { approved: false } }
  - id: after
    set: { answered: true }
`,
  'results.yaml': `version: 1
id: results
trigger: { path: /results }
mode: sync
steps:
  - id: greet
    set: { greeting: "{{ 'hello ' & body.name }}" }
`,
  'broken-run.yaml': `version: 1
id: broken-run
trigger: { path: /broken-run }
mode: sync
steps:
  - id: convert
    set: { n: "{{ $number(body.value) }}" }
`,
  'slow.yaml': `version: 1
id: slow
trigger: { path: /slow }
mode: sync
timeout: 300ms
steps:
  - id: wait
    http: { url: "{{ body.url }}", timeout: 5s, responseType: text }
`,
  'disabled.yaml': `version: 1
id: disabled
enabled: false
trigger: { path: /disabled }
`,
  'guarded.yaml': `version: 1
id: guarded
trigger:
  path: /guarded
  methods: [POST, PUT]
  accept: [json]
  bodyLimit: 200
  auth:
    basic: { username: partner, password: "\${env:GUARD_PASS}" }
`,
  'form.yaml': `version: 1
id: form
trigger: { path: /form, accept: [form] }
mode: sync
steps:
  - id: echo
    respond: { body: { from: "{{ vars.From }}", text: "{{ body.Body }}" } }
`,
};

const AUTH = `Basic ${Buffer.from('partner:s3cret-pass').toString('base64')}`;

describe('inbound webhooks over real HTTP', () => {
  let engine: TestEngine;
  let slowServer: Server;
  let slowUrl: string;

  beforeAll(async () => {
    slowServer = createServer((_req, res) => setTimeout(() => res.end('late'), 2_000));
    slowServer.listen(0, '127.0.0.1');
    await once(slowServer, 'listening');
    slowUrl = `http://127.0.0.1:${(slowServer.address() as { port: number }).port}/`;
    engine = await startTestEngine(FLOWS, 'http: { allowPrivateNetworks: true }\nserver: { bodyLimit: 4096 }\n', { GUARD_PASS: 's3cret-pass' });
  });
  afterAll(async () => {
    await engine.stop();
    slowServer.close();
  });

  async function lastLog(flow: string) {
    const { body } = await engine.admin(`/api/logs?flow=${flow}&limit=1`);
    return body.entries[0];
  }

  it('answers an async flow with its templated response: body wins over query, nested, indexed and flattened params', async () => {
    const res = await engine.request('/hooks/params?name=from-query&source=newsletter', {
      headers: { 'x-request-id': 'req-1' },
      json: { name: 'from-body', payment: [{ name: 'Ann' }, { name: 'Bob' }], products: [{ title: 'Room', category: 'rooms' }, { title: 'Tea', category: 'food' }] },
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ name: 'from-body', source: 'newsletter', payer: 'Ann', second: 'food', titles: ['Room', 'Tea'], requestId: 'req-1' });
    const executionId = res.headers.get('x-execution')!;
    expect(executionId).toMatch(/^ex_/);

    const log = await lastLog('params');
    expect(log).toMatchObject({ outcome: 'accepted', status: 202, method: 'POST', path: '/params', executionId, query: { name: 'from-query', source: 'newsletter' } });
    expect(log.body).toMatchObject({ name: 'from-body' });

    let execution;
    for (let i = 0; i < 100; i++) {
      execution = (await engine.admin(`/api/executions/${executionId}`)).body;
      if (execution.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(execution).toMatchObject({ status: 'completed', mode: 'async', flowId: 'params' });
    expect(execution.journal).toEqual([expect.objectContaining({ stepId: 'note', kind: 'set', vars: { seen: 'from-body paid by Ann' } })]);
  });

  it('answers a sync flow from the branch taken, and later steps still run', async () => {
    const small = await engine.request('/hooks/payments', { json: { amount: '120' } });
    expect(small).toMatchObject({ status: 200, body: { approved: true, amount: 120 } });
    const large = await engine.request('/hooks/payments', { json: { amount: 900 } });
    expect(large).toMatchObject({ status: 402, body: { approved: false } });
    expect(large.headers.get('x-reason')).toBe('over-limit');
    const log = await lastLog('payments');
    expect(log).toMatchObject({ outcome: 'completed', status: 402 });
    const execution = (await engine.admin(`/api/executions/${log.executionId}`)).body;
    expect(execution.journal.map((e: { stepId: string }) => e.stepId)).toEqual(['decide', 'decline', 'after']);
  });

  it('answers a sync flow without respond with the execution id and the step results', async () => {
    const res = await engine.request('/hooks/results', { json: { name: 'Ann' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ execution: expect.stringMatching(/^ex_/), status: 'completed', steps: { greet: { greeting: 'hello Ann' } } });
  });

  it('answers 500 and logs the reason when a step fails', async () => {
    const res = await engine.request('/hooks/broken-run', { json: { value: 'abc' } });
    expect(res.status).toBe(500);
    expect(await lastLog('broken-run')).toMatchObject({ outcome: 'failed', status: 500, reason: expect.stringContaining('step "convert"') });
  });

  it('answers 504 when a sync flow runs past its timeout, and logs it', async () => {
    const res = await engine.request('/hooks/slow', { json: { url: slowUrl } });
    expect(res.status).toBe(504);
    expect(await lastLog('slow')).toMatchObject({ outcome: 'failed', status: 504, reason: 'timed out after 300 ms' });
  });

  it('answers 404 for an unknown path, without a log entry', async () => {
    const res = await engine.request('/hooks/nope', { json: {} });
    expect(res).toMatchObject({ status: 404, body: { error: 'no flow at /hooks/nope' } });
  });

  it('answers 503 "webhook not active" for a disabled flow, and logs it', async () => {
    const res = await engine.request('/hooks/disabled', { json: {} });
    expect(res).toMatchObject({ status: 503, body: { error: 'webhook not active' } });
    expect(await lastLog('disabled')).toMatchObject({ outcome: 'rejected', status: 503 });
  });

  it('answers 405 with Allow for another method', async () => {
    const res = await engine.request('/hooks/guarded', { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, PUT');
    expect(await lastLog('guarded')).toMatchObject({ outcome: 'rejected', status: 405, reason: 'method GET not allowed' });
  });

  it('answers 401 with WWW-Authenticate for missing or wrong basic auth, never saying which part was wrong', async () => {
    const none = await engine.request('/hooks/guarded', { json: {} });
    const wrongUser = await engine.request('/hooks/guarded', { json: {}, headers: { authorization: `Basic ${Buffer.from('other:s3cret-pass').toString('base64')}` } });
    const wrongPass = await engine.request('/hooks/guarded', { json: {}, headers: { authorization: `Basic ${Buffer.from('partner:nope').toString('base64')}` } });
    for (const res of [none, wrongUser, wrongPass]) {
      expect(res).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="guarded", charset="UTF-8"');
    }
    const log = await lastLog('guarded');
    expect(log).toMatchObject({ outcome: 'rejected', status: 401, headers: { authorization: '[redacted]' } });
  });

  it('accepts the right basic auth and keeps the credentials out of the log', async () => {
    const res = await engine.request('/hooks/guarded', { json: { a: 1 }, headers: { authorization: AUTH } });
    expect(res).toMatchObject({ status: 200, text: 'ok' });
    const log = await lastLog('guarded');
    expect(log).toMatchObject({ outcome: 'accepted', status: 200, headers: { authorization: '[redacted]' } });
    expect(JSON.stringify(log)).not.toContain('s3cret-pass');
    // the execution keeps the request as sent, for a resumed run; the admin API shows it without the credentials
    const execution = (await engine.admin(`/api/executions/${log.executionId}`)).body;
    expect(execution.input.request).toMatchObject({ body: { a: 1 }, headers: { authorization: '[redacted]' } });
    expect(JSON.stringify(execution)).not.toContain(AUTH.slice('Basic '.length));
  });

  it('answers 415 for a content type the flow does not accept', async () => {
    const res = await engine.request('/hooks/guarded', { form: { a: '1' }, headers: { authorization: AUTH } });
    expect(res).toMatchObject({ status: 415, body: { error: 'content type "application/x-www-form-urlencoded" is not accepted; send application/json' } });
  });

  it('answers 400 with a clear message for malformed JSON', async () => {
    const res = await engine.request('/hooks/guarded', { body: '{"a": 1,', headers: { authorization: AUTH, 'content-type': 'application/json' }, method: 'POST' });
    expect(res.status).toBe(400);
    expect((res.body as { error: string }).error).toMatch(/^malformed JSON body: /);
    expect(await lastLog('guarded')).toMatchObject({ outcome: 'rejected', status: 400 });
  });

  it('answers 413 for a body over the flow limit and over the server limit', async () => {
    const flowLimit = await engine.request('/hooks/guarded', { json: { text: 'x'.repeat(300) }, headers: { authorization: AUTH } });
    expect(flowLimit).toMatchObject({ status: 413, body: { error: expect.stringContaining('over the limit of 200') } });
    expect(await lastLog('guarded')).toMatchObject({ outcome: 'rejected', status: 413, bodyTruncated: false });
    const serverLimit = await engine.request('/hooks/guarded', { json: { text: 'x'.repeat(5000) }, headers: { authorization: AUTH } });
    expect(serverLimit).toMatchObject({ status: 413, body: { error: 'body over the limit of 4096 bytes' } });
  });

  it('reads form-encoded bodies as variables', async () => {
    const res = await engine.request('/hooks/form', { form: { From: '+15551234567', Body: 'hello' } });
    expect(res).toMatchObject({ status: 200, body: { from: '+15551234567', text: 'hello' } });
  });

  it('pages through the webhook log and filters it', async () => {
    const first = await engine.admin('/api/logs?flow=guarded&limit=2');
    expect(first.body.entries).toHaveLength(2);
    const second = await engine.admin(`/api/logs?flow=guarded&limit=2&before=${first.body.next}`);
    expect(second.body.entries[0].id < first.body.entries[1].id).toBe(true);
    const unauthorized = await engine.admin('/api/logs?status=401&flow=guarded');
    expect(unauthorized.body.entries.every((e: { status: number }) => e.status === 401)).toBe(true);
    expect(unauthorized.body.entries.length).toBe(3);
  });

  it('keeps the admin API behind its token', async () => {
    const res = await fetch(`${engine.url}/api/logs`, { headers: { authorization: 'Bearer wrong' } });
    expect(res.status).toBe(401);
  });

  it('serves health, readiness and Prometheus metrics', async () => {
    expect((await engine.request('/healthz')).body).toEqual({ status: 'ok' });
    expect((await engine.request('/readyz')).body).toEqual({ status: 'ready', flows: 8 });
    const metrics = (await engine.request('/metrics')).text;
    expect(metrics).toMatch(/hooks_requests_total\{flow="payments",status="402"\} 1/);
    expect(metrics).toMatch(/hooks_execution_duration_seconds_count\{flow="params",mode="async",outcome="completed"\} 1/);
    expect(metrics).toMatch(/hooks_queue_depth \d+/);
  });
});

describe('hooks logs', () => {
  it('prints the webhook log of the configured storage, filtered by flow', async () => {
    const { runHooks } = await import('./support/cli.ts');
    const engine = await startTestEngine({ 'hello.yaml': 'version: 1\nid: hello\ntrigger: { path: /hello }\nmode: sync\nsteps:\n  - id: r\n    respond: { status: 201, body: hi }\n' });
    try {
      await engine.request('/hooks/hello', { json: {} });
      await engine.request('/hooks/hello', { method: 'GET' });
      const result = await runHooks(['logs', '--config', `${engine.dir}/hooks.config.yaml`, '--flow', 'hello']);
      expect(result.code).toBe(0);
      const lines = result.out.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\S+Z {2}201 {2}completed {2}hello {2}POST \/hello {2}\d+ ms {2}log_\w+ ex_\w+$/);
      expect(lines[1]).toMatch(/^\S+Z {2}405 {2}rejected {3}hello {2}GET \/hello {2}\d+ ms {2}log_\w+ {2}method GET not allowed$/);
    } finally {
      await engine.stop();
    }
  });
});
