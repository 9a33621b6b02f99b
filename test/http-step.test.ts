import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { liveServices } from '../engine/execution/services.ts';

// The `http` step through real flows served by a real engine, calling a real HTTP server started here.
// Network rule: every server listens on 127.0.0.1 and every request goes there; the refusal tests name 127.0.0.2,
// which the guard refuses before any connection is opened.

const API_TOKEN = 'sk_live_TOPSECRET_4711';
const PATH_TOKEN = 'pathsecret9876';

const PRODUCTS = [
  { title: 'Room', category: 'rooms', price: 100 },
  { title: 'Tea', category: 'food', price: 5 },
  { title: 'Towel', category: 'linen', price: 12 },
];

interface Hit {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

const FLOWS: Record<string, string> = {
  // templating in every field; save paths (indexed, flattened, any expression, status and headers)
  'templated.yaml': `version: 1
id: templated
trigger: { path: /templated }
mode: sync
steps:
  - id: call
    http:
      method: "{{ body.method }}"
      url: "{{ body.base }}/echo/{{ body.id }}"
      query: { q: "{{ body.q }}", n: "{{ body.n }}", tags: "{{ body.tags }}", fixed: plain }
      headers: { X-Customer: "customer {{ body.id }}", X-Count: "{{ body.n }}", X-Absent: "{{ body.nothing }}" }
      body: { name: "{{ body.name }}", n: "{{ body.n }}", nested: { tags: "{{ body.tags }}", greeting: "hi {{ body.name }}" } }
      save:
        second_category: body.products[1].category
        titles: body.products.title
        total: $sum(body.products.price)
        echoed_method: body.method
        reply_header: headers."x-reply"
        answer_status: status
`,
  'form.yaml': `version: 1
id: form
trigger: { path: /form }
mode: sync
steps:
  - id: call
    http:
      method: POST
      url: "{{ body.base }}/echo/form"
      bodyType: form
      headers: { idempotency-key: "form-{{ body.name }}" }
      body: { name: "{{ body.name }}", tags: "{{ body.tags }}" }
`,
  // the generic call: method and url from the request, then a step that shows the flow went on
  'call.yaml': `version: 1
id: call
trigger: { path: /call }
mode: sync
steps:
  - id: call
    http: { method: "{{ body.method }}", url: "{{ body.url }}" }
  - id: after
    set: { went_on: true, failure: "{{ vars.last_webhook_failure }}" }
`,
  'text.yaml': `version: 1
id: text
trigger: { path: /text }
mode: sync
steps:
  - id: call
    http: { url: "{{ body.url }}", responseType: text }
`,
  'quick.yaml': `version: 1
id: quick
trigger: { path: /quick }
mode: sync
steps:
  - id: call
    http: { url: "{{ body.url }}", timeout: 300ms }
`,
  'saves.yaml': `version: 1
id: saves
trigger: { path: /saves }
mode: sync
steps:
  - id: call
    http:
      url: "{{ body.url }}"
      onError: crm_failure
      save: { found: "body.products[0].title", missing: body.nothing.here, also_missing: "body.products[5].title" }
`,
  'broken-template.yaml': `version: 1
id: broken-template
trigger: { path: /broken-template }
mode: sync
steps:
  - id: call
    http: { url: "{{ body.base }}/echo/x", query: { n: "{{ $number(body.n) }}" } }
  - id: after
    set: { went_on: true }
`,
  'sequence.yaml': `version: 1
id: sequence
trigger: { path: /sequence }
mode: sync
steps:
  - id: customer
    http:
      url: "{{ body.base }}/customers/{{ body.id }}"
      save: { tier: body.tier, customerName: body.name }
  - id: order
    http:
      method: POST
      url: "{{ body.base }}/orders"
      body: { customer: "{{ steps.customer.body.id }}", tier: "{{ vars.tier }}", items: "{{ body.items }}" }
      save: { orderId: body.orderId }
  - id: answer
    branch:
      - when: steps.customer.ok and steps.order.ok
        steps:
          - id: confirmed
            respond: { status: 200, body: { greeting: "Hello {{ vars.customerName }}", order: "{{ vars.orderId }}" } }
      - else:
          - id: fallback
            respond: { status: 502, body: { error: "{{ vars.last_webhook_failure.kind }}", customerOk: "{{ steps.customer.ok }}", orderOk: "{{ steps.order.ok }}" } }
`,
  'secret.yaml': `version: 1
id: secret
trigger: { path: /secret }
response: { body: { execution: "{{ $execution.id }}" } }
steps:
  - id: call
    http:
      url: "{{ body.base }}/echo/\${env:PATH_TOKEN}"
      query: { key: "\${env:API_TOKEN}", page: 2 }
      headers: { Authorization: "Bearer \${env:API_TOKEN}" }
  - id: fail
    http:
      url: "{{ body.base }}/status/404/\${env:PATH_TOKEN}?token=\${env:API_TOKEN}"
`,
  'secret-sync.yaml': `version: 1
id: secret-sync
trigger: { path: /secret-sync }
mode: sync
steps:
  - id: call
    http:
      url: "{{ body.base }}/echo/\${env:PATH_TOKEN}"
      headers: { Authorization: "Bearer \${env:API_TOKEN}" }
`,
};

describe('the http step over real HTTP', () => {
  let engine: TestEngine;
  let server: http.Server;
  let base: string;
  let port: number;
  let hits: Hit[] = [];
  let events: string[] = [];
  const timers = new Set<NodeJS.Timeout>();

  function handle(req: http.IncomingMessage, res: http.ServerResponse, hit: Hit): void {
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(value));
    };
    const redirect = (location: string) => {
      res.writeHead(302, { location });
      res.end();
    };
    const parts = hit.path.split('/').filter(Boolean);
    switch (parts[0]) {
      case 'echo':
        return json(200, { ...hit, products: PRODUCTS }, { 'x-reply': 'yes' });
      case 'products':
        return json(200, { products: PRODUCTS });
      case 'status':
        return json(Number(parts[1]), { error: `status ${parts[1]}` });
      case 'text':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('plain words, not JSON');
      case 'html-error':
        res.writeHead(500, { 'content-type': 'text/html' });
        return void res.end('<h1>Internal Server Error</h1>');
      case 'hang':
        return; // never answers
      case 'slow-body': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"a":"');
        const timer = setInterval(() => res.write('x'), 50);
        timers.add(timer);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'huge': {
        // 2 MB, chunked, no content-length: the cap has to count while reading
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 2 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('error', () => undefined);
        return pump();
      }
      case 'huge-declared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(3 * 1024 * 1024) });
        res.on('error', () => undefined);
        return void res.write('{"a":');
      case 'redirect': {
        const left = Number(parts[1]);
        return redirect(left > 0 ? `/redirect/${left - 1}` : '/products');
      }
      case 'to-private':
        return redirect(`http://127.0.0.2:${port}/products`);
      case 'customers': {
        events.push(`customer:start ${parts[1]}`);
        const timer = setTimeout(() => {
          events.push(`customer:end ${parts[1]}`);
          if (parts[1] === 'c-7') json(200, { id: 'c-7', name: 'Dana', tier: 'gold' });
          else json(404, { error: 'no such customer' });
        }, 150);
        timers.add(timer);
        return;
      }
      case 'orders': {
        events.push('order:start');
        const body = hit.body as { customer?: string; tier?: string; items?: unknown[] };
        if (!body.customer) return json(400, { error: 'customer is required' });
        return json(201, { orderId: `o-${body.customer}-${body.tier}-${body.items?.length}` });
      }
      default:
        return json(404, { error: 'unknown path' });
    }
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url!, 'http://x');
        const query: Record<string, string | string[]> = {};
        for (const key of new Set(url.searchParams.keys())) {
          const all = url.searchParams.getAll(key);
          query[key] = all.length === 1 ? all[0] : all;
        }
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        if (req.headers['content-type']?.startsWith('application/json')) body = JSON.parse(text);
        if (req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
          const form = new URLSearchParams(text);
          body = Object.fromEntries([...new Set(form.keys())].map((k) => [k, form.getAll(k).length === 1 ? form.get(k) : form.getAll(k)]));
        }
        const hit: Hit = { method: req.method!, path: url.pathname, query, headers: req.headers, body };
        hits.push(hit);
        handle(req, res, hit);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    engine = await startTestEngine(FLOWS, 'http: { allowList: ["127.0.0.1"], timeout: 2s }\n', { API_TOKEN, PATH_TOKEN });
  });

  afterAll(async () => {
    await engine?.stop();
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    hits = [];
    events = [];
  });

  async function journalOf(executionId: string) {
    const { body } = await engine.admin(`/api/executions/${executionId}`);
    return body;
  }

  async function call(flow: string, json: Record<string, unknown>) {
    const res = await engine.request(`/hooks/${flow}`, { json });
    return res as { status: number; headers: Headers; text: string; body: any };
  }

  it('sends a request templated in every field, saves paths (indexed, flattened, expressions) and journals the call', async () => {
    const res = await call('templated', { base, method: 'put', id: 'c-7', q: 'shoes & hats', n: 3, tags: ['a', 'b'], name: 'Ann' });
    expect(res.status).toBe(200);
    const { execution, steps } = res.body;

    expect(hits).toHaveLength(1);
    const [hit] = hits;
    expect(hit).toMatchObject({
      method: 'PUT',
      path: '/echo/c-7',
      query: { q: 'shoes & hats', n: '3', tags: ['a', 'b'], fixed: 'plain' },
      body: { name: 'Ann', n: 3, nested: { tags: ['a', 'b'], greeting: 'hi Ann' } },
    });
    expect(hit.headers).toMatchObject({
      'x-customer': 'customer c-7',
      'x-count': '3',
      'content-type': 'application/json',
      accept: 'application/json',
      'idempotency-key': `${execution}:call`,
    });
    expect(hit.headers).not.toHaveProperty('x-absent'); // a header whose template gave nothing is not sent

    expect(steps.call).toMatchObject({ ok: true, status: 200, error: null, headers: { 'x-reply': 'yes' }, body: { method: 'PUT' } });
    const record = await journalOf(execution);
    expect(record.status).toBe('completed');
    const [entry] = record.journal;
    expect(entry).toMatchObject({
      stepId: 'call',
      kind: 'http',
      vars: { second_category: 'food', titles: ['Room', 'Tea', 'Towel'], total: 117, echoed_method: 'PUT', reply_header: 'yes', answer_status: 200 },
      result: { ok: true, status: 200, error: null, request: { method: 'PUT', url: `${base}/echo/c-7?q=***&n=***&tags=***&tags=***&fixed=***` } },
    });
    expect(entry.result.request.durationMs).toEqual(expect.any(Number));
    expect(entry.result.request).not.toHaveProperty('finalUrl');
  });

  it('sends a form body, and keeps an Idempotency-Key the flow sets itself', async () => {
    const res = await call('form', { base, name: 'Ann', tags: ['x', 'y'] });
    expect(res.body.steps.call).toMatchObject({ ok: true, status: 200 });
    expect(hits[0]).toMatchObject({ method: 'POST', body: { name: 'Ann', tags: ['x', 'y'] } });
    expect(hits[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(hits[0].headers['idempotency-key']).toBe('form-Ann');
  });

  it('MissingParameter for a url or a method that renders to nothing; the flow goes on', async () => {
    const noUrl = await call('call', { method: 'GET' });
    expect(noUrl.status).toBe(200);
    expect(noUrl.body.steps.call).toMatchObject({ ok: false, status: null, error: { kind: 'MissingParameter', message: 'url is missing' }, request: { method: 'GET', url: null } });
    expect(noUrl.body.steps.after).toEqual({ went_on: true, failure: { kind: 'MissingParameter', message: 'url is missing' } });

    const noMethod = await call('call', { url: `${base}/products` });
    expect(noMethod.body.steps.call).toMatchObject({ ok: false, error: { kind: 'MissingParameter', message: 'method is missing' }, request: { method: null } });
    expect(noMethod.body.steps.after.went_on).toBe(true);
    expect(hits).toHaveLength(0);
    const record = await journalOf(noMethod.body.execution);
    expect(record.journal.map((e: { stepId: string }) => e.stepId)).toEqual(['call', 'after']);
    expect(record.journal[0].vars).toEqual({ last_webhook_failure: { kind: 'MissingParameter', message: 'method is missing' } });
  });

  it('BadRequest for an invalid URL or scheme, and for a field whose template fails at run time', async () => {
    const invalid = await call('call', { method: 'GET', url: 'not a url' });
    expect(invalid.body.steps.call.error).toEqual({ kind: 'BadRequest', message: 'url is not a valid absolute URL' });
    const ftp = await call('call', { method: 'GET', url: 'ftp://127.0.0.1/file' });
    expect(ftp.body.steps.call.error).toMatchObject({ kind: 'BadRequest', message: expect.stringContaining('ftp:') });

    const broken = await call('broken-template', { base, n: 'abc' });
    expect(broken.status).toBe(200);
    expect(broken.body.steps.call).toMatchObject({ ok: false, error: { kind: 'BadRequest', message: expect.stringMatching(/^query could not be rendered: /) } });
    expect(broken.body.steps.after).toEqual({ went_on: true });
    expect(hits).toHaveLength(0);
  });

  it('BadResponse for a status that is not 2xx, keeping the status and the answer', async () => {
    const res = await call('call', { method: 'GET', url: `${base}/status/404` });
    expect(res.body.steps.call).toMatchObject({
      ok: false,
      status: 404,
      body: { error: 'status 404' },
      error: { kind: 'BadResponse', message: `server answered 404 (GET ${base}/status/404)` },
    });
    const html = await call('call', { method: 'GET', url: `${base}/html-error` });
    expect(html.body.steps.call).toMatchObject({ ok: false, status: 500, body: '<h1>Internal Server Error</h1>', error: { kind: 'BadResponse' } });
    const record = await journalOf(res.body.execution);
    expect(record.journal[0].result).toMatchObject({ status: 404, error: { kind: 'BadResponse' }, request: { method: 'GET', url: `${base}/status/404` } });
  });

  it('BadResponse for an answer that is not JSON when JSON was expected; the text kept with responseType text', async () => {
    const asJson = await call('call', { method: 'GET', url: `${base}/text` });
    expect(asJson.body.steps.call).toMatchObject({ ok: false, status: 200, body: 'plain words, not JSON', error: { kind: 'BadResponse', message: expect.stringContaining('not valid JSON') } });
    const asText = await call('text', { url: `${base}/text` });
    expect(asText.body.steps.call).toMatchObject({ ok: true, status: 200, body: 'plain words, not JSON', error: null });
  });

  it('KeyError when a save path finds nothing: found paths are saved, the error names the others and goes to onError', async () => {
    const res = await call('saves', { url: `${base}/products` });
    const step = res.body.steps.call;
    expect(step).toMatchObject({ ok: false, status: 200, error: { kind: 'KeyError' } });
    expect(step.error.message).toContain('save.missing ("body.nothing.here") found nothing in the answer');
    expect(step.error.message).toContain('save.also_missing ("body.products[5].title") found nothing in the answer');
    const record = await journalOf(res.body.execution);
    expect(record.journal[0].vars).toEqual({ found: 'Room', crm_failure: step.error });
    expect(record.journal[0].vars).not.toHaveProperty('last_webhook_failure');
  });

  it('Timeout after the step timeout for an answer that never comes, and for a body that dribbles in', async () => {
    for (const path of ['hang', 'slow-body']) {
      const started = Date.now();
      const res = await call('quick', { url: `${base}/${path}` });
      const elapsed = Date.now() - started;
      expect(res.body.steps.call).toMatchObject({ ok: false, error: { kind: 'Timeout', message: `no complete answer from ${base}/${path} within 300 ms` } });
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(1_800);
      const record = await journalOf(res.body.execution);
      expect(record.journal[0].result.request.durationMs).toBeGreaterThanOrEqual(290);
    }
  });

  it('Timeout after the config http.timeout when the step sets none', async () => {
    const started = Date.now();
    const res = await call('call', { method: 'GET', url: `${base}/hang` });
    expect(res.body.steps.call.error).toEqual({ kind: 'Timeout', message: `no complete answer from ${base}/hang within 2000 ms` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_990);
    expect(res.body.steps.after.went_on).toBe(true);
  });

  it('BadResponse for a body over the 1 MB default cap, counted while reading or declared up front', async () => {
    for (const path of ['huge', 'huge-declared']) {
      const res = await call('call', { method: 'GET', url: `${base}/${path}` });
      expect(res.body.steps.call).toMatchObject({ ok: false, status: 200, body: null, error: { kind: 'BadResponse', message: 'response body over 1048576 bytes' } });
    }
  });

  it('follows up to 5 redirects, records where it ended, and refuses a sixth', async () => {
    const five = await call('call', { method: 'GET', url: `${base}/redirect/4` });
    expect(hits.map((h) => h.path)).toEqual(['/redirect/4', '/redirect/3', '/redirect/2', '/redirect/1', '/redirect/0', '/products']);
    expect(five.body.steps.call).toMatchObject({ ok: true, status: 200, body: { products: PRODUCTS }, request: { url: `${base}/redirect/4`, finalUrl: `${base}/products` } });

    hits = [];
    const six = await call('call', { method: 'GET', url: `${base}/redirect/5` });
    expect(hits).toHaveLength(6); // the first request and 5 redirects followed, not a 7th
    expect(six.body.steps.call).toMatchObject({ ok: false, error: { kind: 'BadResponse', message: `more than 5 redirects (last from ${base}/redirect/0)` } });
  });

  it('refuses a private address not on the allow list, directly or through a redirect, with the reason', async () => {
    const direct = await call('call', { method: 'GET', url: `http://127.0.0.2:${port}/products` });
    expect(direct.body.steps.call).toMatchObject({
      ok: false,
      status: null,
      error: { kind: 'BadRequest', message: 'refused to call 127.0.0.2: loopback address (set http.allowPrivateNetworks or add it to http.allowList)' },
    });
    expect(hits).toHaveLength(0);

    const redirected = await call('call', { method: 'GET', url: `${base}/to-private` });
    expect(hits.map((h) => h.path)).toEqual(['/to-private']);
    expect(redirected.body.steps.call).toMatchObject({
      ok: false,
      error: { kind: 'BadRequest', message: expect.stringMatching(/^refused to call 127\.0\.0\.2: loopback address/) },
      request: { url: `${base}/to-private`, finalUrl: `http://127.0.0.2:${port}/products` },
    });
    expect(redirected.body.steps.after.failure.kind).toBe('BadRequest');
  });

  it('runs steps in sequence: the second uses the first one\'s answer, and a branch on steps.x.ok answers', async () => {
    const res = await call('sequence', { base, id: 'c-7', items: [1, 2] });
    expect(res).toMatchObject({ status: 200, body: { greeting: 'Hello Dana', order: 'o-c-7-gold-2' } });
    expect(events).toEqual(['customer:start c-7', 'customer:end c-7', 'order:start']); // the second waited for the first
    expect(hits[1]).toMatchObject({ method: 'POST', path: '/orders', body: { customer: 'c-7', tier: 'gold', items: [1, 2] } });

    const log = (await engine.admin('/api/logs?flow=sequence&limit=1')).body.entries[0];
    const record = await journalOf(log.executionId);
    expect(record.journal.map((e: { stepId: string }) => e.stepId)).toEqual(['customer', 'order', 'answer', 'confirmed']);
    expect(record.journal[0].result.request).toMatchObject({ method: 'GET', url: `${base}/customers/c-7` });
    expect(record.journal[0].result.request.durationMs).toBeGreaterThanOrEqual(140);
    expect(record.journal[1].result.request).toMatchObject({ method: 'POST', url: `${base}/orders` });
    expect(record.journal[1].result.headers['content-type']).toBe('application/json');
  });

  it('goes on after the first step fails, and the branch takes the failure case', async () => {
    const res = await call('sequence', { base, id: 'nobody', items: [] });
    expect(res).toMatchObject({ status: 502, body: { error: 'BadResponse', customerOk: false, orderOk: false } });
    expect(hits.map((h) => h.path)).toEqual(['/customers/nobody', '/orders']); // the second step still ran
    expect(hits[1].body).toEqual({ items: [] }); // templates that found nothing left their fields out
  });

  it('keeps ${env:} secrets used in a header, the query and the path out of the journal and the webhook log', async () => {
    const res = await call('secret', { base });
    expect(res.status).toBe(200);
    const executionId = res.body.execution;

    let record;
    for (let i = 0; i < 200; i++) {
      record = await journalOf(executionId);
      if (record.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(record.status).toBe('completed');

    // the secrets did go out: the receiver got them
    expect(hits[0]).toMatchObject({ path: `/echo/${PATH_TOKEN}`, query: { key: API_TOKEN, page: '2' } });
    expect(hits[0].headers.authorization).toBe(`Bearer ${API_TOKEN}`);
    expect(hits[0].headers['idempotency-key']).toBe(`${executionId}:call`);
    expect(hits[1].headers['idempotency-key']).toBe(`${executionId}:fail`);

    const [call1, call2] = record.journal;
    expect(call1.result).toMatchObject({ ok: true, request: { method: 'GET', url: `${base}/echo/[redacted]?key=***&page=***` } });
    expect(call2.result).toMatchObject({
      ok: false,
      error: { kind: 'BadResponse', message: `server answered 404 (GET ${base}/status/404/[redacted])` },
      request: { url: `${base}/status/404/[redacted]?token=***` },
    });
    // the echoed answer carried them too: the journal has none of it
    const stored = JSON.stringify(record);
    expect(stored).not.toContain(API_TOKEN);
    expect(stored).not.toContain(PATH_TOKEN);

    const logs = (await engine.admin('/api/logs?flow=secret&limit=1')).body.entries;
    const entry = (await engine.admin(`/api/logs/${logs[0].id}`)).body;
    expect(entry.executionId).toBe(executionId);
    expect(JSON.stringify(entry)).not.toContain(API_TOKEN);
    expect(JSON.stringify(entry)).not.toContain(PATH_TOKEN);
  });

  it('keeps ${env:} secrets out of the step results a sync flow answers with', async () => {
    const res = await call('secret-sync', { base });
    expect(res.status).toBe(200);
    expect(res.body.steps.call).toMatchObject({ ok: true, status: 200 });
    // the receiver echoed the Authorization header and the path back; the caller sees neither secret
    expect(hits[0].headers.authorization).toBe(`Bearer ${API_TOKEN}`);
    expect(JSON.stringify(res.body)).not.toContain(API_TOKEN);
    expect(JSON.stringify(res.body)).not.toContain(PATH_TOKEN);
  });
});

describe('live step services', () => {
  let server: http.Server;
  let base: string;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const request = (url: string) => ({ method: 'GET', url, headers: {}, timeoutMs: 2_000, maxResponseBytes: 1_000, maxRedirects: 0, allowPrivateNetworks: false, allowList: ['127.0.0.1'] });

  it('gives the same Idempotency-Key to a step run again in the same execution (a resumed call)', async () => {
    const forExecution = liveServices(new Map(), () => 'id');
    await forExecution({ secrets: [] }, 'ex_1').http('lookup', request(`${base}/a`));
    await forExecution({ secrets: [] }, 'ex_1').http('lookup', request(`${base}/a`));
    await forExecution({ secrets: [] }, 'ex_2').http('lookup', request(`${base}/a`));
    expect(seen.map((h) => h['idempotency-key'])).toEqual(['ex_1:lookup', 'ex_1:lookup', 'ex_2:lookup']);
  });

  it('masks secrets in the call record also where the URL percent-encodes them', async () => {
    const services = liveServices(new Map(), () => 'id')({ secrets: ['a secret/with spaces'] }, 'ex_3');
    const result = await services.http('s', request(`${base}/users/${encodeURIComponent('a secret/with spaces')}/x`));
    const text = JSON.stringify(result);
    expect(text).not.toContain('secret');
    expect(result.url).toBe(`${base}/users/[redacted]/x`);
    expect(result.error).toEqual({ kind: 'BadResponse', message: `server answered 404 (GET ${base}/users/[redacted]/x)` });
  });
});
