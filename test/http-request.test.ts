import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { redactUrl, sendRequest, type OutgoingRequest } from '../engine/http/request.ts';
import { AddressGuard, classifyAddress } from '../engine/http/address-guard.ts';

// Every server here listens on 127.0.0.1; no test sends traffic anywhere else.

interface Hit {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}
interface TestServer {
  url: string;
  port: number;
  hits: Hit[];
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, hit: Hit) => void;

const running: http.Server[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  timers.splice(0).forEach(clearInterval);
  await Promise.all(
    running.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

async function startServer(handler: Handler): Promise<TestServer> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const hit = { method: req.method!, path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString() };
      hits.push(hit);
      handler(req, res, hit);
    });
  });
  running.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, hits };
}

const json = (res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
};
const redirect = (res: http.ServerResponse, status: number, location: string) => {
  res.writeHead(status, { location });
  res.end();
};

const base: Omit<OutgoingRequest, 'url'> = {
  method: 'GET',
  timeoutMs: 5000,
  maxResponseBytes: 1_000_000,
  maxRedirects: 5,
  allowPrivateNetworks: false,
  allowList: ['127.0.0.1'],
};

describe('sendRequest: success', () => {
  it('GET sends query and headers and parses the JSON answer', async () => {
    const server = await startServer((_req, res) => json(res, 200, { hello: 'world' }, { 'x-reply': 'yes' }));
    const result = await sendRequest({
      ...base,
      url: `${server.url}/items?existing=1`,
      query: { a: 1, tags: ['x', 'y'], filter: { k: 'v' }, skipped: undefined, text: 'hé & =' },
      headers: { 'X-Api-Key': 'key-1' },
    });

    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, status: 200, body: { hello: 'world' } });
    expect(result.headers['x-reply']).toBe('yes');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    const [hit] = server.hits;
    expect(hit.method).toBe('GET');
    expect(hit.path).toBe('/items');
    expect(hit.query.get('existing')).toBe('1');
    expect(hit.query.get('a')).toBe('1');
    expect(hit.query.getAll('tags')).toEqual(['x', 'y']);
    expect(hit.query.get('filter')).toBe('{"k":"v"}');
    expect(hit.query.get('text')).toBe('hé & =');
    expect(hit.query.has('skipped')).toBe(false);
    expect(hit.headers['x-api-key']).toBe('key-1');
    expect(hit.headers.accept).toBe('application/json');
    expect(hit.body).toBe('');
  });

  it('POST sends a JSON body', async () => {
    const server = await startServer((_req, res) => json(res, 201, { id: 7 }));
    const result = await sendRequest({ ...base, method: 'post', url: `${server.url}/bookings`, body: { name: 'Ann', items: [1, 2] } });

    expect(result).toMatchObject({ ok: true, status: 201, body: { id: 7 } });
    const [hit] = server.hits;
    expect(hit.method).toBe('POST');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(JSON.parse(hit.body)).toEqual({ name: 'Ann', items: [1, 2] });
  });

  it('sends a form body', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    const result = await sendRequest({
      ...base,
      method: 'POST',
      url: server.url,
      bodyType: 'form',
      body: { name: 'Ann Lee', tags: ['a', 'b'], meta: { vip: true } },
    });

    expect(result.ok).toBe(true);
    const [hit] = server.hits;
    expect(hit.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(hit.body);
    expect(form.get('name')).toBe('Ann Lee');
    expect(form.getAll('tags')).toEqual(['a', 'b']);
    expect(form.get('meta')).toBe('{"vip":true}');
  });

  it('accepts an empty answer as null in JSON mode', async () => {
    const server = await startServer((_req, res) => res.writeHead(204).end());
    const result = await sendRequest({ ...base, method: 'DELETE', url: `${server.url}/x/1` });
    expect(result).toMatchObject({ ok: true, status: 204, body: null });
    expect(server.hits[0].method).toBe('DELETE');
  });

  it('turns user:password in the URL into Basic auth and keeps it out of finalUrl', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    const result = await sendRequest({ ...base, url: `http://ann:pa%24s@127.0.0.1:${server.port}/` });
    expect(result.ok).toBe(true);
    expect(server.hits[0].headers.authorization).toBe(`Basic ${Buffer.from('ann:pa$s').toString('base64')}`);
    expect(result.finalUrl).toBe(`http://127.0.0.1:${server.port}/`);
  });
});

