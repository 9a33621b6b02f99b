import type { FastifyPluginAsync } from 'fastify';
import type { EngineContext } from '../../request/context.ts';
import type { FlowTable } from '../../flow/live.ts';
import { handleWebhook } from '../../request/handle.ts';
import { requestFromLog } from '../../request/replay.ts';
import { answers, anything, idParams, integer, nullable, record, text } from './schema.ts';

const replayed = record({
  replayOf: text('the log entry replayed'),
  log: text('the log entry of the replay'),
  execution: nullable('string'),
  revision: text('the revision of the flow that ran it'),
  answer: record({ status: integer, headers: { type: 'object', additionalProperties: { type: 'string' } }, body: anything }),
});

/** POST /api/logs/:id/replay: runs a logged request again through the current version of its flow. */
export const replayRoute: FastifyPluginAsync<{ ctx: EngineContext; flows: FlowTable }> = async (api, { ctx, flows }) => {
  api.post<{ Params: { id: string } }>(
    '/:id/replay',
    {
      schema: {
        summary: 'run a logged request again through the current version of its flow',
        tags: ['logs'],
        params: idParams('a log entry id'),
        response: answers(replayed),
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const entry = await ctx.store.getLog(id);
      if (!entry) return reply.code(404).send({ error: 'no such log entry' });
      const flow = flows.byId(entry.flowId);
      if (!flow) return reply.code(409).send({ error: `flow "${entry.flowId}" is not loaded any more` });
      const request = requestFromLog(entry, ctx.now());
      if (!request.ok) return reply.code(409).send({ error: request.reason });
      const logId = ctx.newId('log');
      const answer = await handleWebhook(ctx, flow, request.request, { replayOf: id, logId });
      const replay = await ctx.store.getLog(logId);
      return { replayOf: id, log: logId, execution: replay?.executionId ?? null, revision: flow.revision, answer };
    },
  );
};
