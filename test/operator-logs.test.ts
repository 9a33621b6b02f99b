import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { scratchDir } from './support/files.ts';
import { freePort } from './support/prism.ts';
import { spawnServe, waitReady } from './support/serve.ts';

/** What `hooks serve` prints to a user: the message of each log line (pino JSON), or the raw line. */
const messages = (logs: string[]) =>
  logs.map((line) => {
    try {
      return String(JSON.parse(line).msg);
    } catch {
      return line;
    }
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForLine(logs: string[], what: RegExp, after = 0, timeoutMs = 15_000): Promise<string> {
  for (const end = Date.now() + timeoutMs; ; await sleep(25)) {
    const found = messages(logs.slice(after)).find((m) => what.test(m));
    if (found) return found;
    if (Date.now() > end) throw new Error(`no log line matching ${what} within ${timeoutMs} ms; got:\n${messages(logs).join('\n')}`);
  }
}

function greet(version: string): string {
  return `version: 1\nid: greet\ntrigger: { path: /greet }\nmode: sync\nsteps:\n  - id: answer\n    respond: { status: 200, body: { version: ${version} } }\n`;
}

// a good flow, then the same flow with an unknown step kind on line 6: its error names that line whatever follows it
const GOOD_OTHER = `version: 1\nid: other\ntrigger: { path: /other }\nmode: sync\nsteps:\n  - id: answer\n    respond: { status: 200, body: { ok: true } }\n`;
const BROKEN_OTHER = `version: 1\nid: other\ntrigger: { path: /other }\nmode: sync\nsteps:\n  - id: answer\n    sned: { status: 200 }\n`;

const PROMO_CODE = 'promo-s3cret-4471';

/** One message on each outbox channel; the SMS text carries a value from ${env:}, which no log may print. */
const NOTIFY = `version: 1
id: notify
trigger: { path: /notify }
mode: sync
steps:
  - id: text
    send: { channel: sms, to: "+14155552671", text: "Hi {{ body.name }}, your code is \${env:PROMO_CODE}.\\nSee you." }
  - id: call
    send: { channel: voice, to: "+14155552671", say: "Hello {{ body.name }}, your booking is confirmed." }
  - id: callback
    send: { channel: voice, to: "+14155552671", url: "https://twiml.example.com/booking.xml" }
  - id: mail
    send: { channel: email, to: ann@example.com, subject: "Booking {{ body.ref }}", text: "Dear {{ body.name }}, booking {{ body.ref }} is yours.", html: "<p>booking</p>" }
`;

describe('hooks serve: what the operator reads in the log', () => {
  const logs: string[] = [];
  let child: ChildProcess;
  let url: string;
  let dir: Awaited<ReturnType<typeof scratchDir>>;

  beforeAll(async () => {
    dir = await scratchDir('hooks-operator-');
    await dir.write('flows/greet.yaml', greet('v1'));
    await dir.write('flows/other.yaml', GOOD_OTHER);
    await dir.write('flows/notify.yaml', NOTIFY);
    // as the repository's config: the admin token comes from the environment, here unset
    await dir.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\nadmin: { token: "${env:HOOKS_ADMIN_TOKEN}" }\n');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawnServe(join(dir.dir, 'hooks.config.yaml'), port, { env: { HOOKS_ADMIN_TOKEN: '', PROMO_CODE }, logs });
    await waitReady(url, 30_000);
  }, 40_000);

  afterAll(async () => {
    if (child?.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await dir?.remove();
  });

  it('says once at start-up that the admin API is off and how to turn it on', async () => {
    const line = await waitForLine(logs, /^admin API off/);
    expect(line).toMatch(/^admin API off: set HOOKS_ADMIN_TOKEN \(admin\.token in \S*hooks\.config\.yaml\) to turn on \/api \(webhook log, replay, contacts, messages\)$/);
    expect(messages(logs).filter((m) => m.startsWith('admin API off'))).toHaveLength(1);
    const res = await fetch(`${url}/api/logs`);
    expect(res.status).toBe(404);
  });

  it('prints what each outbox message says, with the flow secrets taken out', async () => {
    const res = await fetch(`${url}/hooks/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ann', ref: 'B-7' }) });
    expect(res.status).toBe(200);
    const sms = await waitForLine(logs, /^outbox: sms to /);
    expect(sms).toBe('outbox: sms to +14155552671, not sent (outbox mode): text "Hi Ann, your code is [redacted].\\nSee you."');
    expect(await waitForLine(logs, /^outbox: voice .*say/)).toBe('outbox: voice to +14155552671, not sent (outbox mode): say "Hello Ann, your booking is confirmed."');
    expect(await waitForLine(logs, /^outbox: voice .*url/)).toBe('outbox: voice to +14155552671, not sent (outbox mode): url "https://twiml.example.com/booking.xml"');
    expect(await waitForLine(logs, /^outbox: email /)).toBe(
      'outbox: email to ann@example.com, not sent (outbox mode): subject "Booking B-7" text "Dear Ann, booking B-7 is yours." html (14 characters)',
    );
    expect(logs.join('\n')).not.toContain(PROMO_CODE);
  });

  it('names a failing file and its first error on every reload, also when an edit leaves the error as it was', async () => {
    const other = join(dir.dir, 'flows/other.yaml');
    let mark = logs.length;
    await writeFile(other, BROKEN_OTHER);
    const broken = await waitForLine(logs, /^flow not loaded: /, mark);
    expect(broken).toMatch(/^flow not loaded: \S*other\.yaml:7:5 steps\[0\]\.sned: .*; revision [0-9a-f]{12} of flow "other" stays live$/);
    await waitForLine(logs, /^flows reloaded .* 1 failing \(\S*other\.yaml\)$/, mark);

    // an edit that keeps the error: the error is named again, the last good revision stays live
    mark = logs.length;
    await appendFile(other, '# still broken\n');
    const still = await waitForLine(logs, /^flow still not loaded: /, mark);
    expect(still).toMatch(/^flow still not loaded: \S*other\.yaml:7:5 steps\[0\]\.sned: .*; revision [0-9a-f]{12} of flow "other" stays live$/);
    expect(still.slice(still.indexOf(':7:5'))).toBe(broken.slice(broken.indexOf(':7:5')));
    expect(await waitForLine(logs, /^flows reloaded /, mark)).toMatch(/ 3 live, \+0 ~0 -0, 1 failing \(\S*other\.yaml\)$/);
    expect((await fetch(`${url}/hooks/other`, { method: 'POST' })).status).toBe(200);

    // a reload for another file names it too
    mark = logs.length;
    await writeFile(join(dir.dir, 'flows/greet.yaml'), greet('v2'));
    await waitForLine(logs, /^flow greet reloaded: revision /, mark);
    expect(await waitForLine(logs, /^flow still not loaded: /, mark)).toMatch(/other\.yaml:7:5 steps\[0\]\.sned: /);
    expect(await waitForLine(logs, /^flows reloaded /, mark)).toMatch(/ 3 live, \+0 ~1 -0, 1 failing \(\S*other\.yaml\)$/);
  });

  it('says when a reload on SIGHUP is done, with the flows live and failing', async () => {
    const mark = logs.length;
    child.kill('SIGHUP');
    expect(await waitForLine(logs, /^reload on SIGHUP done/, mark)).toMatch(/^reload on SIGHUP done in \d+ ms: 3 flows live, 1 failing$/);
    const after = messages(logs.slice(mark));
    // the failing file is named before the line that closes the reload
    const named = after.findIndex((m) => /^flow still not loaded: \S*other\.yaml:7:5 /.test(m));
    expect(named).toBeGreaterThan(-1);
    expect(named).toBeLessThan(after.findIndex((m) => m.startsWith('reload on SIGHUP done')));
  });
});

describe('stopping the engine', () => {
  it('a repeated SIGINT (Ctrl-C under npm start reaches it twice) does not cut the shutdown short', { timeout: 40_000 }, async () => {
    const dir = await scratchDir('hooks-stop-');
    try {
      await dir.write('flows/greet.yaml', greet('v1'));
      await dir.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\n');
      const port = await freePort();
      const logs: string[] = [];
      const child = spawnServe(join(dir.dir, 'hooks.config.yaml'), port, { logs });
      const exited = once(child, 'exit');
      await waitReady(`http://127.0.0.1:${port}`, 30_000);
      // no admin section, no config reference to name: the notice says where the token goes
      expect(await waitForLine(logs, /^admin API off/)).toMatch(/^admin API off: set admin\.token in \S*hooks\.config\.yaml to turn on \/api /);
      child.kill('SIGINT');
      await sleep(5);
      child.kill('SIGINT');
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(messages(logs)).toContain('stopped');
    } finally {
      await dir.remove();
    }
  });

  it('kill -TERM of the npm start process stops the engine too', { timeout: 60_000 }, async () => {
    const dir = await scratchDir('hooks-npm-');
    try {
      await dir.write('flows/greet.yaml', greet('v1'));
      await dir.write('hooks.config.yaml', 'storage: { url: sqlite://data/hooks.db }\n');
      const port = await freePort();
      const root = fileURLToPath(new URL('..', import.meta.url));
      const npm = spawn('npm', ['start', '--silent', '--', '--config', join(dir.dir, 'hooks.config.yaml'), '--port', String(port), '--host', '127.0.0.1'], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const logs: string[] = [];
      createInterface({ input: npm.stdout! }).on('line', (line) => logs.push(line));
      const npmExited = once(npm, 'exit');
      await waitReady(`http://127.0.0.1:${port}`, 45_000);
      const enginePid = JSON.parse(logs.find((l) => l.startsWith('{'))!).pid as number;
      expect(enginePid).not.toBe(npm.pid);
      npm.kill('SIGTERM');
      await npmExited;
      const alive = () => {
        try {
          process.kill(enginePid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (const end = Date.now() + 10_000; alive() && Date.now() < end; ) await sleep(50);
      const left = alive();
      if (left) process.kill(enginePid, 'SIGKILL');
      expect(left).toBe(false);
      expect(messages(logs)).toContain('stopped');
    } finally {
      await dir.remove();
    }
  });
});
