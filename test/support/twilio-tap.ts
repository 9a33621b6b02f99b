/**
 * A Twilio double that keeps state: a small real HTTP server in front of Prism (Twilio's own OpenAPI spec). A
 * message or call created through it is forwarded to Prism, which checks the request against the spec and answers
 * as Twilio would; the tap keeps what it saw created, gives each a SID of its own (Prism answers the spec's one
 * example), and answers list requests (`GET .../Messages.json?To=&From=`, `.../Calls.json`) from what it kept,
 * newest first and in pages, as Twilio does. A creation counts once the tap has read it, before any answer: `delayMs` holds the
 * answer back, so a process killed meanwhile has had its message taken without knowing it. Loopback only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TapRecord {
  sid: string;
  kind: 'message' | 'call';
  to: string;
  from: string;
  body: string;
  created: Date;
}

export interface TwilioTap {
  url: string;
  /** every message and call created, in order */
  created: TapRecord[];
  /** list requests answered */
  lists: number;
  /** creations taken and not answered yet */
  pending: number;
  /** how long a creation's answer is held back */
  delayMs: number;
  close(): Promise<void>;
}

const LIST = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)\.json(\?.*)?$/;

export async function startTwilioTap(prism: string, options: { delayMs?: number } = {}): Promise<TwilioTap> {
  const upstream = new URL(prism);
  let next = 0;
  const tap: TwilioTap = { url: '', created: [], lists: 0, pending: 0, delayMs: options.delayMs ?? 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const route = LIST.exec(req.url ?? '');
      if (route && req.method === 'GET') return answerList(tap, route[1], route[2] as 'Messages' | 'Calls', new URLSearchParams(route[3] ?? ''), res);
      const record = route && req.method === 'POST' ? created(route[2] as 'Messages' | 'Calls', new URLSearchParams(body.toString('utf8')), ++next) : undefined;
      if (record) (tap.created.push(record), tap.pending++);
      forward(upstream, req, body, (status, headers, answer) => {
        const send = () => {
          if (record) tap.pending--;
          if (!record || status >= 300) return res.writeHead(status, headers).end(answer);
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(asTwilio(JSON.parse(answer.toString('utf8')), record)));
        };
        if (record && tap.delayMs > 0) setTimeout(send, tap.delayMs);
        else send();
      }, res);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tap.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tap.close = () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
  return tap;
}

function created(kind: 'Messages' | 'Calls', form: URLSearchParams, n: number): TapRecord {
  const prefix = kind === 'Messages' ? 'SM' : 'CA';
  return {
    sid: `${prefix}${n.toString(16).padStart(32, '0')}`,
    kind: kind === 'Messages' ? 'message' : 'call',
    to: form.get('To') ?? '',
    from: form.get('From') ?? '',
    body: form.get('Body') ?? '',
    created: new Date(),
  };
}

/** Prism's example answer, made this record's: its SID, parties, text and creation time. */
function asTwilio(example: Record<string, unknown>, record: TapRecord): Record<string, unknown> {
  const date = record.created.toUTCString().replace('GMT', '+0000');
  const own = { sid: record.sid, to: record.to, from: record.from, date_created: date, date_updated: date, status: 'queued' };
  return record.kind === 'message' ? { ...example, ...own, body: record.body, date_sent: null } : { ...example, ...own, start_time: null };
}

function answerList(tap: TwilioTap, account: string, kind: 'Messages' | 'Calls', query: URLSearchParams, res: http.ServerResponse): void {
  tap.lists++;
  const to = query.get('To');
  const from = query.get('From');
  const size = Number(query.get('PageSize') ?? 50);
  const page = Number(query.get('Page') ?? 0);
  const matching = tap.created.filter((r) => r.kind === (kind === 'Messages' ? 'message' : 'call') && (!to || r.to === to) && (!from || r.from === from)).reverse();
  const shown = matching.slice(page * size, (page + 1) * size).map((r) => asTwilio({ account_sid: account, api_version: '2010-04-01', direction: 'outbound-api' }, r));
  const uri = `/2010-04-01/Accounts/${account}/${kind}.json`;
  const pageUri = (n: number) => `${uri}?${new URLSearchParams({ ...(to ? { To: to } : {}), ...(from ? { From: from } : {}), PageSize: String(size), Page: String(n) })}`;
  const next = matching.length > (page + 1) * size ? pageUri(page + 1) : null;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ [kind.toLowerCase()]: shown, end: page * size + shown.length - 1, first_page_uri: pageUri(0), next_page_uri: next, page, page_size: size, previous_page_uri: page > 0 ? pageUri(page - 1) : null, start: page * size, uri: pageUri(page) }));
}

function forward(upstream: URL, req: http.IncomingMessage, body: Buffer, done: (status: number, headers: http.IncomingHttpHeaders, answer: Buffer) => void, res: http.ServerResponse): void {
  const call = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (answer) => {
    const parts: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => parts.push(chunk));
    answer.on('end', () => {
      const headers = { ...answer.headers };
      delete headers['content-length'];
      delete headers['transfer-encoding'];
      done(answer.statusCode ?? 502, headers, Buffer.concat(parts));
    });
  });
  call.on('error', (err) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`tap: ${err.message}`));
  call.end(body);
}
