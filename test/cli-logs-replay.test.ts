// `hooks logs`, `hooks replay --dry-run`, `--since` durations and `hooks test` on files without tests, over the real
// CLI against a `hooks serve` process of its own (real HTTP, its SQLite file read by the CLI as a user's would be).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';
import { startSubscriber } from './support/subscriber.ts';

const TOKEN = 'logs-replay-admin-token';
const SECRET = `whsec_${Buffer.from('the logs and replay test secret.').toString('base64')}`;
const CALLER_SECRET = 'Bearer caller-s3cret-value';

/** A sync flow whose answer depends on an http step with a `query:`; `extra` adds steps before its answer. */
const lookupFlow = (crm: string, extra = '') => `version: 1
id: lookup
trigger: { path: /lookup }
identify: { phone: body.phone, defaultCountry: US, onUnidentified: continue }
mode: sync
steps:
  - id: price
    http: { url: "${crm}/price/{{ body.sku }}", query: { currency: "{{ body.currency }}" }, save: { price: body.price } }
  - id: decide
    branch:
      - when: steps.price.ok
        steps:${extra}
          - id: ok
            respond: { status: 200, body: { price: "{{ vars.price }}" } }
      - else:
          - id: sorry
            respond: { status: 502, body: { error: "{{ vars.last_webhook_failure.kind }}" } }
`;

const NOTIFY_STEP = `
          - id: notify
            http: { method: POST, url: "CRM/notify", query: { sku: "{{ body.sku }}" } }`;

