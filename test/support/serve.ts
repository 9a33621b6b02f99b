import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const BIN = fileURLToPath(new URL('../../engine/cli/hooks.mjs', import.meta.url));

/**
 * `hooks serve` in a process of its own on 127.0.0.1:`port`; `args` come before the config (`--no-watch`), `env` over
 * the test's; `logs`, when given, receives every line the process prints (stdout and stderr), as a user would see it.
 */
export function spawnServe(config: string, port: number, options: { args?: string[]; env?: Record<string, string>; logs?: string[] } = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'serve', ...(options.args ?? []), '--config', config, '--port', String(port), '--host', '127.0.0.1'], {
    stdio: options.logs ? ['ignore', 'pipe', 'pipe'] : 'ignore',
    env: { ...process.env, ...options.env },
  });
  const { logs } = options;
  if (logs) for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => logs.push(line));
  return child;
}

/** Resolves once `/readyz` answers 200: flows loaded and storage open. */
export async function waitReady(url: string, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return;
  }
  throw new Error(`${url} did not become ready within ${timeoutMs} ms`);
}
