import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/types.ts';
import { normalisePhone } from '../contacts/phone.ts';

/** /api/contacts: find contacts by phone or e-mail; one contact with its fields, field changes, last webhooks and last messages. */
export function contactRoutes(api: FastifyInstance, store: Store): void {
  api.get('/contacts', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    let phone: string | undefined;
    if (q.phone) {
      const checked = normalisePhone(q.phone);
      if (!checked.ok) return reply.code(400).send({ error: `phone: ${checked.reason}; use the international format` });
      phone = checked.e164;
    }
    const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 500);
    return { contacts: await store.listContacts({ phone, email: q.email?.trim().toLowerCase(), limit }) };
  });

  api.get('/contacts/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const contact = await store.findContact({ id });
    if (!contact) return reply.code(404).send({ error: 'no such contact' });
    const [webhooks, changes, messages] = await Promise.all([
      store.listLogs({ contactId: id, limit: 20 }),
      store.fieldChanges(id, 50),
      store.listMessages({ contactId: id, limit: 20 }),
    ]);
    return { ...contact, changes, webhooks, messages };
  });
}
