import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestEngine, type TestEngine } from './support/engine.ts';

/**
 * An async request's caller hears 202 before its run; the webhook log and the engine's own log are where an operator
 * learns how the run ended: a failed run turns its log entry to `failed` with the error, and is printed.
 */
const flow = (id: string, steps: string) => `version: 1
id: ${id}
trigger: { path: /${id} }
mode: async
response: { status: 202, body: { accepted: true } }
steps:
${steps}`;

// a step that only computes, failing: the run ends before the request's commit, and is stored with it
const COMPUTES = flow('computes', `  - id: fail
    set: { x: "{{ $error('no such order') }}" }
`);
// a step with effects, which waits for the request's commit, then a step that fails: the run fails after the answer
const CALLS = (url: string) => flow('calls', `  - id: notify
    http: { method: POST, url: "${url}/notify" }
  - id: check
    set: { x: "{{ $error('the CRM lost the order') }}" }
`);
const FINE = flow('fine', `  - id: ok
    set: { x: 1 }
`);

describe('the outcome of an async run', () => {
  let engine: TestEngine;
  let receiver: Server;

  beforeAll(async () => {
    receiver = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    engine = await startTestEngine({ 'computes.yaml': COMPUTES, 'calls.yaml': CALLS(url), 'fine.yaml': FINE }, 'http: { allowPrivateNetworks: true }\n', {}, { captureLogs: true });
  });
  afterAll(async () => {
    await engine?.close();
    receiver?.close();
  });

  const entryOf = async (flowId: string) => {
    for (let i = 0; i < 100; i++) {
      const [entry] = (await engine.admin(`/api/logs?flow=${flowId}&limit=1`)).body.entries as { outcome: string; status: number; reason: string | null; executionId: string }[];
      if (entry && entry.outcome !== 'accepted') return entry;
      await new Promise((r) => setTimeout(r, 50));
    }
    return (await engine.admin(`/api/logs?flow=${flowId}&limit=1`)).body.entries[0];
  };
  const printed = () => engine.logs.map((line) => String(JSON.parse(line).msg));

  it('says failed, with the error, when a run of steps that only compute fails', async () => {
    expect((await engine.request('/hooks/computes', { json: { id: 1 } })).status).toBe(202);
    const entry = await entryOf('computes');
    expect(entry).toMatchObject({ outcome: 'failed', status: 202 });
    expect(entry.reason).toContain('no such order');
    expect((await engine.admin(`/api/executions/${entry.executionId}`)).body).toMatchObject({ status: 'failed' });
    expect(printed().some((m) => m.startsWith(`execution ${entry.executionId} of flow computes failed:`) && m.includes('no such order'))).toBe(true);
  });

  it('says failed, with the error, when a step with effects fails after the answer', async () => {
    expect((await engine.request('/hooks/calls', { json: { id: 2 } })).status).toBe(202);
    const entry = await entryOf('calls');
    expect(entry).toMatchObject({ outcome: 'failed', status: 202 });
    expect(entry.reason).toMatch(/step "check".*the CRM lost the order/);
    expect(printed().some((m) => m.startsWith(`execution ${entry.executionId} of flow calls failed:`))).toBe(true);
  });

  it('keeps accepted for a run that completes, and prints nothing for it', async () => {
    expect((await engine.request('/hooks/fine', { json: { id: 3 } })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
    const [entry] = (await engine.admin('/api/logs?flow=fine&limit=1')).body.entries as { outcome: string; executionId: string }[];
    expect(entry.outcome).toBe('accepted');
    expect((await engine.admin(`/api/executions/${entry.executionId}`)).body).toMatchObject({ status: 'completed' });
    expect(printed().some((m) => m.includes('of flow fine failed'))).toBe(false);
  });
});
