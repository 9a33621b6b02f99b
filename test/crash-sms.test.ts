import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../engine/store/open.ts';
import type { Store } from '../engine/store/types.ts';
import { scratchDir } from './support/files.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';
import { freePort, startPrism, type Prism } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';
import { startTwilioTap, type TwilioTap } from './support/twilio-tap.ts';

/**
 * An SMS is sent once, also when the engine dies while Twilio is taking it: killed with SIGKILL under async load (an
 * http step, then the SMS), the engine restarted finds messages left `sending` and asks Twilio (the stateful double
 * in front of Prism) whether it took them before sending again. On SQLite and on Postgres.
 */
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const twilioSpec = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const STEPS = ['call', 'text', 'after'];
const flow = (receiver: string) => `version: 1
id: texts
trigger: { path: /texts }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: call
    http: { method: POST, url: "${receiver}/call", body: { execution: "{{ $execution.id }}" } }
  - id: text
    send: { channel: sms, to: "+14155552671", text: "order {{ $execution.id }}" }
  - id: after
    set: { done: true }
`;

async function receiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

const count = <T>(items: T[]) => items.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<T, number>());

let prism: Prism;
let calls: Awaited<ReturnType<typeof receiver>>;
let pg: TestPostgres;
beforeAll(async () => {
  [prism, calls, pg] = await Promise.all([startPrism(twilioSpec), receiver(), startPostgres()]);
}, 90_000);
afterAll(async () => {
  await Promise.all([prism?.stop(), calls?.close(), pg?.stop()]);
});

describe.each(['sqlite', 'postgres'] as const)('an engine on %s killed while Twilio takes its SMS', (backend) => {
  let tap: TwilioTap;
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let storage: string;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    // the answer to each SMS comes 300 ms after Twilio took it: the kill catches some in between
    [tap, dir] = await Promise.all([startTwilioTap(prism.url, { delayMs: 300 }), scratchDir(`hooks-crash-sms-${backend}-`)]);
    storage = backend === 'sqlite' ? `sqlite://${dir.dir}/data/hooks.db` : await pg.database(`crash_sms`);
    await dir.write('flows/texts.yaml', flow(calls.url));
    await dir.write(
      'hooks.config.yaml',
      `storage: { url: "${storage}" }
queue: { lease: 1s, concurrency: 16 }
http: { allowPrivateNetworks: true }
flows: { watch: false }
channels:
  sms: { driver: twilio-sms, accountSid: ${ACCOUNT_SID}, authToken: "\${env:TWILIO_AUTH_TOKEN}", from: "+15005550006", baseUrl: "${tap.url}" }
`,
    );
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await tap?.close();
    await dir?.remove();
  });

  const serve = async (port: number) => {
    child = spawnServe(`${dir.dir}/hooks.config.yaml`, port, { env: { TWILIO_AUTH_TOKEN: 'f0e1d2c3b4a5968778695a4b3c2d1e0f' } });
    await waitReady(`http://127.0.0.1:${port}`);
  };

  it('sends each answered request\'s SMS exactly once after a restart', { timeout: 150_000 }, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await serve(port);
    const answered: string[] = [];
    let killed = false;
    const caller = async () => {
      while (!killed) {
        try {
          const res = await fetch(`${url}/hooks/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
          if (res.status === 202) answered.push(((await res.json()) as { execution: string }).execution);
          else await res.arrayBuffer();
        } catch {
          // the connection died with the process: never answered
        }
      }
    };
    const callers = Array.from({ length: 12 }, caller);
    while (answered.length < 150 || tap.pending < 3) await new Promise((r) => setTimeout(r, 5));
    const exited = new Promise((r) => child!.once('exit', r));
    child!.kill('SIGKILL');
    killed = true;
    await Promise.all(callers);
    await exited;
    // what Twilio took without the engine hearing of it
    const takenUnanswered = tap.pending;
    await new Promise((r) => setTimeout(r, tap.delayMs + 100));
    const takenBeforeKill = new Set(tap.created.map((r) => r.sid));

    await serve(port);
    const store: Store = await openStore(storage);
    try {
      for (let i = 0; i < 400 && (await store.queueDepth()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await store.queueDepth()).toBe(0);
      const texts = count(tap.created.map((r) => r.body));
      let adopted = 0;
      for (const id of answered) {
        const execution = await store.getExecution(id);
        expect(execution?.status, id).toBe('completed');
        expect((await store.journal(id)).map((e) => e.stepId), id).toEqual(STEPS);
        expect(texts.get(`order ${id}`) ?? 0, `SMS of ${id}`).toBe(1);
        const message = await store.messageForStep(id, 'text');
        const record = tap.created.find((r) => r.body === `order ${id}`)!;
        expect(message, id).toMatchObject({ providerId: record.sid, status: 'queued' });
        if (execution!.attempts > 1 && takenBeforeKill.has(record.sid)) adopted++;
      }
      // no SMS sent twice at all, also for requests whose answer the kill cut off
      expect([...texts.values()].filter((n) => n > 1)).toEqual([]);
      // the kill caught SMS that Twilio took while the engine died, and the restarted engine asked before sending
      expect(takenUnanswered).toBeGreaterThan(0);
      expect(tap.lists).toBeGreaterThan(0);
      expect(adopted).toBeGreaterThan(0);
    } finally {
      await store.close();
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGTERM');
      await exited;
      child = undefined;
    }
  });
});