describe('hooks logs and hooks replay against a running engine', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let child: ChildProcess;
  let engine: string;
  let crm: Server;
  let crmUrl: string;
  const crmCalls: string[] = [];
  let subscriber: Awaited<ReturnType<typeof startSubscriber>>;
  let config: string;
  let logId: string;

  const hooks = (...args: string[]) => runHooks([...args, '--config', config]);
  const admin = async (path: string) => (await fetch(`${engine}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  /** a JSON request; a string body goes as it is */
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${engine}/hooks${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    crm = createServer((req, res) => {
      crmCalls.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ price: 12 }));
    });
    crm.listen(0, '127.0.0.1');
    await once(crm, 'listening');
    crmUrl = `http://127.0.0.1:${(crm.address() as AddressInfo).port}`;
    subscriber = await startSubscriber(SECRET, () => 500);
    dir = await scratchDir('hooks-logs-replay-');
    await dir.write('flows/lookup.yaml', lookupFlow(crmUrl));
    config = await dir.write(
      'hooks.config.yaml',
      `storage: { url: sqlite://data/hooks.db }
admin: { token: ${TOKEN} }
http: { allowPrivateNetworks: true }
subscriptions:
  - { id: dead, url: "${subscriber.url}", events: [execution], secret: "${SECRET}", retrySchedule: [0s] }
`,
    );
    const port = await freePort();
    engine = `http://127.0.0.1:${port}`;
    child = spawnServe(config, port);
    await waitReady(engine);

    const res = await post('/lookup?src=ads', { phone: '(415) 555-0100', sku: 'a1', currency: 'EUR' }, { authorization: CALLER_SECRET });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ price: 12 });
    logId = (await admin('/api/logs?flow=lookup&limit=1')).entries[0].id;
    expect((await post('/lookup', '{not json')).status).toBe(400);
  }, 60_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    if (child && child.exitCode === null) await once(child, 'exit');
    crm?.close();
    await subscriber?.close();
    await dir?.remove();
  });

  it('hooks logs <id> prints the entry: redacted headers, query, the body pretty-printed, contact, answer and journal', async () => {
    const shown = await hooks('logs', logId);
    expect(shown.code).toBe(0);
    const lines = shown.out.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${logId}  received \\d{4}-\\d\\d-\\d\\dT`));
    expect(lines[1]).toMatch(/^flow: lookup \(revision \w+\)$/);
    expect(lines).toContain('request: POST /lookup');
    expect(lines).toContain('  authorization: [redacted]');
    expect(lines).toContain('  content-type: application/json');
    expect(lines.slice(lines.indexOf('query:'), lines.indexOf('query:') + 2)).toEqual(['query:', '  src: ads']);
    const body = lines.indexOf('body:');
    expect(lines.slice(body, body + 6)).toEqual(['body:', '  {', '    "phone": "(415) 555-0100",', '    "sku": "a1",', '    "currency": "EUR"', '  }']);
    expect(lines).toContainEqual(expect.stringMatching(/^contact: ct_\S+, created by this request$/));
    expect(lines).toContainEqual(expect.stringMatching(/^answer: 200 completed \(\d+(\.\d+)? ms\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^execution ex_\S+ \(sync\): completed in \d+ ms, 1 attempt$/));
    const steps = lines.filter((l) => /^ {2}\d\. /.test(l)).map((l) => l.replace(/ {2}\d+(\.\d+)? ms {2}/, '  _ ms  '));
    expect(steps).toEqual([
      `  1. price  http  _ ms  GET ${crmUrl}/price/a1?currency=*** → 200`,
      '  2. decide  branch  _ ms  took case 1 (when)',
      '  3. ok  respond  _ ms  answered 200',
    ]);
    expect(shown.out).not.toContain('caller-s3cret-value');
  });

  it('hooks logs <id> --format json: the entry with its body as JSON, its execution and journal', async () => {
    const shown = await hooks('logs', logId, '--format', 'json');
    expect(shown.code).toBe(0);
    const entry = JSON.parse(shown.out);
    expect(entry).toMatchObject({
      id: logId,
      flowId: 'lookup',
      outcome: 'completed',
      status: 200,
      identification: 'created',
      headers: { authorization: '[redacted]' },
      query: { src: 'ads' },
      body: { phone: '(415) 555-0100', sku: 'a1', currency: 'EUR' },
      bodyText: '{"phone":"(415) 555-0100","sku":"a1","currency":"EUR"}',
      execution: { id: entry.executionId, status: 'completed', mode: 'sync', input: { request: { headers: { authorization: '[redacted]' } } } },
    });
    expect(entry.execution.journal.map((e: { stepId: string }) => e.stepId)).toEqual(['price', 'decide', 'ok']);
    expect(entry.execution.journal[0].result).toMatchObject({ ok: true, status: 200, body: { price: 12 } });
    expect(shown.out).not.toContain('caller-s3cret-value');
  });

  it('the admin API answers a JSON body as JSON (its text beside it), a malformed one as its text', async () => {
    const one = await admin(`/api/logs/${logId}`);
    expect(one.body).toEqual({ phone: '(415) 555-0100', sku: 'a1', currency: 'EUR' });
    expect(JSON.parse(one.bodyText)).toEqual(one.body);
    const { entries } = await admin('/api/logs?flow=lookup');
    expect(entries.find((e: { id: string }) => e.id === logId).body).toEqual(one.body);
    expect(entries.find((e: { status: number }) => e.status === 400)).toMatchObject({ outcome: 'rejected', body: '{not json', bodyText: '{not json' });
  });

  it('hooks logs with an unknown id says so in one line, exit 1', async () => {
    expect(await hooks('logs', 'log_nope')).toEqual({ code: 1, out: '', err: 'hooks logs: no log entry log_nope (hooks logs lists them)' });
  });

  it('hooks logs --outcome filters the list; an unknown outcome is a usage error', async () => {
    const rejected = await hooks('logs', '--outcome', 'rejected');
    expect(rejected.code).toBe(0);
    expect(rejected.out.split('\n')).toEqual([expect.stringMatching(/ 400  rejected +lookup  POST \/lookup .* malformed JSON body/)]);
    const completed = await hooks('logs', '--outcome', 'completed', '--format', 'json');
    expect(completed.out.split('\n').map((l) => JSON.parse(l).id)).toEqual([logId]);
    expect(await hooks('logs', '--outcome', 'done')).toMatchObject({ code: 2, err: 'hooks logs: --outcome must be one of accepted, completed, rejected, failed, duplicate' });
  });

  it('hooks replay --dry-run answers http steps with the original run\'s answers, as the real replay does; the URL has its query', async () => {
    const calls = crmCalls.length;
    const dry = await hooks('replay', logId, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^dry run of ${logId} on flow lookup \\(revision \\w+\\): nothing is sent or stored$`)),
      'answer: 200 {"price":12}',
      'steps: price, decide, ok',
      `would call: GET ${crmUrl}/price/a1?currency=EUR (step price): answered 200 as in the original run`,
    ]);
    expect(crmCalls.length).toBe(calls);

    const real = await hooks('replay', logId, '--url', engine);
    expect(real).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^replayed ${logId} as log_\\S+ \\(execution ex_\\S+\\): answered 200$`)) });
    expect(crmCalls.slice(calls)).toEqual(['GET /price/a1?currency=EUR']);
  });

  it('hooks replay --dry-run names the steps it could not know: no recorded answer, taken as failed', async () => {
    await dir.write('flows/lookup.yaml', lookupFlow(crmUrl, NOTIFY_STEP.replace('CRM', crmUrl)));
    const dry = await hooks('replay', logId, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out.split('\n').slice(1)).toEqual([
      'answer: 200 {"price":12}',
      'steps: price, decide, notify, ok',
      `would call: GET ${crmUrl}/price/a1?currency=EUR (step price): answered 200 as in the original run`,
      `would call: POST ${crmUrl}/notify?sku=a1 (step notify): no recorded answer, taken as failed`,
      'not known: notify (no answer in the original run\'s journal: the dry run took it as failed)',
    ]);
    expect(crmCalls).not.toContain('POST /notify?sku=a1');
  });

  it('--since takes a duration (that long ago) as well as an ISO time: hooks subscriptions --replay and hooks logs', async () => {
    const deadLetters = async () => (await admin('/api/subscriptions/dead/deliveries?status=failed')).deliveries.length as number;
    await expect.poll(deadLetters, { timeout: 10_000 }).toBeGreaterThan(0);
    const older = (await hooks('logs', '--format', 'json')).out.split('\n').map((l) => JSON.parse(l).id);
    await new Promise((r) => setTimeout(r, 3_000));

    // every dead letter is older than 1.5 s and younger than 10 minutes
    expect(await hooks('subscriptions', 'dead', '--replay', '--since', '1500ms')).toMatchObject({ code: 0, out: '0 dead letters of dead queued again' });
    const dead = await deadLetters();
    expect(await hooks('subscriptions', 'dead', '--replay', '--since', '10m')).toMatchObject({ code: 0, out: `${dead} dead letter${dead === 1 ? '' : 's'} of dead queued again` });
    expect(await hooks('subscriptions', 'dead', '--replay', '--since', '10 minutes')).toMatchObject({ code: 2, err: expect.stringContaining('--since must be an ISO date or time') });

    expect((await post('/lookup', { sku: 'b2', currency: 'USD' })).status).toBe(200);
    const recent = await hooks('logs', '--since', '1500ms');
    expect(recent.code).toBe(0);
    expect(recent.out.split('\n')).toEqual([expect.stringMatching(/ 200  completed +lookup  POST \/lookup /)]);
    expect(older.every((id) => !recent.out.includes(id))).toBe(true);
    expect((await hooks('logs', '--since', '1d')).out.split('\n')).toHaveLength(older.length + 1);
    expect((await hooks('logs', '--since', new Date(Date.now() + 60_000).toISOString())).out).toBe('');
    expect(await hooks('logs', '--since', 'yesterday')).toMatchObject({ code: 2, err: 'hooks logs: --since must be an ISO date or time (2026-01-31, 2026-01-31T09:30Z) or how long ago (10m, 2h, 1d)' });
  }, 30_000);
});

describe('hooks test on flow files without tests', () => {
  it('names each file without tests and counts them in the summary; exit 0 when nothing failed', async () => {
    const dir = await scratchDir();
    try {
      await dir.write('flows/tested.yaml', 'version: 1\nid: tested\ntrigger: { path: /tested }\nmode: sync\ntests:\n  - name: answers\n    expect: { response: { status: 200 } }\n');
      await dir.write('flows/bare.yaml', 'version: 1\nid: bare\ntrigger: { path: /bare }\n');
      await dir.write('flows/other.yaml', 'version: 1\nid: other\ntrigger: { path: /other }\n');
      const result = await runHooks(['test', 'flows'], { cwd: dir.dir });
      expect(result.out.split('\n')).toEqual(['flows/bare.yaml: no tests', 'flows/other.yaml: no tests', '✓ tested › answers', '1 passed, 0 failed (2 flow files had no tests)']);
      expect(result.code).toBe(0);
      const one = await runHooks(['test', 'flows/bare.yaml'], { cwd: dir.dir });
      expect(one).toMatchObject({ code: 0, out: 'flows/bare.yaml: no tests\n0 passed, 0 failed (1 flow file had no tests)' });
    } finally {
      await dir.remove();
    }
  });
});
