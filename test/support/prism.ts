/**
 * Test support for the Twilio drivers: a real Prism mock server on Twilio's own OpenAPI spec, and a real
 * recording HTTP proxy (what `baseUrl` is for) that forwards to it and keeps every request and answer for
 * assertions. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const prismBin = path.join(repoRoot, 'node_modules', '.bin', 'prism');

/** A free loopback port: listen on 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * OpenAPI 3 says form-urlencoded properties default to style=form, explode=true: an array is sent as repeated
 * keys (MediaUrl=a&MediaUrl=b), which is what twilio-node sends and Twilio accepts. Prism 5.14 only applies
 * that when the spec spells out an `encoding` entry (stoplightio/prism#2473); without it every array property
 * fails with "must be array". This writes a copy of the spec with those defaults made explicit, nothing else
 * changed, so all other validation stays as strict as the original.
 */
export async function withExplicitFormArrayEncoding(spec: string, dir: string): Promise<{ path: string; patched: number }> {
  const doc = parseDocument(await readFile(spec, 'utf8'), { uniqueKeys: false });
  const root = doc.toJS({ maxAliasCount: -1 }) as { paths?: Record<string, Record<string, unknown>> };
  let patched = 0;
  for (const item of Object.values(root.paths ?? {})) {
    for (const operation of Object.values(item ?? {})) {
      const content = (operation as { requestBody?: { content?: Record<string, { schema?: unknown; encoding?: Record<string, unknown> }> } })
        ?.requestBody?.content?.['application/x-www-form-urlencoded'];
      const properties = (content?.schema as { properties?: Record<string, { type?: string }> } | undefined)?.properties;
      if (!content || !properties) continue;
      for (const [name, schema] of Object.entries(properties)) {
        if (schema?.type !== 'array') continue;
        content.encoding ??= {};
        if (!content.encoding[name]) {
          content.encoding[name] = { style: 'form', explode: true };
          patched++;
        }
      }
    }
  }
  const out = path.join(dir, path.basename(spec).replace(/\.ya?ml$/, '') + '.form-arrays.json');
  await writeFile(out, JSON.stringify(root));
  return { path: out, patched };
}

export interface Prism {
  url: string;
  port: number;
  /** Milliseconds from spawn until Prism answered its first request. */
  startupMs: number;
  /** Everything Prism printed so far (its request log and validation messages). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `prism mock <spec> -p <free port> -h 127.0.0.1` on the spec (with form array encodings made explicit,
 * see withExplicitFormArrayEncoding) and waits until it answers HTTP.
 */
export async function startPrism(originalSpec: string, timeoutMs = 55_000): Promise<Prism> {
  if (!existsSync(originalSpec)) throw new Error(`OpenAPI spec not found at ${originalSpec} (shared/ must sit beside the repo)`);
  if (!existsSync(prismBin)) throw new Error(`prism not installed at ${prismBin}`);
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prism-spec-'));
  const { path: spec } = await withExplicitFormArrayEncoding(originalSpec, dir);
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [prismBin, 'mock', spec, '-p', String(port), '-h', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  let exited: number | string | null | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exited = code ?? signal), resolve())));

  const stop = async () => {
    if (exited !== undefined) return void (await rm(dir, { recursive: true, force: true }));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  while (true) {
    if (exited !== undefined) throw new Error(`prism exited (${exited}) before listening:\n${output.slice(-2000)}`);
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`prism did not answer within ${timeoutMs} ms:\n${output.slice(-2000)}`);
    }
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1_000) }); // any HTTP answer (404 for /) means it is up
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { url, port, startupMs: Date.now() - started, output: () => output, stop };
}

export interface RecordedExchange {
  method: string;
  /** Path as received, prefix included. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The request body as a form (Twilio posts application/x-www-form-urlencoded). */
  form: URLSearchParams;
  /** What the upstream (Prism) answered. */
  status: number;
  responseBody: string;
}

export interface RecordingProxy {
  url: string;
  requests: RecordedExchange[];
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on 127.0.0.1: strips `prefix` from the path, forwards the request unchanged to `target`,
 * relays the answer and records both.
 */
export async function startRecordingProxy(target: string, prefix = ''): Promise<RecordingProxy> {
  const requests: RecordedExchange[] = [];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const receivedPath = req.url ?? '/';
      const forwardPath = prefix && receivedPath.startsWith(prefix) ? receivedPath.slice(prefix.length) || '/' : receivedPath;
      const headers = { ...req.headers, host: upstream.host };
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: forwardPath, headers },
        (answer) => {
          const out: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => out.push(chunk));
          answer.on('end', () => {
            const responseBody = Buffer.concat(out).toString('utf8');
            requests.push({
              method: req.method ?? '',
              path: receivedPath,
              headers: req.headers,
              body: body.toString('utf8'),
              form: new URLSearchParams(body.toString('utf8')),
              status: answer.statusCode ?? 0,
              responseBody,
            });
            const relayed = { ...answer.headers };
            delete relayed['transfer-encoding'];
            relayed['content-length'] = String(Buffer.byteLength(responseBody));
            res.writeHead(answer.statusCode ?? 502, relayed);
            res.end(responseBody);
          });
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
