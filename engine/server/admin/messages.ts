import type { FastifyPluginAsync } from 'fastify';
import type { MessageDirection, Store } from '../../store/types.ts';
import { MESSAGE_DIRECTIONS, message, statusChange } from './shapes.ts';
import { before, nextCursor, pageOf } from './paging.ts';
import { answers, arrayOf, enumParam, extend, idParams, limit, query, text } from './schema.ts';

interface MessagesQuery {
  contact?: string;
  channel?: string;
  status?: string;
  direction?: MessageDirection;
  before?: string;
  limit: number;
}

const messagesQuery = query({
  contact: text('a contact id'),
  channel: text('a channel name'),
  status: text('a message status'),
  direction: enumParam(MESSAGE_DIRECTIONS, MESSAGE_DIRECTIONS.join(' or ')),
  before: before('a message id'),
  limit: limit(500),
});

/** /api/messages: every message sent or received, newest first and paged, filtered; one message with its status history. */
export const messageRoutes: FastifyPluginAsync<{ store: Store }> = async (api, { store }) => {
  api.get<{ Querystring: MessagesQuery }>(
    '',
    { schema: { summary: 'messages sent and received, newest first', tags: ['messages'], querystring: messagesQuery, response: answers(pageOf('messages', message, 'string')) } },
    async (req) => {
      const q = req.query;
      // an empty parameter filters nothing
      const messages = await store.listMessages({
        contactId: q.contact || undefined,
        channel: q.channel || undefined,
        status: q.status || undefined,
        direction: q.direction,
        before: q.before || undefined,
        limit: q.limit,
      });
      return { messages, next: nextCursor(messages, q.limit) };
    },
  );

  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one message with its status history', tags: ['messages'], params: idParams('a message id'), response: answers(extend(message, { statusChanges: arrayOf(statusChange) })) } },
    async (req, reply) => {
      const { id } = req.params;
      const found = await store.getMessage(id);
      if (!found) return reply.code(404).send({ error: 'no such message' });
      return { ...found, statusChanges: await store.messageStatusChanges(id) };
    },
  );
};
