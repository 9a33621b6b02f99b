/**
 * A tiny real HTTP server in front of Prism for retry tests: it answers the next requests with Twilio-style errors
 * from a plan (e.g. [503, 429]), then forwards the rest unchanged to Prism. Loopback only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Twilio's error codes for the statuses the tests use. */
const TWILIO_ERRORS: Record<number, { code: number; message: string }> = {
  400: { code: 21211, message: "The 'To' number is not a valid phone number." },
  401: { code: 20003, message: 'Authenticate' },
  429: { code: 20429, message: 'Too Many Requests' },
  500: { code: 20500, message: 'Internal Server Error' },
  503: { code: 20503, message: 'Service Unavailable' },
};

export interface FaultyTwilio {
  url: string;
  /** statuses to answer creations (POST) with, in order, before forwarding ('hang': never answer); set it before each test */
  plan: Array<number | 'hang'>;
  /** every request received: method, path and what it was answered with */
  hits: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export async function startFaultyTwilio(target: string): Promise<FaultyTwilio> {
  const upstream = new URL(target);
  const state: FaultyTwilio = { url: '', plan: [], hits: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // the faults are Twilio's in taking a message or call; lookups (a send being reconciled) go through
      const fault = req.method === 'POST' ? state.plan.shift() : undefined;
      if (fault === 'hang') {
        state.hits.push({ method: req.method ?? '', path: req.url ?? '', status: 0 });
        return; // the caller times out; close() drops the connection
      }
      if (fault !== undefined) {
        state.hits.push({ method: req.method ?? '', path: req.url ?? '', status: fault });
        const error = TWILIO_ERRORS[fault] ?? { code: 20000 + fault, message: `HTTP ${fault}` };
        res.writeHead(fault, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: error.code, message: error.message, more_info: `https://www.twilio.com/docs/errors/${error.code}`, status: fault }));
        return;
      }
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          state.hits.push({ method: req.method ?? '', path: req.url ?? '', status: answer.statusCode ?? 0 });
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
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
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
