import { main } from '../../engine/cli/main.ts';

/** Runs the `hooks` command in-process with a working directory and environment, capturing what it prints. */
export async function runHooks(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const savedCwd = process.cwd();
  const savedEnv = { ...process.env };
  try {
    if (opts.cwd) process.chdir(opts.cwd);
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.chdir(savedCwd);
    process.env = savedEnv;
  }
}
