/**
 * Scale-out: three `hooks serve` processes (replicas) on one embedded Postgres, the same flows folder and config, async
 * load spread over all three, and one replica killed with SIGKILL in the middle of it. The survivors take over the dead
 * one's executions once their lease runs out. Every request answered 2xx must end as exactly one finished execution
 * with each step journaled once, its SMS handed to the provider once: Twilio is the stateful double in front of Prism,
 * and a message the kill cut short is sent again only after the survivor asked Twilio whether it took it. Its events reach the subscriber at least
 * once, every copy of one event under the same `webhook-id` and no two events under one: exactly one `execution` event,
 * and its SMS's `message` and `status` events (committed before the send step's journal entry, so a resumed execution
 * that replays the step has them; one that runs it again emits them under the same ids, derived from the message).
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageEventId, statusEventId } from '../engine/messages/events.ts';
import { openPostgresStore, type PostgresStore } from '../engine/store/postgres/store.ts';
import { scratchDir } from './support/files.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';
import { freePort, startPrism, type Prism } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';
import { startTwilioTap, type TwilioTap } from './support/twilio-tap.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const twilioSpec = path.resolve(fileURLToPath(new URL('..', import.meta.url)), '..', 'shared', 'fixtures', 'twilio', 'twilio_api_v2010.yaml');

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const SECRET = `whsec_${Buffer.from('replicas-test-signing-key-32byte').toString('base64')}`;
const STEPS = ['work', 'text', 'after'];
// each step does a little real work, so that executions are caught mid-run when the replica dies
const FLOW = `version: 1
id: replica
trigger: { path: /replica }
response: { status: 202, body: { execution: "{{ $execution.id }}" } }
steps:
  - id: work
    set: { v: "{{ $sum([1..20000]) }}" }
  - id: text
    send: { channel: sms, to: "+14155552671", text: "{{ $execution.id }}" }
  - id: after
    set: { w: "{{ $sum([1..20000]) }}" }
`;

interface Recorder {
  url: string;
  /** what arrived, in order */
  hits: { key: string; id: string }[];
  close(): Promise<void>;
}

/**
 * A subscriber: a tiny HTTP server on loopback that answers 200 at once and records each delivery (the key names the
 * event: its type and execution id, or for a `status` its message id and status; the id is its `webhook-id`).
 */
