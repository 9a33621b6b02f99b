import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

/**
 * twilio-node and nodemailer are loaded by the first driver that needs them, not at start: a fresh process (this
 * one's module cache is shared with whatever else the test runner loaded) reports which of them it holds.
 */
const loaded = `
  const loaded = () => Object.keys(require.cache).map((f) => /node_modules\\/(twilio|nodemailer)\\//.exec(f)?.[1]).filter(Boolean);
  const names = () => [...new Set(loaded())].sort().join(',') || 'none';
`;

async function run(script: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
  return stdout.trim();
}

describe('channel drivers load their libraries on first use', () => {
  it('an engine without Twilio or SMTP channels never loads twilio or nodemailer', async () => {
    const out = await run(`
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      ${loaded}
      const { createDriver } = await import('./channels/index.ts');
      const { validTwilioSignature } = await import('./channels/twilio-status.ts');
      createDriver('sms', { driver: 'outbox' });
      createDriver('email', { driver: 'smtp', url: '', from: 'a@example.com' });
      validTwilioSignature([], 'signature', 'https://example.com/hooks/_status/twilio', {});
      console.log(names());
    `);
    expect(out).toBe('none');
  });

  it('a Twilio or SMTP channel loads its library when its driver is built', async () => {
    const out = await run(`
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      ${loaded}
      const { createDriver } = await import('./channels/index.ts');
      const sms = createDriver('sms', { driver: 'twilio-sms', accountSid: 'AC' + '0'.repeat(32), authToken: 'token', from: '+15005550006', baseUrl: 'http://127.0.0.1:9' });
      const after = names();
      createDriver('email', { driver: 'smtp', url: 'smtp://127.0.0.1:2525', from: 'a@example.com' });
      console.log(sms.driver, after, names());
    `);
    expect(out).toBe('twilio-sms twilio nodemailer,twilio');
  });
});
