/**
 * POST <basePath>/_status/twilio: providers' delivery status callbacks. Registered as its own route, which Fastify
 * matches before the flows' catch-all (a static path beats a wildcard). Verified by the provider's module (Twilio's:
 * X-Twilio-Signature over the URL Twilio called, server.publicUrl + the path, since the engine may sit behind a proxy).
 * 401 otherwise.
 */
import type { FastifyInstance } from 'fastify';
import { statusCallbacks } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { Store } from '../store/types.ts';
import type { EventSink } from '../events/types.ts';
import { applyStatusCallback } from '../messages/status-callback.ts';
import { parseForm } from '../request/incoming.ts';

export function statusCallbackRoute(app: FastifyInstance, deps: { config: EngineConfig; store: Store; now(): Date; events?: EventSink }): void {
  const { config } = deps;
  const { provider } = statusCallbacks;
  app.post(`${config.server.basePath}${statusCallbacks.path}`, async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (mediaType !== 'application/x-www-form-urlencoded') {
      return reply.code(415).send({ error: `${provider} status callbacks are application/x-www-form-urlencoded` });
    }
    const params = parseForm(raw);
    const url = `${config.server.publicUrl ?? `${req.protocol}://${req.host}`}${req.url}`;
    // the channels are read per request: a config reload may change their tokens
    if (!statusCallbacks.verify(Object.values(config.channels), { url, headers: req.headers, params })) {
      req.log.warn({ url }, `${provider} status callback refused: signature missing or wrong`);
      return reply.code(401).send({ error: 'unauthorized' });
    }
    const applied = await applyStatusCallback(deps.store, params, deps.now(), deps.events);
    if (!applied.ok) return reply.code(400).send({ error: applied.reason });
    if (applied.messages.length === 0) req.log.info({ sid: applied.sid, status: applied.status }, `${provider} status callback for an unknown SID`);
    return reply.code(200).send({ sid: applied.sid, status: applied.status, messages: applied.messages.map((m) => ({ id: m.id, status: m.status })) });
  });
}
