import type { FastifyInstance, FastifyReply } from 'fastify';
import type { EngineContext } from '../request/context.ts';
import type { EventDeliveryStatus } from '../store/types.ts';
import { EventHub } from '../events/service.ts';
import { EVENT_TYPES, type EventType } from '../events/types.ts';
import type { Subscription } from '../events/subscriptions.ts';

const STATUSES: EventDeliveryStatus[] = ['pending', 'delivered', 'failed'];

/**
 * /api/subscriptions: the outbound event subscriptions with their delivery counts and breaker; per subscription its
 * health over the last 30 minutes, its last errors, its deliveries (dead letters with ?status=failed), a test send, and
 * the replay of dead letters.
 */
export function subscriptionRoutes(api: FastifyInstance, ctx: EngineContext): void {
  const hub = ctx.events instanceof EventHub ? ctx.events : undefined;
  const find = (reply: FastifyReply, id: string): [EventHub, Subscription] | undefined => {
    if (!hub) {
      void reply.code(404).send({ error: 'this engine does not deliver events' });
      return undefined;
    }
    const sub = hub.subscription(id);
    if (!sub) {
      void reply.code(404).send({ error: `no subscription "${id}" in the config` });
      return undefined;
    }
    return [hub, sub];
  };
  const idOf = (req: { params: unknown }) => (req.params as { id: string }).id;

  api.get('/subscriptions', async () => ({
    subscriptions: hub ? await Promise.all(hub.subscriptions().map((sub) => hub.overview(sub))) : [],
  }));

  api.get('/subscriptions/:id', async (req, reply) => {
    const found = find(reply, idOf(req));
    return found && found[0].overview(found[1]);
  });

  api.get('/subscriptions/:id/health', async (req, reply) => {
    const found = find(reply, idOf(req));
    if (!found) return reply;
    const [events, sub] = found;
    return { subscription: sub.id, slowMs: sub.slowMs, breaker: events.worker.breakerState(sub.id, sub), ...(await events.health(sub.id)) };
  });

  api.get('/subscriptions/:id/errors', async (req, reply) => {
    const found = find(reply, idOf(req));
    if (!found) return reply;
    const q = req.query as Record<string, string | undefined>;
    const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 50);
    return { subscription: found[1].id, errors: await found[0].errors(found[1].id, limit) };
  });

  api.get('/subscriptions/:id/deliveries', async (req, reply) => {
    const found = find(reply, idOf(req));
    if (!found) return reply;
    const q = req.query as Record<string, string | undefined>;
    if (q.status && !STATUSES.includes(q.status as EventDeliveryStatus)) return reply.code(400).send({ error: `status must be one of ${STATUSES.join(', ')}` });
    if (q.before && !/^\d+$/.test(q.before)) return reply.code(400).send({ error: 'before must be a delivery id' });
    const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 500);
    const deliveries = await found[0].deliveries(found[1].id, { status: q.status as EventDeliveryStatus | undefined, before: q.before ? Number(q.before) : undefined, limit });
    return { subscription: found[1].id, deliveries, next: deliveries.length === limit ? deliveries[deliveries.length - 1].id : null };
  });

  api.post('/subscriptions/:id/test', async (req, reply) => {
    const found = find(reply, idOf(req));
    if (!found) return reply;
    const [events, sub] = found;
    const q = req.query as Record<string, string | undefined>;
    if (q.type && !EVENT_TYPES.includes(q.type as EventType)) return reply.code(400).send({ error: `type must be one of ${EVENT_TYPES.join(', ')}` });
    const answer = await events.test(sub, q.type as EventType | undefined);
    return { subscription: sub.id, ...answer };
  });

  api.post('/subscriptions/:id/replay', async (req, reply) => {
    const found = find(reply, idOf(req));
    if (!found) return reply;
    const q = req.query as Record<string, string | undefined>;
    if (q.since && Number.isNaN(Date.parse(q.since))) return reply.code(400).send({ error: 'since must be an ISO date or time' });
    const replayed = await found[0].replay(found[1].id, { since: q.since ? new Date(q.since).toISOString() : undefined });
    return { subscription: found[1].id, replayed, enabled: found[1].enabled };
  });
}
