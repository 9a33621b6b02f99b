import type { EngineConfig } from '../config/load.ts';
import { parseDuration } from '../expr/duration.ts';
import type { EventType } from './types.ts';
import { signingKey } from './sign.ts';
import { redactUrl } from '../http/request.ts';
import { redactSecrets } from '../common/redact.ts';

type SubscriptionConfig = EngineConfig['subscriptions'][number];

/** The body's format: the engine's own (hooks-1.1, as stored) or the original product's (botmaker-1.1). */
export type EventFormat = NonNullable<SubscriptionConfig['format']>;
/** `satisfies` keeps the list exactly the schema's enum */
const FORMAT_SET = { 'hooks-1.1': true, 'botmaker-1.1': true } satisfies Record<EventFormat, true>;
export const EVENT_FORMATS = Object.keys(FORMAT_SET) as readonly EventFormat[];

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_RETRY_SCHEDULE = ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'];
export const DEFAULT_SLOW_MS = 3_000;
export const DEFAULT_BREAKER = { failures: 100, windowMs: 10 * 60_000, cooldownMs: 10 * 60_000 };

/** A subscription of the config with every default applied. */
export interface Subscription {
  id: string;
  url: string;
  /** the URL as it may be shown (API, CLI): no userinfo, no query values, no `${env:}` value of the config */
  shownUrl: string;
  events: EventType[];
  format: EventFormat;
  /** null: every channel */
  channels: string[] | null;
  /** null: every flow */
  flows: string[] | null;
  enabled: boolean;
  /** the decoded Standard Webhooks key; null: deliveries go unsigned (no secret configured) */
  key: Uint8Array | null;
  timeoutMs: number;
  headers: Record<string, string>;
  /** delay before each attempt: the first is counted from when the event was stored, the others from the failure before */
  scheduleMs: number[];
  ordered: boolean;
  slowMs: number;
  breaker: { failures: number; windowMs: number; cooldownMs: number };
  /** why it cannot deliver (a secret that is not a Standard Webhooks secret, a repeated id): its events wait */
  problems: string[];
}

// Headers a subscription may not set: the signature, and what describes the body.
const RESERVED_HEADERS = new Set(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'content-length', 'host']);

const resolved = new WeakMap<SubscriptionConfig, Subscription>();

/**
 * The config's subscriptions with defaults, resolved once per config object (a reload brings new objects). `secrets`:
 * the config's `${env:}` values, masked in the URLs shown.
 */
export function subscriptionsOf(config: Pick<EngineConfig, 'subscriptions'> & Partial<Pick<EngineConfig, 'secrets'>>): Subscription[] {
  const seen = new Set<string>();
  return config.subscriptions.map((given) => {
    let sub = resolved.get(given);
    if (!sub) resolved.set(given, (sub = resolve(given, config.secrets ?? [])));
    if (seen.has(sub.id)) return { ...sub, enabled: false, problems: [...sub.problems, `subscription id "${sub.id}" is used twice: only the first one delivers`] };
    seen.add(sub.id);
    return sub;
  });
}

function resolve(given: SubscriptionConfig, secrets: string[]): Subscription {
  const problems: string[] = [];
  let key: Uint8Array | null = null;
  if (given.secret !== undefined && given.secret !== '') {
    key = signingKey(given.secret) ?? null;
    if (!key) problems.push('secret is not a Standard Webhooks secret (whsec_ followed by base64)');
  } else if (given.secret === '') {
    // an unset ${env:X}: delivering unsigned would tell receivers that check signatures nothing; wait for the secret
    problems.push('secret is empty (an unset environment variable?): deliveries wait until it is set');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`header ${name} is set by the engine and cannot be configured`);
    else headers[name.toLowerCase()] = value;
  }
  const duration = (text: string | undefined, fallback: number, what: string) => {
    try {
      return text === undefined ? fallback : parseDuration(text);
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
      return fallback;
    }
  };
  const timeoutMs = duration(given.timeout, DEFAULT_TIMEOUT_MS, 'timeout');
  if (timeoutMs <= 0) problems.push('timeout must be above 0');
  return {
    id: given.id,
    url: given.url,
    shownUrl: redactSecrets(redactUrl(given.url), secrets),
    events: [...given.events],
    format: given.format ?? 'hooks-1.1',
    channels: given.channels && given.channels.length > 0 ? [...given.channels] : null,
    flows: given.flows && given.flows.length > 0 ? [...given.flows] : null,
    enabled: given.enabled ?? true,
    key,
    timeoutMs: Math.max(1, timeoutMs),
    headers,
    scheduleMs: (given.retrySchedule ?? DEFAULT_RETRY_SCHEDULE).map((d, i) => duration(d, 0, `retrySchedule[${i}]`)),
    ordered: given.ordered ?? false,
    slowMs: duration(given.slowThreshold, DEFAULT_SLOW_MS, 'slowThreshold'),
    breaker: {
      failures: given.breaker?.failures ?? DEFAULT_BREAKER.failures,
      windowMs: duration(given.breaker?.window, DEFAULT_BREAKER.windowMs, 'breaker.window'),
      cooldownMs: duration(given.breaker?.cooldown, DEFAULT_BREAKER.cooldownMs, 'breaker.cooldown'),
    },
    problems,
  };
}

/**
 * Does this subscription want this event? Its type must be listed. The channel and flow filters apply to events that
 * have a channel or a flow: `channels: [sms]` narrows message and status events to SMS and leaves `variables` and
 * `execution` events (which have no channel) alone; likewise `flows:` for a status event whose flow is unknown.
 */
export function wants(sub: Subscription, event: { type: EventType; flow?: string | null; channel?: string | null }): boolean {
  if (!sub.events.includes(event.type)) return false;
  if (sub.channels && event.channel != null && !sub.channels.includes(event.channel)) return false;
  if (sub.flows && event.flow != null && !sub.flows.includes(event.flow)) return false;
  return true;
}
