import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { scratchDir } from './support/files.ts';
import { loadConfig } from '../engine/config/load.ts';
import { loadFlowFile } from '../engine/flow/load.ts';
import { formatProblem } from '../engine/schema/problem.ts';

const RESPOND = `mode: sync
steps:
  - id: answer
    respond:
      body: { id: "{{ contact.id }}", phone: "{{ contact.phone }}", email: "{{ contact.email }}", fields: "{{ contact.fields }}" }
`;

const flow = (id: string, identify: string, extra = '') => `version: 1
id: ${id}
trigger: { path: /${id} }
identify:
${identify}
${extra}${RESPOND}`;

const FLOWS = {
  'us.yaml': flow('us', '  userNs: body.user_ns\n  phone: body.phone\n  email: body.email\n  defaultCountry: US', 'map:\n  first_name: body.name\n  age: body.age\n  vip: body.vip\n  birthday: body.birthday\n'),
  'id.yaml': flow('id', '  phone: body.phone\n  defaultCountry: ID'),
  'intl.yaml': flow('intl', '  phone: body.phone\n  email: body.email'),
  'open.yaml': flow('open', '  phone: body.phone\n  onUnidentified: continue'),
};

interface Who {
  id: string | null;
  phone: string | null;
  email: string | null;
  fields: Record<string, unknown> | null;
}

describe('contacts: identify who a webhook is about, create them, map fields', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine(FLOWS, 'fields: { first_name: text, age: number, vip: boolean, birthday: date }\n');
  });
  afterAll(() => engine.stop());

  const post = async (flowId: string, body: Record<string, unknown>) => {
    const res = await engine.request(`/hooks/${flowId}`, { json: body });
    return { status: res.status, who: res.body as Who, error: (res.body as { error?: string }).error };
  };
  const lastLog = async (flowId: string) => (await engine.admin(`/api/logs?flow=${flowId}&limit=1`)).body.entries[0];

  it('creates a contact from a valid phone, with the e-mail lower-cased, and records how', async () => {
    const { status, who } = await post('us', { phone: '(415) 555-0101', email: 'Dana@Example.COM', name: 'Dana' });
    expect(status).toBe(200);
    expect(who).toMatchObject({ id: expect.stringMatching(/^ct_/), phone: '+14155550101', email: 'dana@example.com', fields: { first_name: 'Dana' } });
    expect(await lastLog('us')).toMatchObject({ identification: 'created', contactId: who.id });
  });

  it.each([
    ['us', '(415) 555-2671', '+14155552671'],
    ['us', '415-555-2672', '+14155552672'],
    ['us', '+1 415 555 2673', '+14155552673'],
    ['id', '0812-3456-7890', '+6281234567890'],
    ['id', '+62 812 3456 7891', '+6281234567891'],
    ['intl', '+44 20 7946 0958', '+442079460958'],
    ['intl', '+49 30 901820', '+4930901820'],
    ['intl', '+33 1 42 68 53 00', '+33142685300'],
  ])('reads %s phone %s as %s', async (flowId, given, e164) => {
    const { status, who } = await post(flowId, { phone: given });
    expect(status).toBe(200);
    expect(who.phone).toBe(e164);
  });

  it.each([
    ['us', { phone: '123' }, 'contact not identified: "123" is not a valid phone number for US'],
    ['us', { phone: '+1 555 000 0000' }, 'contact not identified: "+1 555 000 0000" is not a valid phone number for country code +1'],
    ['intl', { phone: '0812-3456-7890' }, 'contact not identified: "0812-3456-7890" is not a phone number (national formats need identify.defaultCountry)'],
    ['intl', { email: 'nobody@example.com' }, 'contact not identified: no contact with e-mail nobody@example.com'],
    ['us', {}, 'contact not identified: the request has no contact id, phone or e-mail'],
  ])('rejects with 422 and logs the reason: %s %j', async (flowId, body, reason) => {
    const { status, error } = await post(flowId, body);
    expect(status).toBe(422);
    expect(error).toBe(reason);
    expect(await lastLog(flowId)).toMatchObject({ outcome: 'rejected', status: 422, identification: 'rejected', reason });
  });

  it('goes on without a contact when the flow says continue', async () => {
    const { status, who } = await post('open', { phone: 'not a number' });
    expect(status).toBe(200);
    expect(who).toEqual({}); // every {{ contact.* }} is empty, and empty values leave the JSON answer
    expect(await lastLog('open')).toMatchObject({ outcome: 'completed', identification: 'none', contactId: null });
  });

  it('tries userNs first, then phone, then e-mail', async () => {
    const a = (await post('us', { phone: '+1 415 555 0201', email: 'a@example.com' })).who;
    const b = (await post('us', { phone: '+1 415 555 0202', email: 'b@example.com' })).who;
    expect(a.id).not.toBe(b.id);
    // the id wins over a phone and an e-mail that belong to someone else
    expect((await post('us', { user_ns: a.id, phone: '+1 415 555 0202', email: 'b@example.com' })).who.id).toBe(a.id);
    expect((await lastLog('us')).identification).toBe('userNs');
    // then the phone wins over the e-mail
    expect((await post('us', { phone: '+1 415 555 0202', email: 'a@example.com' })).who.id).toBe(b.id);
    expect((await lastLog('us')).identification).toBe('phone');
    // an unknown id falls through to the next rules
    expect((await post('us', { user_ns: 'ct_unknown', email: 'B@EXAMPLE.com' })).who.id).toBe(b.id);
    expect((await lastLog('us')).identification).toBe('email');
  });

  it('creates one contact when 50 requests for the same new phone arrive at once', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => post('us', { phone: '+1 415 555 0303' })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.who.id)).size).toBe(1);
    const { body } = await engine.admin(`/api/contacts?phone=${encodeURIComponent('+14155550303')}`);
    expect(body.contacts).toHaveLength(1);
  });

  it('writes the fields that fit their type, logs the ones that do not, and records every change', async () => {
    const first = await post('us', { phone: '+1 415 555 0404', name: 'Eve', age: '41', vip: 'true', birthday: '1985-02-03' });
    expect(first.who.fields).toEqual({ first_name: 'Eve', age: 41, vip: true, birthday: '1985-02-03' });
    const second = await post('us', { phone: '+1 415 555 0404', name: 'Evelyn', age: 'forty', vip: 'sometimes', birthday: '03/02/1985' });
    expect(second.status).toBe(200);
    expect(second.who.fields).toEqual({ first_name: 'Evelyn', age: 41, vip: true, birthday: '1985-02-03' });
    expect((await lastLog('us')).reason).toBe('field age: "forty" is not a number; field vip: "sometimes" is not true or false; field birthday: "03/02/1985" is not a date (YYYY-MM-DD)');

    const contact = (await engine.admin(`/api/contacts/${first.who.id}`)).body;
    expect(contact).toMatchObject({ id: first.who.id, phone: '+14155550404', fields: { first_name: 'Evelyn', age: 41 } });
    expect(contact.changes.map((c: { field: string; oldValue: unknown; newValue: unknown }) => [c.field, c.oldValue, c.newValue])).toEqual([
      ['first_name', 'Eve', 'Evelyn'],
      ['birthday', null, '1985-02-03'],
      ['vip', null, true],
      ['age', null, 41],
      ['first_name', null, 'Eve'],
    ]);
    expect(contact.webhooks).toHaveLength(2);
    expect(contact.webhooks[0]).toMatchObject({ flowId: 'us', identification: 'phone', contactId: first.who.id });
  });

  it('finds contacts by e-mail in the admin API, whatever its case', async () => {
    await post('us', { phone: '+1 415 555 0505', email: 'frank@example.com' });
    const { body } = await engine.admin('/api/contacts?email=Frank@Example.com');
    expect(body.contacts.map((c: { phone: string }) => c.phone)).toEqual(['+14155550505']);
    expect((await engine.admin('/api/contacts?phone=12')).status).toBe(400);
    expect((await engine.admin('/api/contacts/ct_nope')).status).toBe(404);
  });
});

