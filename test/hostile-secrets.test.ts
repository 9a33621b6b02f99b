// Hostile input, issue #26: replaying what was rejected, secrets kept or shown in clear, form bodies cut at 1,000
// fields. One real engine over real HTTP; the SQLite file read as it is on disk; the CLI run as a user would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import Database from 'better-sqlite3';
import twilio from 'twilio';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from './support/engine.ts';
import { runHooks } from './support/cli.ts';

const ENV = {
  GITHUB_SECRET: 'gh-hostile-secret-1f2e',
  HMAC_SECRET: 'acme-hmac-secret-77aa',
  BASIC_PASSWORD: 'basic-pa55word-c3d4',
  PARTNER_TOKEN: 'Partner-Token-9Zx81',
  TENANT: 'AcmeTenant7Q',
  SUB_TENANT: 'SubTenantK4',
  SLACK_TOKEN: 'T0001-B0002-XoXoSecret',
  TWILIO_TOKEN: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
};
const PUBLIC = 'https://hooks.example.com';

const FLOWS: Record<string, string> = {
  'github.yaml': `version: 1
id: github
trigger:
  path: /github
  accept: [json]
  auth: { signature: { preset: github, secret: "\${env:GITHUB_SECRET}" } }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: note
    set: { ref: "{{ body.ref }}" }
`,
  'hmac.yaml': `version: 1
id: hmac
trigger:
  path: /hmac
  auth: { signature: { preset: hmac, header: X-Acme-Check, secret: "\${env:HMAC_SECRET}" } }
`,
  'basic.yaml': `version: 1
id: basic
trigger:
  path: /basic
  auth: { basic: { username: shop, password: "\${env:BASIC_PASSWORD}" } }
mode: sync
steps:
  - id: answer
    respond: { body: { order: "{{ body.order }}" } }
`,
  'partner.yaml': `version: 1
id: partner
trigger: { path: /partner }
response: { body: { trusted: "{{ body.token = '\${env:PARTNER_TOKEN}' }}" } }
steps:
  - id: check
    set: { trusted: "{{ body.token = '\${env:PARTNER_TOKEN}' }}" }
`,
  'tenant.yaml': `version: 1
id: tenant
trigger: { path: /tenant }
steps:
  - id: call
    http: { url: "http://\${env:TENANT}.invalid/orders/{{ body.order }}" }
`,
  'form.yaml': `version: 1
id: form
trigger: { path: /form, accept: [form] }
mode: sync
steps:
  - id: answer
    respond: { body: { fields: "{{ $count($keys(body)) }}", last: "{{ body.f1499 }}" } }
`,
  'twilio-form.yaml': `version: 1
id: twilio-form
trigger:
  path: /twilio-form
  accept: [form]
  auth: { signature: { preset: twilio, secret: "\${env:TWILIO_TOKEN}" } }
mode: sync
steps:
  - id: answer
    respond: { body: { fields: "{{ $count($keys(body)) }}" } }
`,
};

const CONFIG = `server: { publicUrl: "${PUBLIC}" }
channels:
  sms: { driver: twilio-sms, accountSid: AC0123456789abcdef0123456789abcdef, authToken: "\${env:TWILIO_TOKEN}", from: "+15005550006" }
subscriptions:
  - { id: slack, url: "https://\${env:SUB_TENANT}.example.com/services/\${env:SLACK_TOKEN}?channel=ops", events: [variables] }
`;

/** 1,500 form fields, f0 ... f1499, with `extra` first */
const wideForm = (extra: Record<string, string> = {}) => ({ ...extra, ...Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`f${i}`, `v${i}`])) });