describe('sendRequest: errors', () => {
  it('MissingParameter for a missing url or method, without sending anything', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    for (const url of [undefined, '', '  ']) {
      const result = await sendRequest({ ...base, url });
      expect(result.ok).toBe(false);
      expect(result.error).toEqual({ kind: 'MissingParameter', message: 'url is missing' });
    }
    for (const method of [undefined, '']) {
      const result = await sendRequest({ ...base, method, url: server.url });
      expect(result.error).toEqual({ kind: 'MissingParameter', message: 'method is missing' });
    }
    expect(server.hits).toHaveLength(0);
  });

  it('BadRequest for a bad URL or an unsupported scheme', async () => {
    const bad = await sendRequest({ ...base, url: 'not a url?token=s3cret' });
    expect(bad.error?.kind).toBe('BadRequest');
    expect(bad.error?.message).toBe('url is not a valid absolute URL');

    const ftp = await sendRequest({ ...base, url: 'ftp://127.0.0.1/file' });
    expect(ftp.error).toEqual({ kind: 'BadRequest', message: 'url scheme ftp: is not supported (use http or https)' });
  });

  it('BadRequest for a bad header, without echoing its value and without sending anything', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    const injected = await sendRequest({ ...base, url: server.url, headers: { 'X-Token': 's3cret\r\nX-Injected: 1' } });
    expect(injected.error?.kind).toBe('BadRequest');
    expect(injected.error?.message).toContain('X-Token');
    expect(injected.error?.message).not.toContain('s3cret');

    const badName = await sendRequest({ ...base, url: server.url, headers: { 'Bad Header: s3cret': 'x' } });
    expect(badName.error?.kind).toBe('BadRequest');
    expect(badName.error?.message).not.toContain('s3cret');
    expect(server.hits).toHaveLength(0);
  });

  it('BadResponse for 404 and 500, keeping the answer body', async () => {
    const server = await startServer((req, res, hit) => {
      if (hit.path === '/missing') json(res, 404, { error: 'no such booking' });
      else res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    });
    const missing = await sendRequest({ ...base, url: `${server.url}/missing` });
    expect(missing).toMatchObject({ ok: false, status: 404, body: { error: 'no such booking' } });
    expect(missing.error?.kind).toBe('BadResponse');
    expect(missing.error?.message).toMatch(/^server answered 404/);

    const broken = await sendRequest({ ...base, url: `${server.url}/broken` });
    expect(broken).toMatchObject({ ok: false, status: 500, body: 'boom' });
    expect(broken.error?.message).toMatch(/^server answered 500/);
  });

  it('BadResponse for a 2xx answer that is not JSON when JSON is expected; text mode accepts it', async () => {
    const server = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi</p>'));
    const asJson = await sendRequest({ ...base, url: server.url });
    expect(asJson).toMatchObject({ ok: false, status: 200, body: '<p>hi</p>' });
    expect(asJson.error?.kind).toBe('BadResponse');
    expect(asJson.error?.message).toContain('not valid JSON');

    const asText = await sendRequest({ ...base, url: server.url, responseType: 'text' });
    expect(asText).toMatchObject({ ok: true, status: 200, body: '<p>hi</p>' });
    expect(asText.error).toBeUndefined();
  });

  it('BadResponse when nothing listens on the port', async () => {
    const server = await startServer(() => {});
    const closed = running.pop()!;
    await new Promise((resolve) => closed.close(resolve));
    const result = await sendRequest({ ...base, url: server.url });
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.error?.kind).toBe('BadResponse');
    expect(result.error?.message).toContain('ECONNREFUSED');
  });

  it('Timeout for a server that never answers', async () => {
    const server = await startServer(() => {}); // reads the request, never responds
    const started = Date.now();
    const result = await sendRequest({ ...base, url: `${server.url}/slow?token=s3cret`, timeoutMs: 200 });
    expect(result.error?.kind).toBe('Timeout');
    expect(result.error?.message).toBe(`no complete answer from ${server.url}/slow within 200 ms`);
    expect(result.status).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.hits).toHaveLength(1);
  });

  it('Timeout for a body that dribbles in past the deadline', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      let n = 0;
      const timer = setInterval(() => (++n >= 100 ? (clearInterval(timer), res.end('0]')) : res.write('0,')), 50); // ~5 s in all
      timers.push(timer);
    });
    const started = Date.now();
    const result = await sendRequest({ ...base, url: server.url, timeoutMs: 300 });
    expect(result.error?.kind).toBe('Timeout');
    expect(result.status).toBe(200); // the headers did arrive
    expect(result.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('BadResponse for a body over maxResponseBytes, streamed or announced', async () => {
    const server = await startServer((_req, res, hit) => {
      if (hit.path === '/announced') return json(res, 200, 'x'.repeat(998)); // 1000 bytes with its quotes
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no content-length
      res.write('"');
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed || sent > 50_000_000) return clearInterval(timer);
        sent += 64 * 1024;
        res.write('x'.repeat(64 * 1024));
      }, 1);
      timers.push(timer);
    });
    const streamed = await sendRequest({ ...base, url: `${server.url}/stream`, maxResponseBytes: 100_000 });
    expect(streamed.error).toEqual({ kind: 'BadResponse', message: 'response body over 100000 bytes' });
    expect(streamed.status).toBe(200);

    const atLimit = await sendRequest({ ...base, url: `${server.url}/announced`, maxResponseBytes: 1000 });
    expect(atLimit.ok).toBe(true);
    const overLimit = await sendRequest({ ...base, url: `${server.url}/announced`, maxResponseBytes: 999 });
    expect(overLimit.error).toEqual({ kind: 'BadResponse', message: 'response body over 999 bytes' });
  });

  it('keeps query values and header values out of errors and finalUrl', async () => {
    const server = await startServer((_req, res) => json(res, 404, {}));
    const result = await sendRequest({
      ...base,
      url: `${server.url}/hook?token=s3cret-q`,
      query: { key: 's3cret-k' },
      headers: { Authorization: 'Bearer s3cret-h' },
    });
    expect(result.error?.kind).toBe('BadResponse');
    expect(JSON.stringify(result.error)).not.toMatch(/s3cret/);
    expect(result.finalUrl).toBe(`${server.url}/hook?token=***&key=***`);
    expect(server.hits[0].query.get('token')).toBe('s3cret-q'); // the real request did carry them
  });
});

