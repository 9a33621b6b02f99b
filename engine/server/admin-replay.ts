import type { FastifyInstance } from 'fastify';
import type { EngineContext } from '../request/context.ts';
import type { FlowTable } from './flow-table.ts';
import { handleWebhook } from '../request/handle.ts';
import { requestFromLog } from '../request/replay.ts';

/** POST /api/logs/:id/replay: runs a logged request again through the current version of its flow. */
export function replayRoute(api: FastifyInstance, ctx: EngineContext, flows: FlowTable): void {
  api.post('/logs/:id/replay', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const entry = await ctx.store.getLog(id);
    if (!entry) return reply.code(404).send({ error: 'no such log entry' });
    const flow = flows.byId(entry.flowId);
    if (!flow) return reply.code(409).send({ error: `flow "${entry.flowId}" is not loaded any more` });
    const request = requestFromLog(entry, ctx.now());
    if (!request.ok) return reply.code(409).send({ error: request.reason });
    const logId = ctx.newId('log');
    const answer = await handleWebhook(ctx, flow, request.request, { replayOf: id, logId });
    const replayed = await ctx.store.getLog(logId);
    return { replayOf: id, log: logId, execution: replayed?.executionId ?? null, revision: flow.revision, answer };
  });
}
