import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real receiver: /lookup answers JSON, /missing answers 404, anything else echoes. */
async function startReceiver(): Promise<{ server: Server; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url!.startsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'no such customer' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': 'receiver' });
      res.end(JSON.stringify({ customer: { id: 'c-42', tier: 'gold' }, orders: [{ total: 10 }, { total: 25 }] }));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port, received };
}

const flowText = (port: number) => `version: 1
id: crm
trigger:
  path: /crm
  methods: [POST]
  params:
    email: body.customer.email
  sample: samples/crm.json
steps:
  - id: note
    set: { seen: true }
  - id: route
    branch:
      - when: "true"
        steps:
          - id: lookup
            http:
              method: POST
              url: "http://127.0.0.1:${port}/lookup/\${env:CRM_TENANT}"
              query: { email: "{{ vars.email }}", key: "\${env:CRM_KEY}" }
              headers: { Authorization: "Bearer \${env:CRM_KEY}", X-Trace: "{{ vars.trace }}" }
              body: { email: "{{ vars.email }}", count: "{{ vars.count }}" }
              save:
                customer_id: body.customer.id
                plan: body.plan.name
  - id: missing
    http:
      url: "http://127.0.0.1:${port}/missing"
      save: { id: body.id }
`;

describe('hooks try', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const env = { CRM_KEY: 'k-secret-9f8e7d', CRM_TENANT: 'tenant-acme-77' };
  const run = (args: string[], config = 'allowed.yaml') => runHooks(['try', '--config', config, ...args], { cwd: dir.dir, env });

  beforeAll(async () => {
    receiver = await startReceiver();
    dir = await scratchDir();
    await dir.write('allowed.yaml', 'flows: { dir: flows }\nhttp: { allowPrivateNetworks: true }\n');
    await dir.write('listed.yaml', 'flows: { dir: flows }\nhttp: { allowList: [127.0.0.1] }\n');
    await dir.write('guarded.yaml', 'flows: { dir: flows }\n');
    await dir.write('flows/samples/crm.json', JSON.stringify({ customer: { email: 'ann@example.com' } }));
    await dir.write('flows/samples/other.json', JSON.stringify({ customer: { email: 'bob@example.com' } }));
    await dir.write('flows/crm.yaml', flowText(receiver.port));
  });
  afterAll(async () => {
    await dir.remove();
    await new Promise((done) => receiver.server.close(done));
  });

  it('sends the step for real with the sample through the params, and shows request, answer, saves and paths', async () => {
    receiver.received.length = 0;
    const result = await run(['crm', 'lookup', '--var', 'count=3', '--var', 'trace=t-1']);
    expect(result).toMatchObject({ code: 0, err: '' });
    // the receiver really got the call, with the sample's email (through params) and the --var values
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0];
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/lookup/tenant-acme-77?email=ann%40example.com&key=k-secret-9f8e7d');
    expect(got.headers.authorization).toBe('Bearer k-secret-9f8e7d');
    expect(got.headers['x-trace']).toBe('t-1');
    expect(JSON.parse(got.body)).toEqual({ email: 'ann@example.com', count: 3 });
    // the output: secrets, query values and credentials masked
    expect(result.out).not.toContain('k-secret-9f8e7d');
    expect(result.out).not.toContain('tenant-acme-77');
    const lines = result.out.split('\n');
    expect(lines[0]).toBe(`request   POST http://127.0.0.1:${receiver.port}/lookup/[redacted]?email=***&key=***`);
    expect(lines).toContain('          authorization: [redacted]');
    expect(lines).toContain('          x-trace: t-1');
    expect(lines).toContain('          body: {"email":"ann@example.com","count":3}');
    expect(lines).toContain('status    200: KeyError (save.plan ("body.plan.name") found nothing in the answer)');
    expect(lines).toContain('          x-served-by: receiver');
    expect(lines).toContain('body      {"customer":{"id":"c-42","tier":"gold"},"orders":[{"total":10},{"total":25}]}');
    expect(lines).toContain('save      customer_id = "c-42"');
    expect(lines).toContain('save      plan = (KeyError)');
    expect(lines.slice(lines.indexOf('paths'))).toEqual([
      'paths',
      '  body.customer.id      id              "c-42"',
      '  body.customer.tier    tier            "gold"',
      '  body.orders[0].total  total           10',
      '  body.orders[1].total  orders_1_total  25',
      '  body.orders.total     orders_total    [10,25]',
    ]);
  });

  it('--sample replaces the flow sample; --format json gives the same report as data; allowList also lets it through', async () => {
    receiver.received.length = 0;
    const result = await run(['flows/crm.yaml', 'lookup', '--sample', 'flows/samples/other.json', '--format', 'json'], 'listed.yaml');
    expect(result.code).toBe(0);
    expect(receiver.received[0].url).toContain('email=bob%40example.com');
    const report = JSON.parse(result.out);
    expect(report).toMatchObject({ status: 200, request: { method: 'POST' }, saves: [{ name: 'customer_id', value: 'c-42' }, { name: 'plan', error: 'KeyError' }] });
    expect(report.paths.map((p: { path: string }) => p.path)).toContain('body.orders.total');
    expect(result.out).not.toContain('k-secret-9f8e7d');
  });

  it('a non-2xx answer is still an answer: exit 0, the status and error kind said, saves not taken', async () => {
    const result = await run(['crm', 'missing']);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`status    404: BadResponse (server answered 404 (GET http://127.0.0.1:${receiver.port}/missing))`);
    expect(result.out).toContain('body      {"error":"no such customer"}');
    expect(result.out).toContain('save      id = (BadResponse)');
  });

  it('refuses a private address unless the config allows it: exit 1, one line why, nothing sent', async () => {
    receiver.received.length = 0;
    const result = await run(['crm', 'lookup'], 'guarded.yaml');
    expect(result.code).toBe(1);
    expect(result.err.split('\n')).toHaveLength(1);
    expect(result.err).toMatch(/^hooks try: the call could not be made: BadRequest: .*127\.0\.0\.1/);
    expect(receiver.received).toHaveLength(0);
    expect(result.out + result.err).not.toContain('k-secret-9f8e7d');
  });

  it('an unreachable receiver: exit 1 with the reason', async () => {
    const closed = await startReceiver();
    await new Promise((done) => closed.server.close(done));
    await dir.write('flows/gone.yaml', `version: 1\nid: gone\ntrigger: { path: /gone }\nsteps:\n  - id: call\n    http: { url: "http://127.0.0.1:${closed.port}/x" }\n`);
    const result = await run(['gone', 'call']);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^hooks try: the call could not be made: BadResponse: request to http:\/\/127\.0\.0\.1:\d+\/x failed/);
  });

  it('a step that is not an http step, or no such step: one clear line, exit 1', async () => {
    const notHttp = await run(['crm', 'note']);
    expect(notHttp).toMatchObject({ code: 1, out: '', err: 'hooks try: step "note" is a set step, not an http step' });
    const unknown = await run(['crm', 'nope']);
    expect(unknown).toMatchObject({ code: 1, out: '', err: 'hooks try: flow "crm" has no step "nope"; its http steps: lookup, missing' });
    const noFlow = await run(['nothere', 'lookup']);
    expect(noFlow.code).toBe(1);
    expect(noFlow.err).toMatch(/^hooks try: no flow with id "nothere"/);
  });

  it('--help says what it does and names every option', async () => {
    const result = await runHooks(['try', '--help']);
    expect(result.code).toBe(0);
    for (const option of ['--sample', '--var', '--format', 'allowPrivateNetworks']) expect(result.out).toContain(option);
  });
});
