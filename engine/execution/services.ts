import type { ChannelDriver } from '../../channels/index.ts';
import type { EngineConfig } from '../config/load.ts';
import type { StepServices } from '../steps/types.ts';
import type { Store } from '../store/types.ts';
import { sendRequest, type OutgoingResult } from '../http/request.ts';
import { DEFAULT_RETRY, sendMessage, type RetryPolicy } from '../messages/outbound.ts';
import { redactSecrets } from '../common/redact.ts';

/** What the services of one execution need to know about its flow. */
export interface ServiceFlow {
  /** values the flow resolved from ${env:}: kept out of the call records steps keep */
  secrets: string[];
  /** the flow's id, recorded with the messages it sends */
  id?: string;
}

/** Where messages are recorded, and how sends are retried. Without a store, messages go to the driver unrecorded. */
export interface MessageServices {
  store: Store;
  /** the live configuration (its channel credentials are kept out of stored messages) */
  config?: EngineConfig;
  retry?: RetryPolicy;
  now?(): Date;
}

/** Step services for one execution of one flow. */
export type ServicesFor = (flow: ServiceFlow, executionId: string) => StepServices;

const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/**
 * The step services of a running engine: real HTTP requests and real channel drivers. Built once per engine; the
 * function it returns gives each execution its own services, so that what they do can carry the execution's id.
 */
export function liveServices(channels: Map<string, ChannelDriver>, newId: (prefix: string) => string, messages?: MessageServices): ServicesFor {
  const outbound = messages && { store: messages.store, channels, config: messages.config, newId, now: messages.now ?? (() => new Date()), retry: messages.retry ?? DEFAULT_RETRY };
  return (flow, executionId) => ({
    async http(stepId, request) {
      // A resumed execution sends a step that was interrupted mid-call again, with the same key: receivers can dedupe.
      const headers = { ...request.headers };
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key')) headers[IDEMPOTENCY_HEADER] = `${executionId}:${stepId}`;
      return withoutSecrets(await sendRequest({ ...request, headers }), flow.secrets);
    },
    async send(stepId, { channel, message, contactId, defaultCountry }) {
      // every message is stored, checked, sent with retries and recorded; a resumed step returns what it sent before
      if (outbound) {
        return sendMessage(outbound, { flowId: flow.id ?? null, executionId, stepId, contactId: contactId ?? null, channel, message, secrets: flow.secrets, defaultCountry });
      }
      const driver = channels.get(channel);
      if (!driver) throw new Error(`channel "${channel}" is not configured`);
      const sent = await driver.send({ ...message, to: message.to ?? '' });
      return { messageId: newId('msg'), providerId: sent.providerId, status: sent.status };
    },
  });
}

/**
 * The call record (URLs, error message) with the flow's secrets masked, raw and URL-encoded: redactUrl hides query
 * values and userinfo, but a secret may sit in a URL's path or host, and error messages show origin and path.
 * The answer itself (status, headers, body) is the data the flow asked for and is left as it came.
 */
function withoutSecrets(result: OutgoingResult, secrets: string[]): OutgoingResult {
  if (secrets.length === 0) return result;
  const variants = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s), encodeURI(s)]))];
  const { url, finalUrl, error } = redactSecrets({ url: result.url, finalUrl: result.finalUrl, error: result.error }, variants);
  return { ...result, url, finalUrl, error };
}
