// The admin API's OpenAPI document, over real HTTP against a real engine: behind the admin token like every admin
// route, it lists every route the router holds under /api with its path and query parameters, every answer of the
// API matches the response schema the document gives for it, and a bad query parameter is a 400 that says why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from './support/engine.ts';
import { startSubscriber } from './support/subscriber.ts';
import { EVENT_TYPES } from '../engine/events/types.ts';

const SECRET = `whsec_${Buffer.from('the admin api test secret, 32 b.').toString('base64')}`;
const PHONE = '+14155550142';

const FLOWS = {
  'greet.yaml': `version: 1
id: greet
trigger: { path: /greet }
identify: { phone: body.phone, defaultCountry: US }
map:
  first_name: body.name
mode: sync
steps:
  - id: text
    send: { channel: sms, to: "{{ body.phone }}", text: "{{ 'hi ' & body.name }}" }
`,
};

const config = (crm: string, flaky: string) => `http: { allowPrivateNetworks: true }
fields: { first_name: text }
subscriptions:
  - id: crm
    url: ${crm}
    events: [execution]
    secret: "${SECRET}"
  - id: flaky
    url: ${flaky}
    events: [execution]
    secret: "${SECRET}"
    retrySchedule: [0s]
`;

/** Every admin route (but HEAD) and its query parameters: the API's contract. */
const ROUTES: Record<string, string[]> = {
  'GET /api/openapi.json': [],
  'GET /api/logs': ['flow', 'status', 'outcome', 'since', 'before', 'limit'],
  'GET /api/logs/{id}': [],
  'POST /api/logs/{id}/replay': ['force'],
  'GET /api/executions/{id}': [],
  'GET /api/flows': [],
  'GET /api/contacts': ['phone', 'email', 'limit'],
  'GET /api/contacts/{id}': [],
  'GET /api/messages': ['contact', 'channel', 'status', 'direction', 'before', 'limit'],
  'GET /api/messages/{id}': [],
  'GET /api/subscriptions': [],
  'GET /api/subscriptions/{id}': [],
  'GET /api/subscriptions/{id}/health': [],
  'GET /api/subscriptions/{id}/errors': ['limit'],
  'GET /api/subscriptions/{id}/deliveries': ['status', 'before', 'limit'],
  'POST /api/subscriptions/{id}/test': ['type'],
  'POST /api/subscriptions/{id}/replay': ['since'],
};

/** The routes the Fastify router holds under /api, as "METHOD /path/{param}", read from its printed tree. */
function routerRoutes(app: FastifyInstance): string[] {
  const found: string[] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const node = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \((.+)\))?$/.exec(line);
    if (!node) continue;
    const depth = node[1].length / 4;
    parents.length = depth;
    const path = `${parents.join('')}${node[2]}`;
    parents.push(node[2]);
    if (!path.startsWith('/api/')) continue;
    for (const method of node[3]?.split(', ') ?? []) if (method !== 'HEAD') found.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return found.sort();
}

