import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { startTestEngine, type TestEngine } from './support/engine.ts';

/**
 * The caller and the webhook log tell the same story: an answer is rendered and checked before its commit, so one
 * that cannot be sent is a failed request in the log and its work does not run; a request that can never be stored
 * is refused with a reason, and logged; a body over the server's limit is logged and counted.
 */
const ORDER_INTAKE = await readFile(new URL('../flows/order-intake.yaml', import.meta.url), 'utf8');
const PARTNER = { authorization: `Basic ${Buffer.from('partner:change-me').toString('base64')}` };

const ECHO_SYNC = `version: 1
id: echo
trigger: { path: /echo }
mode: sync
steps:
  - id: answer
    respond: { body: "{{ body }}" }
`;
const KEEP_ASYNC = `version: 1
id: keep
trigger:
  path: /keep
  params: { payload: body }
mode: async
steps:
  - id: note
    set: { seen: true }
`;

/** `depth` levels of arrays, as text: JSON.parse reads it, a recursive serialiser runs out of stack */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

interface Entry { id: string; outcome: string; status: number; reason: string | null; executionId: string | null; flowId: string }

describe('answers checked before their commit', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ 'order-intake.yaml': ORDER_INTAKE, 'echo.yaml': ECHO_SYNC, 'keep.yaml': KEEP_ASYNC }, 'server: { bodyLimit: 65536 }\n');
  });
  afterAll(() => engine?.stop());

  const lastEntry = async (flow: string): Promise<Entry> => (await engine.admin(`/api/logs?flow=${flow}&limit=1`)).body.entries[0];
  const emailsTo = async (address: string) => ((await engine.admin('/api/messages?limit=100')).body.messages as { to: string }[]).filter((m) => m.to === address).length;

  it.each([
    ['a character outside Latin-1', 'o-✓', 'outside Latin-1'],
    ['a CR LF', 'o-1\r\nx-injected: yes', 'CR, LF or NUL'],
    ['a NUL', 'o-1\u0000', 'CR, LF or NUL'],
  ])('refuses an answer whose templated header has %s: 500 to the caller, failed in the log, no e-mail', async (_name, orderId, why) => {
    const before = await emailsTo('ops@example.com');
    const res = await engine.request('/hooks/partners/orders', { headers: PARTNER, json: { order: { id: orderId, items: [] } } });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-injected')).toBeNull();
    expect((res.body as { error: string }).error).toContain('x-order-id');
    const entry = await lastEntry('order-intake');
    expect(entry).toMatchObject({ outcome: 'failed', status: 500, executionId: null });
    expect(entry.reason).toContain('x-order-id');
    expect(entry.reason).toContain(why);
    await new Promise((r) => setTimeout(r, 300)); // the e-mail would have gone by now
    expect(await emailsTo('ops@example.com')).toBe(before);
  });

  it('still answers a well-formed order, and sends its e-mail', async () => {
    const before = await emailsTo('ops@example.com');
    const res = await engine.request('/hooks/partners/orders', { headers: PARTNER, json: { order: { id: 'o-17', items: [] } } });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-order-id')).toBe('o-17');
    expect(await lastEntry('order-intake')).toMatchObject({ outcome: 'accepted', status: 202 });
    for (let i = 0; i < 50 && (await emailsTo('ops@example.com')) === before; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await emailsTo('ops@example.com')).toBe(before + 1);
  });

  it('answers 500 and logs it failed when a sync answer cannot be serialised (10,000 levels)', async () => {
    const res = await engine.request('/hooks/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: nested(10_000) });
    expect(res.status).toBe(500);
    const entry = await lastEntry('echo');
    expect(entry).toMatchObject({ outcome: 'failed', status: 500 });
    expect(entry.reason).toMatch(/answer/);
  });

  it('refuses, with a reason and a log entry, an async request that can never be stored', async () => {
    const res = await engine.request('/hooks/keep', { method: 'POST', headers: { 'content-type': 'application/json' }, body: nested(10_000) });
    expect(res.status).toBe(422);
    expect(res.headers.get('retry-after')).toBeNull();
    expect((res.body as { error: string }).error).toMatch(/cannot be stored/);
    const entry = await lastEntry('keep');
    expect(entry).toMatchObject({ outcome: 'rejected', status: 422, executionId: null });
    expect(entry.reason).toMatch(/cannot be stored/);
    // a storable request to the same flow goes on as before
    expect((await engine.request('/hooks/keep', { json: { a: 1 } })).status).toBe(200);
  });

  it('logs and counts a body over the server limit', async () => {
    const res = await engine.request('/hooks/keep', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
    expect(res.status).toBe(413);
    const entry = await lastEntry('keep');
    expect(entry).toMatchObject({ outcome: 'rejected', status: 413, executionId: null });
    expect(entry.reason).toContain('65536');
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    expect(metrics).toMatch(/hooks_requests_total\{flow="keep",status="413"\} 1/);
  });
});
