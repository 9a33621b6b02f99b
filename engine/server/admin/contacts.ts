import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/types.ts';
import { internationalPhone } from '../../contacts/phone.ts';
import { contact, fieldChange, logEntry, message } from './shapes.ts';
import { shownLogEntry } from './logs.ts';
import { answers, arrayOf, extend, idParams, limit, query, record, text } from './schema.ts';

interface ContactsQuery {
  phone?: string;
  email?: string;
  limit: number;
}

const contactsQuery = query({ phone: text('a phone number in E.164 (+ and the country code; %2B for the + in a URL)'), email: text('an e-mail address'), limit: limit(500) });

/** /api/contacts: find contacts by phone or e-mail; one contact with its field changes, last webhooks and last messages. */
export const contactRoutes: FastifyPluginAsync<{ store: Store }> = async (api, { store }) => {
  api.get<{ Querystring: ContactsQuery }>(
    '',
    { schema: { summary: 'contacts by phone or e-mail', tags: ['contacts'], querystring: contactsQuery, response: answers(record({ contacts: arrayOf(contact) })) } },
    async (req, reply) => {
      const { phone, email, limit } = req.query;
      // no flow here, so no country to read a national number with: the answer says what to send
      const checked = phone ? internationalPhone(phone) : undefined;
      if (checked && !checked.ok) return reply.code(400).send({ error: `phone: ${checked.reason}` });
      return { contacts: await store.listContacts({ phone: checked?.e164, email: email?.trim().toLowerCase(), limit }) };
    },
  );

  const withHistory = extend(contact, { changes: arrayOf(fieldChange), webhooks: arrayOf(logEntry), messages: arrayOf(message) });
  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one contact with its last field changes, webhooks and messages', tags: ['contacts'], params: idParams('a contact id'), response: answers(withHistory) } },
    async (req, reply) => {
      const { id } = req.params;
      const found = await store.findContact({ id });
      if (!found) return reply.code(404).send({ error: 'no such contact' });
      const [webhooks, changes, messages] = await Promise.all([
        store.listLogs({ contactId: id, limit: 20 }),
        store.fieldChanges(id, 50),
        store.listMessages({ contactId: id, limit: 20 }),
      ]);
      return { ...found, changes, webhooks: webhooks.map(shownLogEntry), messages };
    },
  );
};
