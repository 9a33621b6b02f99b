/**
 * CPU per request of one server on the GitHub push, counted over all its threads (the main thread, V8's GC helpers,
 * the WAL checkpoint worker), from /proc: what `npm run bench`'s interleaved rows cannot split by thread.
 * Run: node --import tsx bench/thread-cpu.ts [engine|bare] [sync|async]  (SECONDS=6; Linux only; the server on core 0)
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { REAL_PAYLOAD_LOGIC, realAsyncFlow, realSyncFlow } from './flows.ts';
import { payloadBodies } from './payloads.ts';

const [server = 'engine', mode = 'async'] = process.argv.slice(2);
const PORT = 19_503;
const body = payloadBodies(['push']).get('push')!;
const logic = REAL_PAYLOAD_LOGIC.find((l) => l.key === 'push')!;
const flow = mode === 'sync' ? realSyncFlow(logic) : realAsyncFlow(logic);
const dir = await mkdtemp(join(tmpdir(), 'thread-cpu-'));
await mkdir(join(dir, 'flows'));
await writeFile(join(dir, 'flows/push.yaml'), flow);
await writeFile(join(dir, 'hooks.config.yaml'), 'storage: { url: sqlite://data/hooks.db }\n');
const args = server === 'bare' ? ['--import', 'tsx', 'bench/servers/bare.ts'] : ['engine/cli/hooks.mjs', 'serve', '--config', join(dir, 'hooks.config.yaml'), '--port', String(PORT), '--host', '127.0.0.1'];
const child = spawn('taskset', ['-c', '0', process.execPath, ...args], { env: { ...process.env, PORT: String(PORT) }, stdio: ['ignore', 'ignore', 'inherit'] });
await new Promise((r) => setTimeout(r, 4_000));
const url = server === 'bare' ? `http://127.0.0.1:${PORT}/push/${mode}` : `http://127.0.0.1:${PORT}/hooks${/path: (\S+)/.exec(flow)![1]}`;
const load = (duration: number) => autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 32, duration });

/** clock ticks (1/100 s) of user and system time, by thread */
async function ticks(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const root = `/proc/${child.pid}/task`;
  for (const task of await readdir(root)) {
    const stat = await readFile(`${root}/${task}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(`${task} ${(await readFile(`${root}/${task}/comm`, 'utf8')).trim()}`, Number(fields[11]) + Number(fields[12]));
  }
  return out;
}

await load(2);
const before = await ticks();
const result = await load(Number(process.env.SECONDS ?? 6));
const after = await ticks();
const used = [...after].map(([thread, t]) => [thread, t - (before.get(thread) ?? 0)] as const).filter(([, t]) => t > 0);
const total = used.reduce((sum, [, t]) => sum + t, 0);
console.log(`${server} ${mode}: ${Math.round(result.requests.average)} req/s, ${Math.round((total * 10_000) / result.requests.total)} µs CPU a request, all threads`);
for (const [thread, t] of used) console.log(`  ${thread.padEnd(24)} ${t} ticks`);
child.kill('SIGTERM');
await rm(dir, { recursive: true, force: true });