interface Operation {
  parameters?: { in: string; name: string; required: boolean; schema: object }[];
  responses: Record<string, { content: { 'application/json': { schema: object } } }>;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the admin API described by its OpenAPI document', () => {
  let engine: TestEngine;
  let crm: Awaited<ReturnType<typeof startSubscriber>>;
  let flaky: Awaited<ReturnType<typeof startSubscriber>>;
  let doc: { openapi: string; paths: Record<string, Record<string, Operation>> };
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });

  const operation = (route: string): Operation => {
    const [method, path] = route.split(' ');
    return doc.paths[path]?.[method.toLowerCase()];
  };

  /** Calls a route (path parameters filled in) and checks the answer against the document's schema for its status. */
  async function call(route: string, params: Record<string, string> = {}, search = ''): Promise<{ status: number; body: any }> {
    const [method, template] = route.split(' ');
    const url = `${template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]))}${search}`;
    const res = await fetch(`${engine.url}${url}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await res.json();
    const { responses } = operation(route);
    const documented = responses[res.status] ?? responses[`${String(res.status)[0]}XX`];
    expect(documented, `${method} ${url} answered ${res.status}, which the document does not give`).toBeDefined();
    const valid = ajv.validate(documented.content['application/json'].schema, body);
    expect(valid, `${method} ${url} (${res.status}): ${ajv.errorsText()} in ${JSON.stringify(body).slice(0, 400)}`).toBe(true);
    return { status: res.status, body };
  }

  beforeAll(async () => {
    crm = await startSubscriber(SECRET);
    flaky = await startSubscriber(SECRET, () => 500);
    engine = await startTestEngine(FLOWS, config(crm.url, flaky.url));
    doc = (await engine.admin('/api/openapi.json')).body;
  });
  afterAll(async () => {
    await engine?.stop();
    await crm?.close();
    await flaky?.close();
  });

  it('is refused without the admin token, like every admin route', async () => {
    for (const authorization of [undefined, 'Bearer wrong']) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const [document, logs] = await Promise.all(['/api/openapi.json', '/api/logs'].map((path) => fetch(`${engine.url}${path}`, { headers })));
      expect(document.status).toBe(401);
      expect(document.headers.get('www-authenticate')).toBe('Bearer realm="hooks admin"');
      expect(document.headers.get('www-authenticate')).toBe(logs.headers.get('www-authenticate'));
      expect(await document.json()).toEqual(await logs.json());
    }
  });

  it('lists every admin route with its method, path parameters and query parameters', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(routerRoutes(engine.app)).toEqual(Object.keys(ROUTES).sort());
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(Object.keys(ROUTES).sort());
    for (const [route, queryNames] of Object.entries(ROUTES)) {
      const parameters = operation(route).parameters ?? [];
      const pathNames = [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(parameters.filter((p) => p.in === 'path').map((p) => [p.name, p.required]), route).toEqual(pathNames.map((name) => [name, true]));
      expect(parameters.filter((p) => p.in === 'query').map((p) => p.name), route).toEqual(queryNames);
      expect(operation(route).responses['200'], route).toBeDefined();
    }
  });

  it('answers a bad query parameter with a 400 that says what it must be', async () => {
    const refusals: [string, string, string][] = [
      ['GET /api/logs', '?limit=abc', 'limit must be an integer from 1 to 500'],
      ['GET /api/logs', '?limit=501', 'limit must be an integer from 1 to 500'],
      ['GET /api/logs', '?status=ok', 'status must be an HTTP status code'],
      ['GET /api/logs', '?since=yesterday', 'since must be an ISO date or time'],
      ['GET /api/logs', '?outcome=lost', 'outcome must be one of accepted, completed, rejected, failed, duplicate'],
      ['GET /api/messages', '?direction=sideways', 'direction must be outbound or inbound'],
      ['GET /api/contacts', '?limit=-1', 'limit must be an integer from 1 to 500'],
      ['GET /api/subscriptions/{id}/errors', '?limit=51', 'limit must be an integer from 1 to 50'],
      ['GET /api/subscriptions/{id}/deliveries', '?before=x', 'before must be a delivery id'],
      ['GET /api/subscriptions/{id}/deliveries', '?status=lost', 'status must be one of pending, delivered, failed'],
      ['POST /api/subscriptions/{id}/test', '?type=nothing', `type must be one of ${EVENT_TYPES.join(', ')}`],
      ['POST /api/subscriptions/{id}/replay', '?since=2026-13-01', 'since must be an ISO date or time'],
      ['POST /api/logs/{id}/replay', '?force=yes', 'force must be "rejected" (to run a request that did not pass its checks, auth or signature, when it came)'],
    ];
    for (const [route, search, error] of refusals) {
      expect(await call(route, { id: 'crm' }, search), `${route}${search}`).toEqual({ status: 400, body: { error } });
    }
    expect(await call('GET /api/contacts', {}, '?phone=12')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^phone: .*international format$/) } });
  });

  it('answers every route as its response schema says', async () => {
    const greeted = await engine.request('/hooks/greet', { json: { phone: PHONE, name: 'Ada' } });
    expect(greeted.status).toBe(200);
    await until(async () => (await engine.store.eventDeliveryCounts('flaky')).failed === 1 && crm.received.length === 1, 'the deliveries');

    expect((await call('GET /api/openapi.json')).body).toEqual(doc);
    const [entry] = (await call('GET /api/logs', {}, '?flow=greet&limit=1')).body.entries;
    expect(entry).toMatchObject({ flowId: 'greet', outcome: 'completed' });
    expect((await call('GET /api/logs/{id}', { id: entry.id })).body).toEqual(entry);
    expect((await call('GET /api/executions/{id}', { id: entry.executionId })).body.journal).toHaveLength(1);
    expect((await call('GET /api/flows')).body).toMatchObject([{ id: 'greet', status: 'ok', mode: 'sync' }]);
    const [contact] = (await call('GET /api/contacts', {}, `?phone=${encodeURIComponent(PHONE)}`)).body.contacts;
    expect((await call('GET /api/contacts/{id}', { id: contact.id })).body).toMatchObject({ fields: { first_name: 'Ada' }, changes: [{ field: 'first_name' }] });
    const [sent] = (await call('GET /api/messages', {}, `?contact=${contact.id}`)).body.messages;
    expect((await call('GET /api/messages/{id}', { id: sent.id })).body).toMatchObject({ status: 'stored', statusChanges: expect.arrayContaining([expect.objectContaining({ status: 'stored' })]) });

    expect((await call('GET /api/subscriptions')).body.subscriptions.map((s: { id: string }) => s.id)).toEqual(['crm', 'flaky']);
    expect((await call('GET /api/subscriptions/{id}', { id: 'crm' })).body).toMatchObject({ id: 'crm', signed: true });
    expect((await call('GET /api/subscriptions/{id}/health', { id: 'crm' })).body.histogram).toHaveLength(30);
    expect((await call('GET /api/subscriptions/{id}/errors', { id: 'flaky' })).body.errors).toMatchObject([{ status: 500 }]);
    expect((await call('GET /api/subscriptions/{id}/deliveries', { id: 'flaky' }, '?status=failed')).body.deliveries).toHaveLength(1);
    expect((await call('POST /api/subscriptions/{id}/test', { id: 'crm' }, '?type=execution')).body).toMatchObject({ ok: true, status: 200 });
    expect((await call('POST /api/subscriptions/{id}/replay', { id: 'flaky' }, '?since=2000-01-01')).body).toMatchObject({ replayed: 1 });

    expect((await call('POST /api/logs/{id}/replay', { id: entry.id })).body).toMatchObject({ replayOf: entry.id, answer: { status: 200 } });

    for (const route of ['GET /api/logs/{id}', 'POST /api/logs/{id}/replay', 'GET /api/executions/{id}', 'GET /api/contacts/{id}', 'GET /api/messages/{id}', 'GET /api/subscriptions/{id}']) {
      expect((await call(route, { id: 'nope' })).status, route).toBe(404);
    }
  });
});