describe('sendRequest: address safety', () => {
  it('refuses loopback when private networks are not allowed, for IP literals and resolved names', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    const strict = { ...base, allowList: [] };

    const literal = await sendRequest({ ...strict, url: server.url });
    expect(literal.error).toEqual({
      kind: 'BadRequest',
      message: 'refused to call 127.0.0.1: loopback address (set http.allowPrivateNetworks or add it to http.allowList)',
    });
    const resolved = await sendRequest({ ...strict, url: `http://localhost:${server.port}/` });
    expect(resolved.error?.kind).toBe('BadRequest');
    expect(resolved.error?.message).toMatch(/^refused to call localhost \(127\.0\.0\.1\): loopback address/);
    const mapped = await sendRequest({ ...strict, url: `http://[::ffff:127.0.0.1]:${server.port}/` });
    expect(mapped.error?.message).toMatch(/^refused to call ::ffff:7f00:1: loopback address/);
    expect(server.hits).toHaveLength(0);

    const allowed = await sendRequest({ ...strict, allowPrivateNetworks: true, url: `http://localhost:${server.port}/` });
    expect(allowed.ok).toBe(true);
    expect(server.hits).toHaveLength(1);
  });

  it('refuses NAT64, IPv4-compatible, 6to4 and site-local literals before connecting', async () => {
    const strict = { ...base, allowList: [] };
    for (const [host, shown, label] of [
      ['[64:ff9b::127.0.0.1]', '64:ff9b::7f00:1', 'loopback address'],
      ['[::127.0.0.1]', '::7f00:1', 'loopback address'],
      ['[2002:c0a8:101::]', '2002:c0a8:101::', 'private network address'],
      ['[fec0::1]', 'fec0::1', 'private network address'],
    ]) {
      const result = await sendRequest({ ...strict, url: `http://${host}:9/` });
      expect(result.error).toEqual({
        kind: 'BadRequest',
        message: `refused to call ${shown}: ${label} (set http.allowPrivateNetworks or add it to http.allowList)`,
      });
    }
  });

  it('allowList matches CIDR ranges and exact host names', async () => {
    const server = await startServer((_req, res) => json(res, 200, {}));
    expect((await sendRequest({ ...base, allowList: ['127.0.0.0/8'], url: server.url })).ok).toBe(true);
    expect((await sendRequest({ ...base, allowList: ['localhost'], url: `http://localhost:${server.port}/` })).ok).toBe(true);
    expect(server.hits).toHaveLength(2);

    const outside = await sendRequest({ ...base, allowList: ['127.0.1.0/24', '10.0.0.0/8'], url: server.url });
    expect(outside.error?.message).toMatch(/^refused to call 127\.0\.0\.1/);
    const invalid = await sendRequest({ ...base, allowList: ['127.0.0.0/40'], url: server.url });
    expect(invalid.error).toEqual({ kind: 'BadRequest', message: 'http.allowList entry "127.0.0.0/40" is not a valid CIDR range' });
    expect(server.hits).toHaveLength(2);
  });

  it('re-checks every redirect hop: an allowed host cannot redirect to a loopback address off the list', async () => {
    const target = await startServer((_req, res) => json(res, 200, { reached: true }));
    const start = await startServer((_req, res) => redirect(res, 302, `http://127.0.0.1:${target.port}/target`));

    // `localhost` is allowed by name; the redirect goes to the IP 127.0.0.1, which is not on the list.
    const refused = await sendRequest({ ...base, allowList: ['localhost'], url: `http://localhost:${start.port}/go` });
    expect(refused.error?.kind).toBe('BadRequest');
    expect(refused.error?.message).toMatch(/^refused to call 127\.0\.0\.1: loopback address/);
    expect(refused.finalUrl).toBe(`http://127.0.0.1:${target.port}/target`);
    expect(start.hits).toHaveLength(1);
    expect(target.hits).toHaveLength(0);

    // The same redirect with the address on the list does reach the second server.
    const allowed = await sendRequest({ ...base, allowList: ['localhost', '127.0.0.1'], url: `http://localhost:${start.port}/go` });
    expect(allowed).toMatchObject({ ok: true, body: { reached: true } });
    expect(target.hits).toHaveLength(1);
  });

  it('refuses a redirect from an allowed 127.0.0.1 to 127.0.0.2', async () => {
    const start = await startServer((_req, res) => redirect(res, 307, 'http://127.0.0.2:9/elsewhere'));
    const result = await sendRequest({ ...base, url: start.url });
    expect(result.error).toEqual({
      kind: 'BadRequest',
      message: 'refused to call 127.0.0.2: loopback address (set http.allowPrivateNetworks or add it to http.allowList)',
    });
  });
});