async function recorder(): Promise<Recorder> {
  const hits: Recorder['hits'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; executionId?: string; messageId?: string; status?: string };
      const key = event.type === 'status' ? `status:${event.messageId}:${event.status}` : `${event.type}:${event.executionId ?? ''}`;
      hits.push({ key, id: String(req.headers['webhook-id']) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const count = <T>(items: T[]) => items.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<T, number>());

describe('three replicas on one Postgres, one killed with SIGKILL under async load', () => {
  let pg: TestPostgres;
  let prism: Prism;
  let twilio: TwilioTap;
  let subscriber: Recorder;
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let url: string;
  const replicas: { child: ChildProcess; url: string }[] = [];

  beforeAll(async () => {
    [pg, prism, subscriber, dir] = await Promise.all([startPostgres(), startPrism(twilioSpec), recorder(), scratchDir('hooks-replicas-')]);
    // Twilio's answer to each SMS comes 100 ms after it took it: the kill catches some in between
    twilio = await startTwilioTap(prism.url, { delayMs: 100 });
    url = await pg.database('replicas');
    await dir.write('flows/replica.yaml', FLOW);
    // the same folder and config for every replica, as an image built from git would give them
    await dir.write(
      'hooks.config.yaml',
      `storage: { url: "${url}" }
queue: { lease: 3s, concurrency: 8 }
http: { allowPrivateNetworks: true }
flows: { watch: false }
channels:
  sms: { driver: twilio-sms, accountSid: ${ACCOUNT_SID}, authToken: "\${env:TWILIO_AUTH_TOKEN}", from: "+15005550006", baseUrl: "${twilio.url}" }
subscriptions:
  - id: audit
    url: ${subscriber.url}/events
    events: [execution, message, status]
    secret: "\${env:EVENTS_SECRET}"
    retrySchedule: [0s, 1s, 1s, 1s, 1s, 1s]
`,
    );
  });

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all([twilio?.close(), subscriber?.close(), prism?.stop()]);
    await pg?.stop();
    await dir?.remove();
  });

  it('answers, runs, sends and reports every accepted request once, the dead replica\'s work taken over', { timeout: 180_000 }, async () => {
    const config = `${dir.dir}/hooks.config.yaml`;
    // started one after the other would hide a migration race: all three open the empty database at once
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      replicas.push({ child: spawnServe(config, port, { env: { TWILIO_AUTH_TOKEN: AUTH_TOKEN, EVENTS_SECRET: SECRET } }), url: `http://127.0.0.1:${port}` });
    }
    await Promise.all(replicas.map((r) => waitReady(r.url)));

    // 12 callers, 4 per replica, send until told to stop; a caller of the dead replica gets connection errors
    const answered: string[] = [];
    const perReplica = [0, 0, 0];
    let stop = false;
    const caller = async (i: number) => {
      const target = replicas[i % 3];
      let n = 0;
      while (!stop && n++ < 2_000) {
        try {
          const res = await fetch(`${target.url}/hooks/replica`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"n":${n}}` });
          if (res.status === 202) {
            answered.push(((await res.json()) as { execution: string }).execution);
            perReplica[i % 3]++;
          } else await res.arrayBuffer();
        } catch {
          // the connection died with the process: this request was never answered
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const callers = Array.from({ length: 12 }, (_, i) => caller(i));
    const wait = async (until: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; !until() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    };
    await wait(() => answered.length >= 300, 60_000);

    const victim = replicas[1].child;
    const exited = new Promise((r) => victim.once('exit', r)); // listen first: the process may be gone at once
    victim.kill('SIGKILL');
    await exited;
    const killedAt = answered.length;
    // what the dead replica left: messages stored as being sent, their provider call cut short (or not yet answered)
    const store: PostgresStore = await openPostgresStore(url, { poolSize: 4 });
    try {
      const inFlight = new Set((await store.listMessages({ status: 'sending', limit: 10_000 })).map((m) => m.executionId));
      const unfinished = (await Promise.all(answered.slice(0, killedAt).map((id) => store.getExecution(id)))).filter((e) => e?.status !== 'completed').length;
      // the load goes on on the two survivors for a while, then stops
      await wait(() => answered.length >= killedAt + 200, 30_000);
      stop = true;
      await Promise.all(callers);

      // everything answered is run to its end, the dead replica's executions after their lease
      for (let i = 0; i < 600 && (await store.queueDepth()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await store.queueDepth()).toBe(0);
      for (let i = 0; i < 600 && (await store.eventDeliveryCounts('audit')).pending > 0; i++) await new Promise((r) => setTimeout(r, 100));

      expect(new Set(answered).size).toBe(answered.length);
      expect(perReplica.every((n) => n > 0)).toBe(true); // the load reached all three
      expect(unfinished).toBeGreaterThan(0); // the kill interrupted work, or this test proves nothing
      const sent = count(twilio.created.map((r) => r.body));
      const events = new Map<string, Set<string>>();
      const keysOf = new Map<string, Set<string>>();
      for (const hit of subscriber.hits) {
        events.set(hit.key, (events.get(hit.key) ?? new Set()).add(hit.id));
        keysOf.set(hit.id, (keysOf.get(hit.id) ?? new Set()).add(hit.key));
      }
      // one webhook-id never stands for two events
      for (const [id, keys] of keysOf) expect([...keys], `events delivered under webhook-id ${id}`).toHaveLength(1);
      const resent: string[] = [];
      let takenOver = 0;
      const records = await Promise.all(
        answered.map(async (id) => ({ id, execution: await store.getExecution(id), journal: await store.journal(id), message: await store.messageForStep(id, 'text') })),
      );
      for (const { id, execution, journal, message } of records) {
        expect(execution, `answered execution ${id} must exist`).toBeDefined();
        expect(execution!.status, id).toBe('completed');
        if (execution!.attempts > 1) takenOver++;
        expect(journal.map((e) => e.stepId), id).toEqual(STEPS);
        expect(journal.map((e) => e.seq), id).toEqual([1, 2, 3]);
        expect(message, `message of ${id}`).toMatchObject({ status: 'queued', providerId: expect.stringMatching(/^SM/) });
        // handed to the provider once, also when the kill cut its provider call short: the survivor asked Twilio first
        expect(sent.get(id) ?? 0, `SMS of ${id} (${execution!.attempts} attempts, ${inFlight.has(id) ? '' : 'not '}in flight when the replica died)`).toBe(1);
        if (inFlight.has(id)) resent.push(id);
        // each of its events delivered at least once, every copy under the same webhook-id
        expect([...(events.get(`execution:${id}`) ?? [])], `execution event of ${id}`).toHaveLength(1);
        expect([...(events.get(`message:${id}`) ?? [])], `message event of ${id}`).toEqual([messageEventId(message!.id)]);
        expect([...(events.get(`status:${message!.id}:queued`) ?? [])], `status event of ${id}`).toEqual([statusEventId(message!.id, 'queued')]);
      }
      // no event under two webhook-ids, also of executions whose answer the kill cut off
      for (const [key, ids] of events) expect([...ids], `webhook-ids of ${key}`).toHaveLength(1);
      expect(takenOver).toBeGreaterThan(0); // survivors took over the dead replica's executions
      const deliveries = await store.eventDeliveryCounts('audit');
      // nothing left waiting or dead-lettered; delivered: at least three per answered request (also the ones whose
      // answer the kill cut off, committed before the process died)
      expect({ pending: deliveries.pending, failed: deliveries.failed }).toEqual({ pending: 0, failed: 0 });
      expect(deliveries.delivered).toBeGreaterThanOrEqual(3 * answered.length);
      console.log(
        `replicas: ${answered.length} answered (${perReplica.join(' / ')} per replica), killed after ${killedAt} with ${unfinished} unfinished; ` +
          `${takenOver} taken over after the lease; ${resent.length} SMS in flight at the kill reconciled with Twilio (${twilio.lists} lookups), none sent twice; ` +
          `${subscriber.hits.length} event deliveries for ${events.size} events (${subscriber.hits.length - keysOf.size} repeats under the same id)`,
      );
    } finally {
      await store.close();
      for (const r of replicas) {
        if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
        const done = new Promise((resolve) => r.child.once('exit', resolve));
        r.child.kill('SIGTERM');
        await done;
      }
    }
  });
});
