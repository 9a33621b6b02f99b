import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { startTestEngine, type TestEngine } from './support/engine.ts';

/** A caller that sends its headers and part of its body, then nothing: it must not hold its connection for minutes. */
const FLOW = `version: 1
id: orders
trigger: { path: /orders }
mode: async
steps:
  - id: note
    set: { seen: true }
`;

/** Sends a request's headers and `part` of a body of `length` bytes, then waits; resolves with what came back and when the socket closed. */
function stallingRequest(port: number, length: number, part: string): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /hooks/orders HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n${part}`);
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ reply, closedAfterMs: Date.now() - started }));
  });
}

describe('a request whose body stops arriving', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ 'orders.yaml': FLOW }, 'server: { requestTimeout: 1s }\n');
  });
  afterAll(async () => engine?.close());

  it('gets 408 once server.requestTimeout has passed, and its connection is closed; nothing is logged or run', async () => {
    const port = Number(new URL(engine.url).port);
    const { reply, closedAfterMs } = await stallingRequest(port, 100, '{"id": "o-1", ');
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(closedAfterMs).toBeLessThan(5_000);
    // the engine goes on serving, and the cut request never reached the flow
    expect((await engine.request('/hooks/orders', { json: { id: 'o-2' } })).status).toBe(200);
    const { entries } = (await engine.admin('/api/logs?flow=orders')).body as { entries: unknown[] };
    expect(entries).toHaveLength(1);
  });
});
