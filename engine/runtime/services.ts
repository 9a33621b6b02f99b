import type { ChannelDriver } from '../../channels/index.ts';
import type { StepServices } from '../steps/types.ts';
import { sendRequest } from '../http/request.ts';

/** The step services of a running engine: real HTTP requests and real channel drivers. */
export function liveServices(channels: Map<string, ChannelDriver>, newId: (prefix: string) => string): StepServices {
  return {
    http: (_stepId, request) => sendRequest(request),
    async send(_stepId, { channel, message }) {
      const driver = channels.get(channel);
      if (!driver) throw new Error(`channel "${channel}" is not configured`);
      const sent = await driver.send({ ...message, to: message.to ?? '' });
      return { messageId: newId('msg'), providerId: sent.providerId, status: sent.status };
    },
  };
}
