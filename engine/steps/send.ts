import type { Send } from '../types/flow.ts';
import type { StepDefinition } from './types.ts';
import type { CompiledTemplate } from '../expr/template.ts';

/** Which send fields each driver needs and understands. */
const DRIVER_FIELDS: Record<string, { needs: string[][]; allows: string[] }> = {
  'twilio-sms': { needs: [['text', 'mediaUrl']], allows: ['text', 'mediaUrl'] },
  'twilio-voice': { needs: [['say', 'url']], allows: ['say', 'url', 'voice', 'language'] },
  smtp: { needs: [['subject'], ['text', 'html']], allows: ['subject', 'text', 'html', 'replyTo'] },
};

const MESSAGE_FIELDS = ['to', 'text', 'subject', 'html', 'replyTo', 'mediaUrl', 'say', 'url', 'voice', 'language'] as const;

/**
 * `send`: a message on a configured channel. The result is `{ ok, messageId, providerId, status, error }`; a failure
 * (invalid recipient, channel not opened, provider refused after retries) fails the step (ok false), not the flow.
 */
export const sendStep: StepDefinition<Send> = {
  kind: 'send',
  pure: false,
  compile(id, spec, path, ctx) {
    const given = spec as unknown as Record<string, unknown>;
    const channel = ctx.config.channels[spec.channel];
    if (!channel) {
      const known = Object.keys(ctx.config.channels);
      ctx.problem([...path, 'channel'], `unknown channel "${spec.channel}"; channels in the config: ${known.length ? known.join(', ') : 'none'}`);
    } else if (channel.driver !== 'outbox') {
      const rules = DRIVER_FIELDS[channel.driver];
      for (const oneOf of rules.needs) {
        if (!oneOf.some((field) => given[field] !== undefined)) {
          ctx.problem(path, `a message on channel "${spec.channel}" (${channel.driver}) needs ${oneOf.map((f) => `\`${f}\``).join(' or ')}`);
        }
      }
      for (const field of MESSAGE_FIELDS) {
        if (field !== 'to' && given[field] !== undefined && !rules.allows.includes(field)) {
          ctx.problem([...path, field], `\`${field}\` does not apply to channel "${spec.channel}" (${channel.driver}); it uses ${rules.allows.join(', ')}`, { key: true });
        }
      }
    }
    const { defaultCountry } = ctx;
    const fields: [string, CompiledTemplate][] = [];
    for (const field of MESSAGE_FIELDS) {
      const value = given[field];
      if (value !== undefined) fields.push([field, ctx.template([...path, field], value)]);
    }
    return {
      id,
      kind: 'send',
      async run({ scope, bindings, services }) {
        const message: Record<string, string | undefined> = {};
        for (const [field, template] of fields) {
          const value = await template(scope, bindings);
          message[field] = value === undefined || value === null ? undefined : String(value);
        }
        try {
          const sent = await services.send(id, { channel: spec.channel, message, contactId: scope.contact?.id ?? null, defaultCountry });
          return { result: { ok: true, ...sent, error: null } };
        } catch (err) {
          // the stored message's id when there is one (an invalid number, a refused or failed send is stored too)
          const e = err as Error & { messageId?: string | null; code?: string | number; transient?: boolean };
          const error: Record<string, unknown> = { message: e.message };
          if (e.code !== undefined) error.code = e.code;
          if (typeof e.transient === 'boolean') error.transient = e.transient;
          return { result: { ok: false, messageId: e.messageId ?? null, providerId: null, status: 'failed', error } };
        }
      },
    };
  },
};
