import type { FastifyPluginAsync, onRequestAsyncHookHandler } from 'fastify';
import swagger from '@fastify/swagger';
import { secretsEqual } from '../../trust/compare.ts';
import type { FlowTable } from '../../flow/live.ts';
import type { EngineContext } from '../../request/context.ts';
import { contactRoutes } from './contacts.ts';
import { executionRoutes } from './executions.ts';
import { flowRoutes } from './flows.ts';
import { logRoutes } from './logs.ts';
import { messageRoutes } from './messages.ts';
import { replayRoute } from './replay.ts';
import { subscriptionRoutes } from './subscriptions.ts';
import { answers, openObject, parameterReason } from './schema.ts';

export interface AdminOptions {
  /** admin.token: the API is off without it */
  token: string | undefined;
  ctx: EngineContext;
  flows: FlowTable;
}

const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'hooks admin API', version: '1', description: 'The webhook log, executions, flows, contacts, messages and event subscriptions of a hooks engine.' },
  components: { securitySchemes: { adminToken: { type: 'http' as const, scheme: 'bearer', description: 'admin.token of hooks.config.yaml' } } },
  security: [{ adminToken: [] }],
};

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1] ?? '';
  return secretsEqual(given, token);
}

/** Every admin route answers only to `Authorization: Bearer <admin.token>`; without a token set, the API is off. */
function adminToken(token: string | undefined): onRequestAsyncHookHandler {
  return async (req, reply) => {
    if (!token) return reply.code(404).send({ error: 'the admin API is off: set admin.token in hooks.config.yaml' });
    if (!tokenMatches(req.headers.authorization, token)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="hooks admin"').send({ error: 'unauthorized' });
    }
  };
}

/**
 * The admin API (registered under /api): webhook log, executions with their journal, flows, contacts, messages and
 * event subscriptions, one encapsulated plugin each, and the OpenAPI document made from their schemas.
 */
export const adminApi: FastifyPluginAsync<AdminOptions> = async (api, { token, ctx, flows }) => {
  api.addHook('onRequest', adminToken(token));
  // a parameter that does not match its schema is a 400 that says what it must be
  api.addHook('onRoute', (route) => {
    route.schemaErrorFormatter ??= parameterReason(route.schema);
  });
  // the response schemas document the answers: each goes out as JSON.stringify writes it, no property dropped or coerced
  api.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // after the hooks above, before the routes: it collects the routes of this scope
  await api.register(swagger, { openapi: OPENAPI });

  api.get('/openapi.json', { schema: { summary: 'this document', tags: ['openapi'], response: answers(openObject) } }, async () => api.swagger());
  await api.register(logRoutes, { prefix: '/logs', store: ctx.store });
  await api.register(replayRoute, { prefix: '/logs', ctx, flows });
  await api.register(executionRoutes, { prefix: '/executions', store: ctx.store, flows });
  await api.register(flowRoutes, { prefix: '/flows', flows });
  await api.register(contactRoutes, { prefix: '/contacts', store: ctx.store });
  await api.register(messageRoutes, { prefix: '/messages', store: ctx.store });
  await api.register(subscriptionRoutes, { prefix: '/subscriptions', ctx });
};
