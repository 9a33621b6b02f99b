import type { FastifyInstance } from 'fastify';
import type { MessageDirection, Store } from '../store/types.ts';

const DIRECTIONS: MessageDirection[] = ['outbound', 'inbound'];

/**
 * /api/messages: every message sent or received, newest first, filtered by contact, channel, status and direction,
 * paged like /api/logs (`next` is the cursor for `before`); one message with its status history.
 */
export function messageRoutes(api: FastifyInstance, store: Store): void {
  api.get('/messages', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 500);
    if (q.direction && !DIRECTIONS.includes(q.direction as MessageDirection)) {
      return reply.code(400).send({ error: `direction must be ${DIRECTIONS.join(' or ')}` });
    }
    const messages = await store.listMessages({
      contactId: q.contact || undefined,
      channel: q.channel || undefined,
      status: q.status || undefined,
      direction: (q.direction as MessageDirection) || undefined,
      before: q.before || undefined,
      limit,
    });
    return { messages, next: messages.length === limit ? messages[messages.length - 1].id : null };
  });

  api.get('/messages/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const message = await store.getMessage(id);
    if (!message) return reply.code(404).send({ error: 'no such message' });
    return { ...message, statusChanges: await store.messageStatusChanges(id) };
  });
}
