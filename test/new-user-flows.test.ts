/**
 * What a new user trips over (issue #31), each over the real thing: requests and sends over real HTTP to a real
 * engine (SMS through the real twilio client to Prism on Twilio's own spec), `hooks validate`, `graph` and `url`
 * through the real command, the shipped example flows as they are.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrism, startRecordingProxy, type Prism, type RecordingProxy } from './support/prism.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { eventually } from './support/twilio-faults.ts';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const FROM = '+15005550006';
const INBOX_TOKEN = 'inb0x-t0ken-7c1d';

const FLOWS: Record<string, string> = {
  // the flow: the chat id comes in the query as a Russian national number
  'ru-chat.yaml': `version: 1
id: ru-chat
trigger: { path: /ru-chat }
identify: { phone: vars.chat_id, defaultCountry: RU }
mode: sync
steps:
  - id: hello
    send: { channel: sms, to: "{{ vars.chat_id }}", text: Hello }
`,
  // an inbound SMS writes map: to its sender's contact, without identify:
  'inbound-map.yaml': `version: 1
id: inbound-map
trigger:
  path: /in/sms
  accept: [form]
  inbound: { channel: sms, from: body.From, text: body.Body }
map:
  last_message: body.Body
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { contact: "{{ contact.id }}", last: "{{ contact.fields.last_message }}" } }
`,
  'inbox.yaml': `version: 1
id: inbox
trigger: { path: /inbox, auth: { token: "\${env:INBOX_TOKEN}" } }
`,
  'payment-check.yaml': '', // the shipped example, read in beforeAll
};

let prism: Prism;
let proxy: RecordingProxy;
let engine: TestEngine;

beforeAll(async () => {
  FLOWS['payment-check.yaml'] = await readFile(path.join(repoRoot, 'flows/payment-check.yaml'), 'utf8');
  prism = await startPrism(twilioSpec);
  proxy = await startRecordingProxy(prism.url, '/twilio');
  const sms = `{ driver: twilio-sms, accountSid: ${ACCOUNT_SID}, authToken: "\${env:TWILIO_AUTH_TOKEN}", from: "${FROM}", baseUrl: "${proxy.url}" }`;
  engine = await startTestEngine(FLOWS, `channels:\n  sms: ${sms}\n`, { TWILIO_AUTH_TOKEN: AUTH_TOKEN, INBOX_TOKEN }, { captureLogs: true });
}, 90_000);

afterAll(async () => {
  await engine?.stop();
  await proxy?.close();
  await prism?.stop();
});

const logs = async (flow: string) => (await engine.admin(`/api/logs?flow=${flow}`)).body.entries as Record<string, unknown>[];

describe('national numbers', () => {
  it('a send reads a national `to` with the flow’s identify.defaultCountry, as identify does', async () => {
    const res = await engine.request('/hooks/ru-chat?chat_id=89991234567', { method: 'POST' });
    expect(res.status).toBe(200);
    const step = (res.body as { steps: { hello: { ok: boolean; error: unknown; messageId: string } } }).steps.hello;
    expect(step).toMatchObject({ ok: true, error: null });
    const sent = [...proxy.requests].reverse().find((r) => r.path.endsWith('/Messages.json'))!;
    expect(sent.status).toBe(201); // Prism took it as a valid Twilio request
    expect(sent.form.get('To')).toBe('+79991234567');
    const stored = (await engine.admin(`/api/messages/${step.messageId}`)).body;
    expect(stored).toMatchObject({ to: '+79991234567', status: 'queued' });
    const [contact] = (await engine.admin('/api/contacts?phone=%2B79991234567')).body.contacts;
    expect(stored.contactId).toBe(contact.id);
  });

  it('the admin API says to send an international number, without pointing at a flow setting', async () => {
    const res = await engine.admin(`/api/contacts?phone=${encodeURIComponent('(415) 555-2671')}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(
      'phone: "(415) 555-2671" is not a phone number: send + and the country code before the number (e.g. +14155552671, %2B for the + in a URL): E.164, the international format',
    );
    expect(res.body.error).not.toContain('defaultCountry');
  });
});

describe('an inbound flow with map: and no identify:', () => {
  it('writes the fields to the sender’s contact', async () => {
    const res = await engine.request('/hooks/in/sms', { form: { From: '+14155550111', Body: 'running late' } });
    expect(res.status).toBe(200);
    const [contact] = (await engine.admin('/api/contacts?phone=%2B14155550111')).body.contacts;
    expect(contact.fields).toEqual({ last_message: 'running late' });
    expect(res.body).toEqual({ contact: contact.id, last: 'running late' });
    expect((await logs('inbound-map'))[0]).toMatchObject({ outcome: 'completed', contactId: contact.id, identification: 'created' });
  });
});

describe('a token route', () => {
  it('is shown as <basePath><route>/[token] at start-up and in /api/flows, never with the token', async () => {
    expect(engine.logs.map((line) => JSON.parse(line).msg)).toContain('flow inbox (async) at /hooks/inbox/[token]');
    const files = (await engine.admin('/api/flows')).body as { id: string; route: string }[];
    expect(files.find((f) => f.id === 'inbox')?.route).toBe('/hooks/inbox/[token]');
    expect(files.find((f) => f.id === 'ru-chat')?.route).toBe('/hooks/ru-chat');
    expect(JSON.stringify(files) + engine.logs.join('')).not.toContain(INBOX_TOKEN);
  });

  it('logs a request with a wrong or no token against the flow as rejected, token redacted, and answers 404', async () => {
    const wrong = await engine.request('/hooks/inbox/not-the-token', { json: { a: 1 } });
    expect(wrong).toMatchObject({ status: 404, body: { error: 'no flow at /hooks/inbox/[token]' } });
    expect((await engine.request('/hooks/inbox', { json: {} })).status).toBe(404);
    expect((await engine.request(`/hooks/inbox/${INBOX_TOKEN}`, { json: {} })).status).toBe(200);
    const entries = await logs('inbox');
    expect(entries.map((e) => [e.path, e.outcome, e.status, e.reason])).toEqual([
      ['/inbox/[token]', 'accepted', 200, null],
      ['/inbox', 'rejected', 404, 'the URL token is missing'],
      ['/inbox/[token]', 'rejected', 404, 'the URL token does not match'],
    ]);
    expect(JSON.stringify(entries)).not.toContain('not-the-token');
    expect(JSON.stringify(entries)).not.toContain(INBOX_TOKEN);
  });
});

describe('the payment-check example', () => {
  it('refuses a request without an amount with 422 and a reason, over HTTP', async () => {
    expect(await engine.request('/hooks/payments/check', { json: {} })).toMatchObject({ status: 422, body: { approved: false, reason: 'amount is required: a number, e.g. 120' } });
    expect(await engine.request('/hooks/payments/check', { json: { amount: 120, currency: 'eur' } })).toMatchObject({ status: 200, body: { approved: true, currency: 'EUR' } });
  });

  it('has that case in its own tests, and every example flow’s tests pass', async () => {
    const result = await runHooks(['test', 'flows'], { cwd: repoRoot });
    expect(result.out).toContain('✓ payment-check › a request without an amount is refused with 422, not declined');
    expect(result.out).toMatch(/\d+ passed, 0 failed$/);
    expect(result.code).toBe(0);
  });
});

describe('hooks graph and hooks url', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  const env = { INBOX_TOKEN };
  beforeAll(async () => {
    dir = await scratchDir('hooks-url-');
    await dir.write('hooks.config.yaml', 'server: { basePath: /hooks, publicUrl: "https://hooks.example.com/" }\nflows: { dir: flows }\n');
    await dir.write('local/hooks.config.yaml', 'server: { port: 8090 }\n');
    await dir.write('flows/inbox.yaml', FLOWS['inbox.yaml']);
    await dir.write('flows/plain.yaml', 'version: 1\nid: plain\ntrigger: { path: /orders/new }\nenabled: false\n');
  });
  afterAll(() => dir.remove());

  it('hooks graph shows the token route with [token], never the token', async () => {
    const result = await runHooks(['graph', 'inbox', '--format', 'dot'], { cwd: dir.dir, env });
    expect(result.code).toBe(0);
    expect(result.out).toContain('POST /hooks/inbox/[token]');
    expect(result.out).not.toContain(INBOX_TOKEN);
  });

  it('hooks url prints the full URL a partner calls, token included, on stdout only', async () => {
    const bin = path.join(repoRoot, 'engine/cli/hooks.mjs');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'url', 'inbox'], { cwd: dir.dir, env: { ...process.env, ...env } });
    expect(stdout).toBe(`https://hooks.example.com/hooks/inbox/${INBOX_TOKEN}\n`);
    expect(stderr).toBe('');
    expect(await runHooks(['url', 'flows/plain.yaml'], { cwd: dir.dir })).toEqual({
      code: 0,
      out: 'https://hooks.example.com/hooks/orders/new',
      err: 'hooks url: flow plain is disabled (enabled: false): it answers 503 until enabled',
    });
  });

  it('hooks url says when there is no public URL, and what is missing', async () => {
    const local = await runHooks(['url', 'inbox', '--config', 'local/hooks.config.yaml'], { cwd: dir.dir, env });
    expect(local.code).toBe(2); // local/flows does not exist: no flow with that id there
    const noPublic = await runHooks(['url', '../flows/inbox.yaml'], { cwd: path.join(dir.dir, 'local'), env });
    expect(noPublic.out).toBe(`http://127.0.0.1:8090/hooks/inbox/${INBOX_TOKEN}`);
    expect(noPublic.err).toMatch(/^hooks url: server\.publicUrl is not set \(hooks\.config\.yaml reads HOOKS_PUBLIC_URL\): http:\/\/127\.0\.0\.1:8090 is where/);
    const unset = await runHooks(['url', 'inbox'], { cwd: dir.dir, env: { INBOX_TOKEN: undefined } });
    expect(unset.code).toBe(1);
    expect(unset.err).toContain('flows/inbox.yaml:3:41 trigger.auth.token: environment variable INBOX_TOKEN is not set');
    expect(unset.out).toBe('');
    expect((await runHooks(['url', 'nope'], { cwd: dir.dir })).err).toBe('hooks url: no flow with id "nope" in flows; flows there: inbox, plain');
  });
});

describe('hooks validate', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    dir = await scratchDir('hooks-validate-');
    await dir.write('hooks.config.yaml', 'flows: { dir: flows }\n');
  });
  afterAll(() => dir.remove());
  const validate = async (name: string, text: string, ...args: string[]) => {
    await dir.write(`flows/${name}`, text);
    return runHooks(['validate', ...args, `flows/${name}`], { cwd: dir.dir });
  };

  it('says what to write when version is missing', async () => {
    const result = await validate('noversion.yaml', 'id: nov\ntrigger: { path: /nov }\n');
    expect(result).toMatchObject({ code: 1, out: 'flows/noversion.yaml:1:1 missing required property "version": add "version: 1" at the top of the file\n1 file checked: 0 valid, 1 with problems' });
  });

  it('checks identify and map paths against a sample that holds a whole request: headers, query and body', async () => {
    await dir.write(
      'flows/samples/chat.json',
      JSON.stringify({ request: { headers: { 'X-Chat-Mail': 'ivan@example.com' }, query: { chat_id: '89991234567' }, body: { name: 'Ivan', city: 'Kazan' } } }, null, 2),
    );
    const good = `version: 1
id: chat
trigger:
  sample: samples/chat.json
  params: { channel: "headers.\`x-chat-mail\`" }
identify: { phone: vars.chat_id, email: vars.channel, defaultCountry: RU }
map: { first_name: body.name, town: query.city, seen: $now() }
`;
    // query.city is in the body, not the query: that path finds nothing
    expect((await validate('chat.yaml', good)).out).toBe(
      'flows/chat.yaml:7:37 map.town: "query.city" finds nothing in sample "samples/chat.json": check the path\n1 file checked: 0 valid, 1 with problems',
    );
    const typos = good.replace('vars.chat_id', 'vars.chatid').replace('query.city', 'body.city').replace('body.name', 'body.nmae');
    expect((await validate('chat.yaml', typos)).out.split('\n')).toEqual([
      'flows/chat.yaml:6:20 identify.phone: "vars.chatid" finds nothing in sample "samples/chat.json": check the path',
      'flows/chat.yaml:7:20 map.first_name: "body.nmae" finds nothing in sample "samples/chat.json": check the path',
      '1 file checked: 0 valid, 1 with problems',
    ]);
    expect(await validate('chat.yaml', good.replace('query.city', 'body.city'))).toMatchObject({ code: 0, out: '1 file checked: 1 valid, 0 with problems' });
  });

  it('still reads a plain JSON sample as the body, and leaves alone what only a whole request would show', async () => {
    await dir.write('flows/samples/body.json', JSON.stringify({ phone: '+14155550123', name: 'Ann' }));
    const flow = `version: 1
id: plain-sample
trigger: { sample: samples/body.json }
identify: { phone: body.phone, email: vars.mail }
map: { first_name: body.first, agent: headers.\`user-agent\` }
`;
    expect((await validate('plain-sample.yaml', flow)).out).toBe(
      'flows/plain-sample.yaml:5:20 map.first_name: "body.first" finds nothing in sample "samples/body.json": check the path\n1 file checked: 0 valid, 1 with problems',
    );
  });

  it('reports a malformed whole-request sample at its line in the sample file', async () => {
    await dir.write('flows/samples/bad.json', '{\n  "request": {\n    "heders": { "x": "1" }\n  }\n}\n');
    const result = await validate('bad-sample.yaml', 'version: 1\nid: bad-sample\ntrigger: { sample: samples/bad.json, params: { x: body.x } }\n');
    expect(result.out.split('\n')[0]).toBe('flows/samples/bad.json:3:5 request.heders: unknown property "heders" (did you mean "headers"?); allowed here: headers, query, body');
    expect(result.code).toBe(1);
  });

  const crm = (save: string, mocks = '') => `version: 1
id: crm
trigger: { path: /crm }
steps:
  - id: look
    http:
      url: https://crm.example.com/customers
      save:
${save}
${mocks}`;

  it('warns when a save: path maps over a list, suggests [] and the first item, and still passes', async () => {
    const result = await validate('crm.yaml', crm('        categories: body.orders.category\n        first: body.orders[0].category\n        name: body.name'));
    expect(result.out.split('\n')).toEqual([
      'flows/crm.yaml:9:21 steps[0].http.save.categories: warning: save path "body.orders.category" maps over the list at body.orders: with one item there, JSONata gives that item\'s value, not a list of one; write "body.orders.category[]" to always get a list (or "body.orders[0].category" for the first item only)',
      '1 file checked: 1 valid, 0 with problems, 1 warning',
    ]);
    expect(result.code).toBe(0);
    const github = await runHooks(['validate', '--format', 'github', 'flows/crm.yaml'], { cwd: dir.dir });
    expect(github.out).toMatch(/^::warning file=flows\/crm\.yaml,line=9,col=21,title=hooks validate::steps\[0\]\.http\.save\.categories: save path/);
    const json = JSON.parse((await runHooks(['validate', '--format', 'json', 'flows/crm.yaml'], { cwd: dir.dir })).out);
    expect(json).toMatchObject({ valid: true, warnings: [{ file: 'flows/crm.yaml', line: 9, path: 'steps[0].http.save.categories' }] });
    expect(await validate('crm.yaml', crm('        categories: body.orders.category[]'))).toMatchObject({ code: 0, out: '1 file checked: 1 valid, 0 with problems' });
  });

  it('decides by the tests’ mocks where they answer the step: a list there warns, one object does not', async () => {
    const mocked = (body: string) => `tests:\n  - name: t\n    mocks: { look: { body: ${body} } }\n`;
    const save = '        id: body.data.id';
    expect((await validate('crm.yaml', crm(save))).out).toContain('warning: save path "body.data.id" maps over the list at body.data');
    expect((await validate('crm.yaml', crm(save, mocked('{ data: { id: 7 } }')))).out).toBe('1 file checked: 1 valid, 0 with problems');
    const listBody = await validate('crm.yaml', crm('        name: body.name', mocked('[{ name: Dana }, { name: Lee }]')));
    expect(listBody.out).toContain('warning: save path "body.name" maps over the list at body: with one item there');
    expect(listBody.out).toContain('(or "body[0].name" for the first item only)');
  });

  it('passes the shipped example flows without a warning', async () => {
    expect(await runHooks(['validate', 'flows'], { cwd: repoRoot })).toMatchObject({ code: 0, out: '5 files checked: 5 valid, 0 with problems' });
  });
});
