import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const GOOD = 'version: 1\nid: good\ntrigger: { path: /good }\n';
const BAD = 'version: 1\nid: bad\ntrigger: { path: /bad }\nsteps:\n  - id: call\n    http:\n      url: "https://api.example.com/{{ vars.id"\n';

describe('hooks validate', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    dir = await scratchDir();
    await dir.write('project/hooks.config.yaml', 'flows: { dir: my-flows }\nchannels: { sms: { driver: outbox } }\n');
    await dir.write('project/my-flows/good.yaml', GOOD);
    await dir.write('elsewhere/bad.yaml', BAD);
  });
  afterAll(() => dir.remove());

  it('passes on the shipped example flows', async () => {
    const result = await runHooks(['validate', 'flows'], { cwd: root });
    expect(result.err).toBe('');
    expect(result.out).toBe('5 files checked: 5 valid, 0 with problems');
    expect(result.code).toBe(0);
  });

  it('runs as the installed `hooks` command and exits 1 on a broken file', async () => {
    const bin = fileURLToPath(new URL('../engine/cli/hooks.mjs', import.meta.url));
    const run = promisify(execFile)(process.execPath, [bin, 'validate', `${dir.dir}/elsewhere/bad.yaml`], { cwd: dir.dir });
    const failure = await run.then(() => undefined, (err: { code: number; stdout: string }) => err);
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain('elsewhere/bad.yaml:7:12 steps[0].http.url: template "{{ vars.id" is not closed: add "}}"');
  });

  it('defaults to the flows folder of the config, resolved against the config file, given by --config or HOOKS_CONFIG', async () => {
    const byFlag = await runHooks(['validate', '--config', 'project/hooks.config.yaml'], { cwd: dir.dir });
    expect(byFlag).toMatchObject({ code: 0, out: '1 file checked: 1 valid, 0 with problems' });
    const byEnv = await runHooks(['validate'], { cwd: dir.dir, env: { HOOKS_CONFIG: 'project/hooks.config.yaml' } });
    expect(byEnv).toMatchObject({ code: 0, out: '1 file checked: 1 valid, 0 with problems' });
  });

  it('prints GitHub annotations that point at the line', async () => {
    const result = await runHooks(['validate', '--format', 'github', 'elsewhere/bad.yaml'], { cwd: dir.dir });
    expect(result.code).toBe(1);
    expect(result.out).toBe('::error file=elsewhere/bad.yaml,line=7,col=12,title=hooks validate::steps[0].http.url: template "{{ vars.id" is not closed: add "}}"');
  });

  it('prints JSON for tools', async () => {
    const result = await runHooks(['validate', '--format', 'json', 'elsewhere/bad.yaml', 'project/my-flows'], { cwd: dir.dir });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out);
    expect(report.valid).toBe(false);
    expect(report.files).toEqual([
      { file: 'elsewhere/bad.yaml', valid: false, flow: null, problems: [expect.objectContaining({ line: 7, col: 12, path: 'steps[0].http.url' })] },
      { file: 'project/my-flows/good.yaml', valid: true, flow: 'good', problems: [] },
    ]);
  });

  it('reports a broken config with its position and exit code 2', async () => {
    await dir.write('broken.config.yaml', 'server:\n  prot: 8080\n');
    const result = await runHooks(['validate', '--config', 'broken.config.yaml'], { cwd: dir.dir });
    expect(result.code).toBe(2);
    expect(result.err).toBe('broken.config.yaml:2:3 server.prot: unknown property "prot" (did you mean "port"?); allowed here: host, port, basePath, bodyLimit, requestTimeout, publicUrl, trustProxy');
  });

  it('says so when a path does not exist, and when the format is unknown', async () => {
    expect(await runHooks(['validate', 'nope.yaml'], { cwd: dir.dir })).toMatchObject({ code: 1, out: 'nope.yaml:1:1 no such file or folder\n0 files checked: 0 valid, 0 with problems' });
    expect(await runHooks(['validate', '--format', 'xml'], { cwd: dir.dir })).toMatchObject({ code: 2, err: 'hooks validate: --format must be one of text, json, github' });
  });
});
