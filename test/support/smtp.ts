/**
 * Test support for the smtp driver: a real SMTP server (smtp-server) on 127.0.0.1 that parses every message it
 * accepts with mailparser. Plain SMTP (no STARTTLS), AUTH required when credentials are given.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  envelope: { from: string | false; to: string[] };
  user?: string;
  raw: string;
  parsed: ParsedMail;
}

export interface SmtpServerOptions {
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  /** Answer RCPT TO for an address with this SMTP reply (e.g. 450 or 550) instead of accepting it. */
  rejectRecipient?: (address: string) => { code: number; message: string } | undefined;
}

export interface TestSmtpServer {
  port: number;
  /** smtp://[user:pass@]127.0.0.1:port, URL-encoded. */
  url(credentials?: { user: string; pass: string }): string;
  received: ReceivedMail[];
  /** Resolves with the next accepted message (or one already received and not taken yet). */
  nextMail(timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        return callback(null, { user: auth.username });
      }
      const err = Object.assign(new Error('Authentication failed'), { responseCode: 535 });
      return callback(err);
    },
    onRcptTo(address, _session, callback) {
      const rejection = options.rejectRecipient?.(address.address);
      if (rejection) return callback(Object.assign(new Error(rejection.message), { responseCode: rejection.code }));
      return callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', async () => {
        try {
          const raw = Buffer.concat(chunks);
          const parsed = await simpleParser(raw);
          received.push({
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            user: typeof session.user === 'string' ? session.user : undefined,
            raw: raw.toString('utf8'),
            parsed,
          });
          waiters.splice(0).forEach((wake) => wake());
          callback();
        } catch (err) {
          callback(err as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => {}); // client disconnects in failure tests are expected
  const { port } = server.server.address() as AddressInfo;

  return {
    port,
    received,
    url(credentials) {
      const auth = credentials ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.pass)}@` : '';
      return `smtp://${auth}127.0.0.1:${port}`;
    },
    async nextMail(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= received.length) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no mail received');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return received[taken++];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