describe('sendRequest: redirects', () => {
  it('follows redirects and reports the final URL', async () => {
    const server = await startServer((_req, res, hit) => {
      if (hit.path === '/start') redirect(res, 302, '/middle?step=2');
      else if (hit.path === '/middle') redirect(res, 301, `${server.url}/end`);
      else json(res, 200, { at: hit.path });
    });
    const result = await sendRequest({ ...base, url: `${server.url}/start` });
    expect(result).toMatchObject({ ok: true, status: 200, body: { at: '/end' }, finalUrl: `${server.url}/end` });
    expect(server.hits.map((h) => h.path)).toEqual(['/start', '/middle', '/end']);
  });

  it('303 turns a POST into a GET without body; 307 keeps both', async () => {
    const server = await startServer((_req, res, hit) => {
      if (hit.path === '/see-other') redirect(res, 303, '/result');
      else if (hit.path === '/temporary') redirect(res, 307, '/result');
      else json(res, 200, { method: hit.method });
    });
    const seeOther = await sendRequest({ ...base, method: 'POST', url: `${server.url}/see-other`, body: { a: 1 } });
    expect(seeOther).toMatchObject({ ok: true, body: { method: 'GET' } });
    const afterSeeOther = server.hits[1];
    expect(afterSeeOther).toMatchObject({ method: 'GET', path: '/result', body: '' });
    expect(afterSeeOther.headers['content-type']).toBeUndefined();

    const temporary = await sendRequest({ ...base, method: 'POST', url: `${server.url}/temporary`, body: { a: 1 } });
    expect(temporary).toMatchObject({ ok: true, body: { method: 'POST' } });
    expect(server.hits[3]).toMatchObject({ method: 'POST', path: '/result', body: '{"a":1}' });
  });

  it('refuses more than maxRedirects redirects', async () => {
    const server = await startServer((_req, res, hit) => redirect(res, 302, `/loop/${Number(hit.path.split('/')[2]) + 1}`));
    const result = await sendRequest({ ...base, url: `${server.url}/loop/0`, maxRedirects: 2 });
    expect(result.ok).toBe(false);
    expect(result.status).toBe(302);
    expect(result.error?.kind).toBe('BadResponse');
    expect(result.error?.message).toMatch(/^more than 2 redirects/);
    expect(server.hits.map((h) => h.path)).toEqual(['/loop/0', '/loop/1', '/loop/2']);

    const none = await sendRequest({ ...base, url: `${server.url}/loop/0`, maxRedirects: 0 });
    expect(none.error?.message).toMatch(/^more than 0 redirects/);
    expect(server.hits).toHaveLength(4);
  });

  it('drops Authorization when a redirect leaves the origin, keeps it within the origin', async () => {
    const other = await startServer((_req, res) => json(res, 200, {}));
    const server = await startServer((_req, res, hit) => {
      if (hit.path === '/same') redirect(res, 302, '/landing');
      else if (hit.path === '/away') redirect(res, 302, `${other.url}/landing`);
      else json(res, 200, {});
    });
    const headers = { Authorization: 'Bearer t0ken' };
    expect((await sendRequest({ ...base, url: `${server.url}/same`, headers })).ok).toBe(true);
    expect(server.hits[1].headers.authorization).toBe('Bearer t0ken');
    expect((await sendRequest({ ...base, url: `${server.url}/away`, headers })).ok).toBe(true);
    expect(other.hits[0].headers.authorization).toBeUndefined();
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const server = await startServer((_req, res) => redirect(res, 302, 'file:///etc/passwd'));
    const result = await sendRequest({ ...base, url: server.url });
    expect(result.error?.kind).toBe('BadResponse');
    expect(result.error?.message).toContain('unsupported file: URL');
  });
});

