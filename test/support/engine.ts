import { loadConfig } from '../../engine/config/load.ts';
import { startEngine, type Engine, type EngineOptions } from '../../engine/server/engine.ts';
import { scratchDir } from './files.ts';

export interface TestEngine extends Engine {
  dir: string;
  request(path: string, init?: RequestInit & { json?: unknown; form?: Record<string, string> }): Promise<{ status: number; headers: Headers; text: string; body: unknown }>;
  admin(path: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
  /** the engine's log lines (JSON), when started with `captureLogs` */
  logs: string[];
}

export interface TestEngineOptions extends Pick<EngineOptions, 'watch' | 'debounceMs' | 'onReload'> {
  /** runs after the files are written and before the engine starts (e.g. to lay out symlinks) */
  setup?(dir: string): Promise<void>;
  /** keep the engine's log lines in `logs` */
  captureLogs?: boolean;
}

export const ADMIN_TOKEN = 'test-admin-token';

/** Starts a real engine on a free loopback port with its own SQLite file, the given flows and config lines. */
export async function startTestEngine(flows: Record<string, string>, configYaml = '', env: Record<string, string> = {}, options: TestEngineOptions = {}): Promise<TestEngine> {
  const scratch = await scratchDir('hooks-engine-');
  for (const [name, text] of Object.entries(flows)) await scratch.write(`flows/${name}`, text);
  await scratch.write('hooks.config.yaml', `storage: { url: sqlite://data/hooks.db }\nadmin: { token: ${ADMIN_TOKEN} }\n${configYaml}`);
  const loaded = await loadConfig(`${scratch.dir}/hooks.config.yaml`, env, scratch.dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  await options.setup?.(scratch.dir);
  const logs: string[] = [];
  const logger = options.captureLogs ? { level: 'info', stream: { write: (line: string) => logs.push(line) } } : false;
  const { setup: _setup, captureLogs: _capture, ...engineOptions } = options;
  const engine = await startEngine(loaded.config, { port: 0, host: '127.0.0.1', logger, env, ...engineOptions });
  return {
    ...engine,
    dir: scratch.dir,
    logs,
    async request(path, init = {}) {
      const headers = new Headers(init.headers);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      }
      if (init.form) {
        body = new URLSearchParams(init.form).toString();
        headers.set('content-type', 'application/x-www-form-urlencoded');
      }
      const res = await fetch(`${engine.url}${path}`, { ...init, headers, body, method: init.method ?? (body ? 'POST' : 'GET') });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    async admin(path) {
      const res = await fetch(`${engine.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return { status: res.status, body: await res.json() };
    },
    async stop() {
      await engine.close();
      await scratch.remove();
    },
  };
}
