import type { FastifyPluginAsync } from 'fastify';
import type { ExecutionRecord, JournalEntry, Store } from '../../store/types.ts';
import type { FlowTable } from '../../flow/live.ts';
import { redactHeaders, redactSecrets } from '../../common/redact.ts';
import { credentialHeaders } from '../../request/gates.ts';
import { execution } from './shapes.ts';
import { answers, idParams } from './schema.ts';

/**
 * An execution as the admin API shows it. The request it keeps for a resumed run is the request as sent (a run that
 * resumes needs what its steps read: a body that held one of the flow's secrets has it, since the flow may compare
 * it); shown, its credential headers are redacted as in the webhook log and the flow's `${env:}` secrets are masked
 * everywhere. The flow is its revision, else its current version, else (no longer loaded) every loaded flow's secrets.
 */
export function shownExecution(found: ExecutionRecord, journal: JournalEntry[], flows: FlowTable): ExecutionRecord & { journal: JournalEntry[] } {
  const flow = flows.byRevision(found.flowId, found.revision);
  const secrets = flow ? flow.secrets : flows.list().flatMap((f) => f.secrets);
  const request = { ...found.input.request, headers: redactHeaders(found.input.request.headers, flow ? credentialHeaders(flow) : []) };
  return redactSecrets({ ...found, input: { ...found.input, request }, journal }, secrets);
}

/** /api/executions/:id: one execution with its journal. */
export const executionRoutes: FastifyPluginAsync<{ store: Store; flows: FlowTable }> = async (api, { store, flows }) => {
  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one execution with its journal', tags: ['executions'], params: idParams('an execution id'), response: answers(execution) } },
    async (req, reply) => {
      const { id } = req.params;
      const found = await store.getExecution(id);
      if (!found) return reply.code(404).send({ error: 'no such execution' });
      return shownExecution(found, await store.journal(id), flows);
    },
  );
};
