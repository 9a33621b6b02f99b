import type { FastifyPluginAsync } from 'fastify';
import type { FlowTable } from '../../flow/live.ts';
import { answers, arrayOf, nullable, enumOf, record, text, type JsonSchema } from './schema.ts';

type FlowFileStatus = ReturnType<FlowTable['files']>[number];

const flowFile = record({
  file: text(),
  id: nullable('string'),
  route: { ...nullable('string'), description: 'where the served version answers: <basePath><route>, a URL token shown as [token], never its value' },
  revision: { ...nullable('string'), description: 'the revision served from this file' },
  loadedAt: { ...nullable('string'), description: 'when the served revision went live' },
  status: { ...enumOf(['ok', 'stale', 'failed']), description: 'stale: the file fails and its last good version is served; failed: nothing is served' },
  lastError: { ...nullable('string'), description: "the file's problems, one per line" },
  mode: { type: ['string', 'null'], enum: ['sync', 'async', null] },
  enabled: nullable('boolean'),
  methods: { type: ['array', 'null'], items: text() },
} satisfies Record<keyof Omit<FlowFileStatus, 'flow'> | 'mode' | 'enabled' | 'methods', JsonSchema>);

/** /api/flows: every flow file, including those that fail. */
export const flowRoutes: FastifyPluginAsync<{ flows: FlowTable }> = async (api, { flows }) => {
  api.get('', { schema: { summary: 'every flow file and what became of it', tags: ['flows'], response: answers(arrayOf(flowFile)) } }, async () =>
    flows.files().map(({ flow, ...file }) => ({ ...file, mode: flow?.mode ?? null, enabled: flow?.enabled ?? null, methods: flow?.methods ?? null })),
  );
};
