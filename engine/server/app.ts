import http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { EngineConfig } from '../config/load.ts';
import type { Answer } from '../common/scope.ts';
import type { EngineContext } from '../request/context.ts';
import type { FlowTable } from '../flow/live.ts';
import type { CompiledFlow } from '../flow/compiled.ts';
import { handleWebhook } from '../request/handle.ts';
import { openRequest, rejectRequest } from '../request/commit.ts';
import { checkAnswer } from '../request/answer.ts';
import type { IncomingRequest } from '../request/incoming.ts';
import { adminApi } from './admin/api.ts';
import { statusCallbackRoute } from './status-callback.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export interface AppDeps {
  config: EngineConfig;
  ctx: EngineContext;
  flows: FlowTable;
  ready(): boolean;
  logger: boolean | object;
}

/** An answer as checkAnswer rendered it before its commit (every flow answer was committed through it). */
function send(reply: import('fastify').FastifyReply, answer: Answer) {
  const checked = checkAnswer(answer);
  if (!checked.ok) return reply.code(500).send({ error: `the flow's answer cannot be sent: ${checked.reason}` });
  const { wire } = checked;
  return reply.code(wire.status).headers(wire.headers).send(wire.body);
}

/**
 * A request to a token route without its token, or with another one: logged against the flow as rejected (the path
 * with the segment shown as [token], never the token given), and answered 404 like a path without a flow.
 */
function refuseToken(ctx: EngineContext, flow: CompiledFlow, req: IncomingRequest, publicError: string): Promise<Answer> {
  const reason = req.path === flow.route ? 'the URL token is missing' : 'the URL token does not match';
  return rejectRequest(openRequest(ctx, flow, req, {}), 404, reason, {}, publicError);
}

/** The one Fastify server: flow routes behind a catch-all under the base path, health, metrics and the admin API. */
/**
 * Node's HTTP server, checking its requests' deadlines (requestTimeout: 408, then the connection closes) often enough
 * for the timeout to mean what it says: Node's own check runs every 30 s, so a caller that stops sending mid-body would
 * hold its connection up to 30 s past it.
 */
function timedServer(requestTimeoutMs: number) {
  const connectionsCheckingInterval = Math.max(100, Math.min(30_000, Math.floor(requestTimeoutMs / 4)));
  return (handler: http.RequestListener) => http.createServer({ connectionsCheckingInterval, requestTimeout: requestTimeoutMs }, handler);
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, ctx, flows } = deps;
  // no per-request access log: the webhook log is the record of every request that reaches a flow
  const app = Fastify({
    logger: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    serverFactory: timedServer(config.server.requestTimeoutMs),
    trustProxy: config.server.trustProxy,
    return503OnClosing: true,
  });

  // Bodies stay raw bytes: signatures are checked on them, and each flow decides which content types it accepts.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const base = config.server.basePath;
  const publicBase = config.server.publicUrl;
  const toIncoming = (req: FastifyRequest, path: string): IncomingRequest => ({
    method: req.method,
    path,
    url: `${publicBase ?? `${req.protocol}://${req.host}`}${req.url}`,
    headers: req.headers,
    query: (req.query ?? {}) as Record<string, unknown>,
    rawBody: Buffer.isBuffer(req.body) ? req.body : undefined,
    ip: req.ip,
    receivedAt: ctx.now(),
  });

  const flowRoute = `${base}/*`;
  const pathOf = (req: FastifyRequest) => `/${(req.params as { '*': string })['*']}`;
  app.route({
    method: [...METHODS],
    url: flowRoute,
    exposeHeadRoute: false,
    // nothing logs per flow request (the webhook log is its record): no pino child logger built for each one
    childLoggerFactory: (logger) => logger,
    handler: async (req, reply) => {
      const path = pathOf(req);
      const match = flows.match(path);
      if (!match) {
        ctx.metrics.request('', 404);
        return reply.code(404).send({ error: `no flow at ${base}${path}` });
      }
      const incoming = toIncoming(req, match.logPath);
      if (!match.tokenOk) return send(reply, await refuseToken(ctx, match.flow, incoming, `no flow at ${base}${match.logPath}`));
      return send(reply, await handleWebhook(ctx, match.flow, incoming));
    },
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    // Fastify refuses oversize bodies before the handler; a flow's request is logged and counted all the same
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const publicError = `body over the limit of ${config.server.bodyLimit} bytes`;
      const match = req.routeOptions.url === flowRoute ? flows.match(pathOf(req)) : undefined;
      if (!match?.tokenOk) return reply.code(413).send({ error: publicError });
      const length = req.headers['content-length'];
      const reason = length ? `body of ${length} bytes is over the server's limit of ${config.server.bodyLimit}` : publicError;
      return send(reply, await rejectRequest(openRequest(ctx, match.flow, toIncoming(req, match.logPath), {}), 413, reason, {}, publicError));
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error({ err }, 'request failed');
    return reply.code(status).send({ error: status === 500 ? 'internal error' : err.message });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!deps.ready()) return reply.code(503).send({ status: 'starting' });
    // why, with the file's path, is in the engine's log: this answer is for load balancers
    if (!ctx.store.writable().ok) return reply.code(503).send({ status: 'storage unavailable' });
    return { status: 'ready', flows: flows.list().length };
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await ctx.metrics.render()));
  // <basePath>/_status/twilio: a static route, so Fastify picks it before the flows' catch-all
  statusCallbackRoute(app, { config, store: ctx.store, now: ctx.now, events: ctx.events });
  app.register(adminApi, { prefix: '/api', token: config.admin.token, ctx, flows });
  return app;
}
