import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/types.ts';
import { redactHeaders } from '../../common/redact.ts';
import { execution } from './shapes.ts';
import { answers, idParams } from './schema.ts';

/** /api/executions/:id: one execution with its journal. */
export const executionRoutes: FastifyPluginAsync<{ store: Store }> = async (api, { store }) => {
  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one execution with its journal', tags: ['executions'], params: idParams('an execution id'), response: answers(execution) } },
    async (req, reply) => {
      const { id } = req.params;
      const found = await store.getExecution(id);
      if (!found) return reply.code(404).send({ error: 'no such execution' });
      // the request as sent is kept for a resumed run; its credentials are not shown, as in the webhook log
      const request = { ...found.input.request, headers: redactHeaders(found.input.request.headers) };
      return { ...found, input: { ...found.input, request }, journal: await store.journal(id) };
    },
  );
};