describe('hooks validate and contact fields', () => {
  it('flags a map to an undeclared field in strict mode, and a map without identify', async () => {
    const dir = await scratchDir();
    try {
      await dir.write('hooks.config.yaml', 'fields: { first_name: text }\nstrictFields: true\n');
      const loaded = await loadConfig(`${dir.dir}/hooks.config.yaml`, {}, dir.dir);
      if (!loaded.ok) throw new Error('config');
      const strict = await dir.write('strict.yaml', 'version: 1\nid: f\ntrigger: {}\nidentify: { phone: body.phone }\nmap:\n  first_name: body.name\n  nickname: body.nick\n');
      const result = await loadFlowFile(strict, 'flows/strict.yaml', loaded.config, {});
      expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
        'flows/strict.yaml:7:3 map.nickname: field "nickname" is not declared in the config\'s fields (strictFields is on); declare it or remove it',
      ]);
      const anonymous = await dir.write('anon.yaml', 'version: 1\nid: g\ntrigger: {}\nmap:\n  first_name: body.name\n');
      const second = await loadFlowFile(anonymous, 'flows/anon.yaml', loaded.config, {});
      expect(second.ok ? [] : second.problems.map(formatProblem)).toEqual(['flows/anon.yaml:4:1 map: `map:` writes contact fields, so the flow needs `identify:` to know whose']);
    } finally {
      await dir.remove();
    }
  });
});

describe('async executions see their contact', () => {
  it('runs the steps of an async flow with the contact identified when the request arrived', async () => {
    const engine = await startTestEngine({
      'async.yaml': `version: 1
id: later
trigger: { path: /later }
identify: { phone: body.phone, defaultCountry: US }
map: { first_name: body.name }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: greet
    set: { greeting: "{{ 'Hi ' & contact.fields.first_name & ' at ' & contact.phone }}" }
`,
    });
    try {
      const res = await engine.request('/hooks/later', { json: { phone: '(415) 555-0606', name: 'Gus' } });
      expect(res.status).toBe(202);
      const id = (res.body as { execution: string }).execution;
      let execution;
      for (let i = 0; i < 100; i++) {
        execution = (await engine.admin(`/api/executions/${id}`)).body;
        if (execution.status === 'completed') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(execution.journal[0].vars).toEqual({ greeting: 'Hi Gus at +14155550606' });
    } finally {
      await engine.stop();
    }
  });
});
