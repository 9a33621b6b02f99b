import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  headers: IncomingHttpHeaders;
  body: string;
  event: Record<string, any>;
  /** whether the Standard Webhooks signature verified with the subscription's secret */
  verified: boolean;
}

/**
 * A real subscriber on loopback: verifies each delivery's signature with `secret` (the standardwebhooks library),
 * records it, and answers with `status()` after `delayMs`.
 */
export async function startSubscriber(secret: string, status: (event: Record<string, any>) => number = () => 200, delayMs = 0) {
  const received: ReceivedEvent[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = true;
      try {
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
      } catch {
        verified = false;
      }
      const event = JSON.parse(body);
      received.push({ headers: req.headers, body, event, verified });
      const code = status(event);
      setTimeout(() => res.writeHead(code).end(code >= 300 ? `refused ${event.id}` : 'ok'), delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    received,
    setStatus: (fn: typeof status) => (status = fn),
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
