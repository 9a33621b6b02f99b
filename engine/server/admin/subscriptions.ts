import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { EngineContext } from '../../request/context.ts';
import type { EventDeliveryStatus } from '../../store/types.ts';
import { EventHub, testRefusal } from '../../events/service.ts';
import { EVENT_TYPES, type EventType } from '../../events/types.ts';
import type { Subscription } from '../../events/subscriptions.ts';
import { DELIVERY_STATUSES, attempt, breakerState, delivery, health, subscriptionOverview } from './shapes.ts';
import { before, nextCursor, pageOf } from './paging.ts';
import { answers, arrayOf, boolean, enumOf, enumParam, idParams, integer, isoTime, limit, nullable, number, openObject, query, record, text, type JsonSchema } from './schema.ts';

type Found = { hub: EventHub; sub: Subscription; error?: undefined } | { error: string };
type ById = { Params: { id: string } };

const params = idParams('a subscription id');
const tags = ['subscriptions'];
const about = (extra: Record<string, JsonSchema>) => record({ subscription: text('the subscription id'), ...extra });

const healthAnswer = about({ slowMs: integer, breaker: breakerState, ...health });

const testAnswer = about({
  outcome: enumOf(['success', 'slow', 'error']), ok: boolean, status: nullable('integer'), durationMs: number, error: nullable('string'), body: nullable('string'),
  event: { ...openObject, description: 'the sample event sent' },
});

/**
 * /api/subscriptions: the outbound event subscriptions with their delivery counts and breaker; per subscription its
 * health over the last 30 minutes, its last errors, its deliveries (dead letters with ?status=failed), a test send, and
 * the replay of dead letters.
 */
export const subscriptionRoutes: FastifyPluginAsync<{ ctx: EngineContext }> = async (api, { ctx }) => {
  const hub = ctx.events instanceof EventHub ? ctx.events : undefined;
  const find = (id: string): Found => {
    if (!hub) return { error: 'this engine does not deliver events' };
    const sub = hub.subscription(id);
    return sub ? { hub, sub } : { error: `no subscription "${id}" in the config` };
  };

  api.get('', { schema: { summary: 'every subscription', tags, response: answers(record({ subscriptions: arrayOf(subscriptionOverview) })) } }, async () => ({
    subscriptions: hub ? await Promise.all(hub.subscriptions().map((sub) => hub.overview(sub))) : [],
  }));

  api.get<ById>('/:id', { schema: { summary: 'one subscription', tags, params, response: answers(subscriptionOverview) } }, async (req, reply) => {
    const found = find(req.params.id);
    return found.error === undefined ? found.hub.overview(found.sub) : reply.code(404).send(found);
  });

  api.get<ById>('/:id/health', { schema: { summary: 'deliveries over the last 30 minutes', tags, params, response: answers(healthAnswer) } }, async (req, reply) => {
    const found = find(req.params.id);
    if (found.error !== undefined) return reply.code(404).send(found);
    const { hub: events, sub } = found;
    return { subscription: sub.id, slowMs: sub.slowMs, breaker: events.worker.breakerState(sub.id, sub), ...(await events.health(sub.id)) };
  });

  api.get<ById & { Querystring: { limit: number } }>(
    '/:id/errors',
    { schema: { summary: 'the last failed attempts, newest first', tags, params, querystring: query({ limit: limit(50) }), response: answers(about({ errors: arrayOf(attempt) })) } },
    async (req, reply) => {
      const found = find(req.params.id);
      if (found.error !== undefined) return reply.code(404).send(found);
      return { subscription: found.sub.id, errors: await found.hub.errors(found.sub.id, req.query.limit) };
    },
  );

  deliveryRoutes(api, find);
};

interface DeliveriesQuery {
  status?: EventDeliveryStatus;
  before?: number;
  limit: number;
}

const deliveriesQuery = query({ status: enumParam(DELIVERY_STATUSES), before: before('a delivery id', 'integer'), limit: limit(500) });

/** a subscription's deliveries, its test send and the replay of its dead letters */
function deliveryRoutes(api: FastifyInstance, find: (id: string) => Found): void {
  api.get<ById & { Querystring: DeliveriesQuery }>(
    '/:id/deliveries',
    {
      schema: {
        summary: 'deliveries, newest first (the dead letters: status=failed)',
        tags,
        params,
        querystring: deliveriesQuery,
        response: answers(pageOf('deliveries', delivery, 'integer', { subscription: text('the subscription id') })),
      },
    },
    async (req, reply) => {
      const found = find(req.params.id);
      if (found.error !== undefined) return reply.code(404).send(found);
      const deliveries = await found.hub.deliveries(found.sub.id, req.query);
      return { subscription: found.sub.id, deliveries, next: nextCursor(deliveries, req.query.limit) };
    },
  );

  api.post<ById & { Querystring: { type?: EventType } }>(
    '/:id/test',
    {
      schema: {
        summary: 'send a sample event now, in the subscription\'s format; nothing is stored. 422 for a type it does not take; 409 when it is disabled, unless `type` names one it takes',
        tags,
        params,
        querystring: query({ type: enumParam(EVENT_TYPES) }),
        response: answers(testAnswer),
      },
    },
    async (req, reply) => {
      const found = find(req.params.id);
      if (found.error !== undefined) return reply.code(404).send(found);
      const refused = testRefusal(found.sub, req.query.type, '?type=');
      if (refused) return reply.code(refused.status).send({ error: refused.reason });
      return { subscription: found.sub.id, ...(await found.hub.test(found.sub, req.query.type)) };
    },
  );

  api.post<ById & { Querystring: { since?: string } }>(
    '/:id/replay',
    {
      schema: {
        summary: 'send the dead letters again (those created since `since`, else all)',
        tags,
        params,
        querystring: query({ since: isoTime }),
        response: answers(about({ replayed: integer, enabled: boolean })),
      },
    },
    async (req, reply) => {
      const found = find(req.params.id);
      if (found.error !== undefined) return reply.code(404).send(found);
      const { since } = req.query;
      const replayed = await found.hub.replay(found.sub.id, { since: since ? new Date(since).toISOString() : undefined });
      return { subscription: found.sub.id, replayed, enabled: found.sub.enabled };
    },
  );
}
