import type { FastifyPluginAsync } from 'fastify';
import type { LogOutcome, Store } from '../../store/types.ts';
import { LOG_OUTCOMES, logEntry } from './shapes.ts';
import { before, nextCursor, pageOf } from './paging.ts';
import { answers, enumParam, idParams, isoTime, limit, query, text } from './schema.ts';

interface LogsQuery {
  flow?: string;
  status?: number;
  outcome?: LogOutcome;
  since?: string;
  before?: string;
  limit: number;
}

const logsQuery = query({
  flow: text('a flow id'),
  status: { type: 'integer', minimum: 100, maximum: 599, description: 'an HTTP status code' },
  outcome: enumParam(LOG_OUTCOMES),
  since: isoTime,
  before: before('a log entry id'),
  limit: limit(500),
});

/** /api/logs: the webhook log, newest first and paged; one entry. */
export const logRoutes: FastifyPluginAsync<{ store: Store }> = async (api, { store }) => {
  api.get<{ Querystring: LogsQuery }>(
    '',
    { schema: { summary: 'the webhook log, newest first', tags: ['logs'], querystring: logsQuery, response: answers(pageOf('entries', logEntry, 'string')) } },
    async (req) => {
      const { flow, status, outcome, since, limit } = req.query;
      const entries = await store.listLogs({ flowId: flow, status, outcome, since: since ? new Date(since).toISOString() : undefined, before: req.query.before, limit });
      return { entries, next: nextCursor(entries, limit) };
    },
  );

  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one log entry', tags: ['logs'], params: idParams('a log entry id'), response: answers(logEntry) } },
    async (req, reply) => (await store.getLog(req.params.id)) ?? reply.code(404).send({ error: 'no such log entry' }),
  );
};
