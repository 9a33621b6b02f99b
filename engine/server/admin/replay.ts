import type { FastifyPluginAsync } from 'fastify';
import type { EngineContext } from '../../request/context.ts';
import type { FlowTable } from '../../flow/live.ts';
import { handleWebhook } from '../../request/handle.ts';
import { replayTrust, requestFromLog } from '../../request/replay.ts';
import { answers, anything, boolean, enumParam, idParams, integer, nullable, query, record, text } from './schema.ts';

const replayed = record({
  replayOf: text('the log entry replayed'),
  log: text('the log entry of the replay'),
  execution: nullable('string'),
  revision: text('the revision of the flow that ran it'),
  forced: { ...boolean, description: 'the replayed request had not passed its checks (force=rejected): its new log entry says so' },
  answer: record({ status: integer, headers: { type: 'object', additionalProperties: { type: 'string' } }, body: anything }),
});

const replayQuery = query({
  force: enumParam(['rejected'], '"rejected" (to run a request that did not pass its checks, auth or signature, when it came)'),
});

/**
 * POST /api/logs/:id/replay: runs a logged request again through the current version of its flow. A replay skips
 * auth and signature checks, so only a request that passed them is replayed, unless `?force=rejected`: then its new
 * log entry says it was forced.
 */
export const replayRoute: FastifyPluginAsync<{ ctx: EngineContext; flows: FlowTable }> = async (api, { ctx, flows }) => {
  api.post<{ Params: { id: string }; Querystring: { force?: 'rejected' } }>(
    '/:id/replay',
    {
      schema: {
        summary: 'run a logged request again through the current version of its flow (409 for one that was rejected, unless force=rejected)',
        tags: ['logs'],
        params: idParams('a log entry id'),
        querystring: replayQuery,
        response: answers(replayed),
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const entry = await ctx.store.getLog(id);
      if (!entry) return reply.code(404).send({ error: 'no such log entry' });
      const trust = await replayTrust(entry, (other) => ctx.store.getLog(other));
      if (!trust.checked && req.query.force !== 'rejected') return reply.code(409).send({ error: trust.reason });
      const flow = flows.byId(entry.flowId);
      if (!flow) return reply.code(409).send({ error: `flow "${entry.flowId}" is not loaded any more` });
      const request = requestFromLog(entry, ctx.now());
      if (!request.ok) return reply.code(409).send({ error: request.reason });
      const logId = ctx.newId('log');
      const note = trust.checked ? undefined : trust.note;
      const answer = await handleWebhook(ctx, flow, request.request, { replayOf: id, logId, note });
      const replay = await ctx.store.getLog(logId);
      return { replayOf: id, log: logId, execution: replay?.executionId ?? null, revision: flow.revision, forced: !trust.checked, answer };
    },
  );
};
