import { secretsEqual } from '../trust/compare.ts';
import type { FastifyInstance } from 'fastify';
import type { Store, LogOutcome } from '../store/types.ts';
import type { FlowTable } from './flow-table.ts';
import { contactRoutes } from './admin-contacts.ts';
import { messageRoutes } from './admin-messages.ts';
import { replayRoute } from './admin-replay.ts';
import { subscriptionRoutes } from './admin-subscriptions.ts';
import { redactHeaders } from '../common/redact.ts';
import type { EngineContext } from '../request/context.ts';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1] ?? '';
  return secretsEqual(given, token);
}

/** The admin API under /api: webhook log, executions with their journal, flows. Off unless admin.token is set. */
export function adminApi(app: FastifyInstance, deps: { token: string | undefined; store: Store; flows: FlowTable; ctx: EngineContext }): void {
  app.register(
    async (api) => {
      api.addHook('onRequest', async (req, reply) => {
        if (!deps.token) return reply.code(404).send({ error: 'the admin API is off: set admin.token in hooks.config.yaml' });
        if (!tokenMatches(req.headers.authorization, deps.token)) {
          return reply.code(401).header('www-authenticate', 'Bearer realm="hooks admin"').send({ error: 'unauthorized' });
        }
      });

      api.get('/logs', async (req, reply) => {
        const q = req.query as Record<string, string | undefined>;
        const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 500);
        if (q.since && Number.isNaN(Date.parse(q.since))) return reply.code(400).send({ error: 'since must be an ISO date or time' });
        if (q.status && !/^\d{3}$/.test(q.status)) return reply.code(400).send({ error: 'status must be an HTTP status code' });
        const entries = await deps.store.listLogs({
          flowId: q.flow,
          status: q.status ? Number(q.status) : undefined,
          outcome: q.outcome as LogOutcome | undefined,
          since: q.since ? new Date(q.since).toISOString() : undefined,
          before: q.before,
          limit,
        });
        return { entries, next: entries.length === limit ? entries[entries.length - 1].id : null };
      });

      contactRoutes(api, deps.store);
      messageRoutes(api, deps.store);
      replayRoute(api, deps.ctx, deps.flows);
      subscriptionRoutes(api, deps.ctx);

      api.get('/logs/:id', async (req, reply) => {
        const entry = await deps.store.getLog((req.params as { id: string }).id);
        return entry ?? reply.code(404).send({ error: 'no such log entry' });
      });

      api.get('/executions/:id', async (req, reply) => {
        const id = (req.params as { id: string }).id;
        const execution = await deps.store.getExecution(id);
        if (!execution) return reply.code(404).send({ error: 'no such execution' });
        // the request as sent is kept for a resumed run; its credentials are not shown, as in the webhook log
        const request = { ...execution.input.request, headers: redactHeaders(execution.input.request.headers) };
        return { ...execution, input: { ...execution.input, request }, journal: await deps.store.journal(id) };
      });

      // every flow file, including those that fail: `stale` serves the last good version, `failed` serves nothing
      api.get('/flows', async () =>
        deps.flows.files().map(({ flow, ...file }) => ({ ...file, mode: flow?.mode ?? null, enabled: flow?.enabled ?? null, methods: flow?.methods ?? null })),
      );
    },
    { prefix: '/api' },
  );
}
