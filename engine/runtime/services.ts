import type { ChannelDriver } from '../../channels/index.ts';
import type { StepServices } from '../steps/types.ts';
import { sendRequest, type OutgoingResult } from '../http/request.ts';
import { redactSecrets } from './redact.ts';

/** What the services of one execution need to know about its flow. */
export interface ServiceFlow {
  /** values the flow resolved from ${env:}: kept out of the call records steps keep */
  secrets: string[];
}

/** Step services for one execution of one flow. */
export type ServicesFor = (flow: ServiceFlow, executionId: string) => StepServices;

const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/**
 * The step services of a running engine: real HTTP requests and real channel drivers. Built once per engine; the
 * function it returns gives each execution its own services, so that what they do can carry the execution's id.
 */
export function liveServices(channels: Map<string, ChannelDriver>, newId: (prefix: string) => string): ServicesFor {
  return (flow, executionId) => ({
    async http(stepId, request) {
      // A resumed execution sends a step that was interrupted mid-call again, with the same key: receivers can dedupe.
      const headers = { ...request.headers };
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key')) headers[IDEMPOTENCY_HEADER] = `${executionId}:${stepId}`;
      return withoutSecrets(await sendRequest({ ...request, headers }), flow.secrets);
    },
    async send(_stepId, { channel, message }) {
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
