import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cp, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { scratchDir } from './support/files.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const VERSION = "io.out('hooks 0.1.0');";

/** `hooks` run from a copy of the sources: what a developer who edits a .ts file and starts again gets */
describe('the hooks command compiles the sources at start', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  let main: string;
  const hooks = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(dir.dir, 'engine/cli/hooks.mjs'), ...args]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );

  beforeAll(async () => {
    dir = await scratchDir();
    for (const part of ['engine', 'channels', 'schemas', 'tsconfig.json', 'package.json']) await cp(join(root, part), join(dir.dir, part), { recursive: true });
    await symlink(join(root, 'node_modules'), join(dir.dir, 'node_modules'));
    main = join(dir.dir, 'engine/cli/main.ts');
  });
  afterAll(() => dir.remove());

  it('runs an edited source as edited, and names its .ts file and line in a stack trace', async () => {
    expect(await hooks('--version')).toMatchObject({ code: 0, stdout: 'hooks 0.1.0\n' });

    const source = await readFile(main, 'utf8');
    expect(source).toContain(VERSION);
    await writeFile(main, source.replace(VERSION, "throw new Error('edited');"));
    const line = source.slice(0, source.indexOf(VERSION)).split('\n').length;
    const failed = await hooks('--version');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Error: edited');
    expect(failed.stderr).toMatch(new RegExp(`at main \\(${main.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+\\)`));

    await writeFile(main, source);
    expect(await hooks('--version')).toMatchObject({ code: 0, stdout: 'hooks 0.1.0\n' });
  });

  it('refuses a source that does not compile, saying where', async () => {
    const source = await readFile(main, 'utf8');
    await writeFile(main, `${source}\nconst broken: number = ;\n`);
    try {
      const failed = await hooks('--version');
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('engine/cli/main.ts:');
      expect(failed.stderr).toContain('Unexpected ";"');
    } finally {
      await writeFile(main, source);
    }
  });
});