describe('redactUrl', () => {
  it('strips userinfo, query values and the fragment', () => {
    expect(redactUrl('https://user:pw@api.example.com/v1/x?token=abc&flag&b=2#frag')).toBe('https://api.example.com/v1/x?token=***&***&b=***');
    expect(redactUrl('https://api.example.com/v1/x')).toBe('https://api.example.com/v1/x');
    expect(redactUrl('not a url?token=abc')).toBe('not a url');
  });
});

describe('classifyAddress (pure, no traffic)', () => {
  it.each([
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['fc00::1', 'private'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['127.0.0.2', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['2606:4700::1111', 'public'],
    // IPv6 forms that carry an IPv4 address are judged by it; site-local is private.
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b:1::a9fe:a9fe', 'link-local'],
    ['::127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0:192.168.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:0101::', 'private'],
    ['2002:a9fe:a9fe:1::5', 'link-local'],
    ['fec0::1', 'private'],
    ['64:ff9b::808:808', 'public'],
    ['::8.8.8.8', 'public'],
    ['2002:0808:0808::', 'public'],
    ['2002:0808:0808:1::5', 'public'],
  ])('%s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it('rejects something that is not an IP', () => {
    expect(() => classifyAddress('example.com')).toThrow(TypeError);
  });
});

describe('AddressGuard.refusal (pure, no traffic)', () => {
  const strict = new AddressGuard({ allowPrivateNetworks: false, allowList: [] });
  const hint = '(set http.allowPrivateNetworks or add it to http.allowList)';

  it('refuses embedded private IPv4 and site-local addresses with the usual message', () => {
    expect(strict.refusal('64:ff9b::7f00:1')).toBe(`refused to call 64:ff9b::7f00:1: loopback address ${hint}`);
    expect(strict.refusal('[2002:c0a8:101::]')).toBe(`refused to call 2002:c0a8:101::: private network address ${hint}`);
    expect(strict.refusal('evil.example', 'fec0::1')).toBe(`refused to call evil.example (fec0::1): private network address ${hint}`);
    expect(strict.refusal('64:ff9b::808:808')).toBeUndefined();
    expect(strict.refusal('2002:808:808::')).toBeUndefined();
  });

  it('an allow-listed IPv4 range also covers its NAT64 and 6to4 forms', () => {
    const guard = new AddressGuard({ allowPrivateNetworks: false, allowList: ['10.0.0.0/8'] });
    expect(guard.refusal('64:ff9b::a00:1')).toBeUndefined();
    expect(guard.refusal('2002:a00:1::')).toBeUndefined();
    expect(guard.refusal('64:ff9b::7f00:1')).toMatch(/^refused to call 64:ff9b::7f00:1: loopback address/);
  });
});