describe('hostile input: replay, secrets, form bodies', () => {
  let engine: TestEngine;
  let db: Database.Database;
  const hooks = (...args: string[]) => runHooks([...args, '--config', `${engine.dir}/hooks.config.yaml`], { env: ENV });
  const replay = async (id: string, query = '') => {
    const res = await fetch(`${engine.url}/api/logs/${id}/replay${query}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const latestLog = async (flow: string) => (await engine.admin(`/api/logs?flow=${flow}&limit=1`)).body.entries[0];
  const logCount = async (flow: string) => (await engine.admin(`/api/logs?flow=${flow}&limit=500`)).body.entries.length as number;
  const githubSigned = (body: string, secret = ENV.GITHUB_SECRET) => ({
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  });

  beforeAll(async () => {
    engine = await startTestEngine(FLOWS, CONFIG, ENV);
    db = new Database(`${engine.dir}/data/hooks.db`, { readonly: true, fileMustExist: true });
  });
  afterAll(async () => {
    db?.close();
    await engine?.stop();
  });

  describe('replay runs only what was accepted, unless the operator forces it', () => {
    it('refuses with 409 to replay a request whose GitHub signature was wrong, and runs it when forced, marked', async () => {
      const body = JSON.stringify({ ref: 'refs/heads/evil' });
      const refused = await engine.request('/hooks/github', { method: 'POST', body, headers: githubSigned(body, 'not-the-secret') });
      expect(refused.status).toBe(401);
      const rejected = await latestLog('github');
      expect(rejected).toMatchObject({ outcome: 'rejected', status: 401, reason: expect.stringMatching(/^signature check failed: mismatch/) });
      const before = await logCount('github');

      const plain = await replay(rejected.id);
      expect(plain.status).toBe(409);
      expect(plain.body.error).toContain(`log entry ${rejected.id} was rejected (signature check failed: mismatch`);
      expect(plain.body.error).toContain('?force=rejected');
      expect(await logCount('github')).toBe(before); // nothing ran, nothing logged

      const forced = await replay(rejected.id, '?force=rejected');
      expect(forced).toMatchObject({ status: 200, body: { replayOf: rejected.id, forced: true, answer: { status: 202 } } });
      const marked = (await engine.admin(`/api/logs/${forced.body.log}`)).body;
      expect(marked).toMatchObject({ replayOf: rejected.id, outcome: 'accepted', reason: expect.stringContaining('replay of a rejected request, forced by the operator') });
      expect(marked.reason).toContain(`${rejected.id}: rejected 401`);

      // the forced replay's own "accepted" vouches for nothing: replaying it goes back to the rejected original
      const again = await replay(forced.body.log);
      expect(again.status).toBe(409);
      expect(again.body.error).toContain(`log entry ${forced.body.log} replays ${rejected.id}, which was rejected`);
    });

    it('refuses to replay a wrong basic-auth password; an accepted request replays as before, not marked', async () => {
      const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`shop:${password}`).toString('base64')}` });
      expect((await engine.request('/hooks/basic', { json: { order: 7 }, headers: basic('guess') })).status).toBe(401);
      const wrong = await latestLog('basic');
      expect(wrong).toMatchObject({ outcome: 'rejected', reason: 'basic auth failed', headers: { authorization: '[redacted]' } });
      expect(await replay(wrong.id)).toMatchObject({ status: 409, body: { error: expect.stringContaining('was rejected (basic auth failed)') } });

      expect((await engine.request('/hooks/basic', { json: { order: 8 }, headers: basic(ENV.BASIC_PASSWORD) })).status).toBe(200);
      const right = await latestLog('basic');
      const replayed = await replay(right.id);
      expect(replayed).toMatchObject({ status: 200, body: { forced: false, answer: { status: 200, body: { order: 8 } } } });
      expect((await engine.admin(`/api/logs/${replayed.body.log}`)).body).toMatchObject({ replayOf: right.id, outcome: 'completed', reason: null });
    });

    it('hooks replay and hooks replay --dry-run refuse a rejected request unless --include-rejected', async () => {
      const body = JSON.stringify({ ref: 'refs/heads/cli' });
      expect((await engine.request('/hooks/github', { method: 'POST', body, headers: githubSigned(body, 'wrong') })).status).toBe(401);
      const rejected = await latestLog('github');

      const refused = await hooks('replay', rejected.id, '--url', engine.url);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(`hooks replay: log entry ${rejected.id} was rejected (signature check failed`);
      expect(refused.err).toContain('hooks replay --include-rejected');
      const dryRefused = await hooks('replay', rejected.id, '--dry-run');
      expect(dryRefused).toMatchObject({ code: 1, out: '', err: expect.stringContaining(`log entry ${rejected.id} was rejected`) });

      const dry = await hooks('replay', rejected.id, '--dry-run', '--include-rejected');
      expect(dry.code).toBe(0);
      expect(dry.out.split('\n').slice(1, 3)).toEqual([
        `forced: a rejected request, replayed because --include-rejected says so; the real replay's log entry says "replay of a rejected request, forced by the operator (${rejected.id}: rejected 401 (${rejected.reason}))"`,
        expect.stringMatching(/^answer: 202 \{"execution":"ex_\S+"\}$/),
      ]);
      const forced = await hooks('replay', rejected.id, '--url', engine.url, '--include-rejected');
      expect(forced).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^replayed ${rejected.id} as log_\\S+ \\(execution ex_\\S+\\): answered 202 \\(a rejected request, replayed because --include-rejected says so\\)$`)) });
    });
  });

  describe('secrets are redacted before they are stored or shown', () => {
    const storedLogRow = (id: string) => JSON.stringify(db.prepare('SELECT * FROM webhook_log WHERE id = ?').get(id));
    /** the execution's rows: its own, its journal's, and its log row (which may hold it) */
    const storedExecution = (id: string) =>
      JSON.stringify([
        db.prepare('SELECT * FROM executions WHERE id = ?').get(id),
        db.prepare('SELECT * FROM journal WHERE execution_id = ?').all(id),
        db.prepare('SELECT * FROM webhook_log WHERE execution_id = ?').all(id),
      ]);
    const finished = async (id: string) => {
      await expect.poll(async () => (await engine.admin(`/api/executions/${id}`)).body.status, { timeout: 10_000 }).toBe('completed');
      return (await engine.admin(`/api/executions/${id}`)).body;
    };

    it('a GitHub signature header is redacted in the log entry, in the API and in the SQLite row', async () => {
      const body = JSON.stringify({ ref: 'refs/heads/main' });
      const headers = githubSigned(body);
      const signature = headers['x-hub-signature-256'].slice('sha256='.length);
      expect((await engine.request('/hooks/github', { method: 'POST', body, headers })).status).toBe(202);
      const { id } = await latestLog('github');
      const shown = (await engine.admin(`/api/logs/${id}`)).body;
      expect(shown).toMatchObject({ outcome: 'accepted', headers: { 'x-hub-signature-256': '[redacted]', 'x-github-event': 'push' } });
      expect(storedLogRow(id)).toContain('[redacted]');
      expect(storedLogRow(id)).not.toContain(signature);
      expect(storedExecution(shown.executionId)).not.toContain(signature);
    });

    it('the header a generic hmac signature is read from is redacted like Authorization, whatever its name', async () => {
      const body = JSON.stringify({ order: 1 });
      const signature = createHmac('sha256', ENV.HMAC_SECRET).update(body).digest('hex');
      const res = await engine.request('/hooks/hmac', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-acme-check': signature } });
      expect(res.status).toBe(200);
      const { id } = await latestLog('hmac');
      expect((await engine.admin(`/api/logs/${id}`)).body).toMatchObject({ outcome: 'accepted', headers: { 'x-acme-check': '[redacted]' } });
      expect(storedLogRow(id)).not.toContain(signature);
    });

    it('a flow secret in a body is masked in /api/executions; the run still read it as sent', async () => {
      const res = await engine.request('/hooks/partner', { json: { token: ENV.PARTNER_TOKEN, order: 3 } });
      expect(res).toMatchObject({ status: 200, body: { trusted: true } }); // the flow compared the token as it came
      const log = await latestLog('partner');
      expect(log.body).toEqual({ token: '[redacted]', order: 3 });
      const execution = await finished(log.executionId);
      expect(execution.input.request.body).toEqual({ token: '[redacted]', order: 3 });
      expect(execution.journal).toMatchObject([{ stepId: 'check', vars: { trusted: true } }]);
      expect(JSON.stringify(execution)).not.toContain(ENV.PARTNER_TOKEN);
    });

    it('an execution that keeps its own request (its body could not be logged verbatim) keeps no credential header', async () => {
      const caller = 'Bearer caller-credential-7f3a';
      const res = await engine.request('/hooks/partner', { json: { token: ENV.PARTNER_TOKEN, order: 4 }, headers: { authorization: caller, 'x-api-key': 'key-5b1e-caller' } });
      expect(res.status).toBe(200);
      const log = await latestLog('partner');
      const execution = await finished(log.executionId);
      expect(execution.input.logged).not.toBe(true); // the body held a secret: the execution has its own copy of the request
      expect(storedExecution(log.executionId)).not.toContain('caller-credential-7f3a');
      expect(storedExecution(log.executionId)).not.toContain('key-5b1e-caller');
      expect(execution.input.request.headers).toMatchObject({ authorization: '[redacted]', 'x-api-key': '[redacted]' });
    });

    it('a secret in a URL host, which the URL parser lower-cases, is masked in the journal, stored and shown', async () => {
      expect((await engine.request('/hooks/tenant', { json: { order: 'o-1' } })).status).toBe(200);
      const { executionId } = await latestLog('tenant');
      const execution = await finished(executionId);
      expect(execution.journal).toMatchObject([{ stepId: 'call', result: { ok: false, error: { kind: 'BadRequest' } } }]);
      expect(JSON.stringify(execution.journal)).toContain('http://[redacted].invalid/orders/o-1');
      expect(JSON.stringify(execution).toLowerCase()).not.toContain(ENV.TENANT.toLowerCase());
      expect(storedExecution(executionId).toLowerCase()).not.toContain(ENV.TENANT.toLowerCase());
      expect(storedExecution(executionId)).toContain('[redacted].invalid');
    });

    it('a subscription URL\'s ${env:} parts are masked in GET /api/subscriptions and hooks subscriptions', async () => {
      const shown = 'https://[redacted].example.com/services/[redacted]?channel=***';
      const { body } = await engine.admin('/api/subscriptions');
      expect(body.subscriptions.map((s: { id: string; url: string }) => [s.id, s.url])).toEqual([['slack', shown]]);
      expect((await engine.admin('/api/subscriptions/slack')).body.url).toBe(shown);
      const cli = await hooks('subscriptions');
      expect(cli.code).toBe(0);
      expect(cli.out).toContain(shown);
      for (const text of [JSON.stringify(body), cli.out]) {
        expect(text).not.toContain(ENV.SLACK_TOKEN);
        expect(text.toLowerCase()).not.toContain(ENV.SUB_TENANT.toLowerCase());
      }
    });
  });

  describe('form bodies are read whole, up to the body limit', () => {
    it('a form of 1,500 fields reaches the flow whole', async () => {
      const res = await engine.request('/hooks/form', { form: wideForm() });
      expect(res).toMatchObject({ status: 200, body: { fields: 1500, last: 'v1499' } });
    });

    it('a Twilio-signed form of 1,500 fields verifies over all of them; one changed field does not', async () => {
      const params = wideForm();
      const url = `${PUBLIC}/hooks/twilio-form`;
      const signature = twilio.getExpectedTwilioSignature(ENV.TWILIO_TOKEN, url, params);
      expect(twilio.validateRequest(ENV.TWILIO_TOKEN, signature, url, params)).toBe(true);
      const res = await engine.request('/hooks/twilio-form', { form: params, headers: { 'x-twilio-signature': signature } });
      expect(res).toMatchObject({ status: 200, body: { fields: 1500 } });
      const changed = await engine.request('/hooks/twilio-form', { form: { ...params, f1499: 'other' }, headers: { 'x-twilio-signature': signature } });
      expect(changed.status).toBe(401);
    });

    it('a Twilio status callback of 1,500 fields verifies over all of them', async () => {
      const params = wideForm({ MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered' });
      const signature = twilio.getExpectedTwilioSignature(ENV.TWILIO_TOKEN, `${PUBLIC}/hooks/_status/twilio`, params);
      const res = await engine.request('/hooks/_status/twilio', { form: params, headers: { 'x-twilio-signature': signature } });
      expect(res).toMatchObject({ status: 200, body: { sid: params.MessageSid, status: 'delivered', messages: [] } });
    });
  });
});
