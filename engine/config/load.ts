import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from '../types/config.ts';
import { readYamlFile, type SourceDocument } from '../schema/document.ts';
import { validateAgainst, configSchema } from '../schema/validate.ts';
import type { Problem } from '../schema/problem.ts';
import { resolveEnvRefs } from '../expr/env.ts';
import { durationOr } from '../expr/duration.ts';
import { DEFAULT_LIMITS, type ExpressionLimits } from '../expr/expression.ts';

type Channels = NonNullable<Config['channels']>;
type Subscription = NonNullable<Config['subscriptions']>[number];

/** The configuration with every default applied, env references resolved and paths made absolute. */
export interface EngineConfig {
  /** the config file, or undefined when running on defaults */
  file: string | undefined;
  /** folder that relative paths resolve against */
  dir: string;
  server: { host: string; port: number; basePath: string; bodyLimit: number; requestTimeoutMs: number; publicUrl: string | undefined; trustProxy: boolean };
  storage: { url: string; retentionMs: number };
  queue: { concurrency: number; leaseMs: number };
  flows: { dir: string; watch: boolean };
  admin: { token: string | undefined };
  http: { timeoutMs: number; allowPrivateNetworks: boolean; allowList: string[]; maxResponseBytes: number; maxRedirects: number };
  limits: ExpressionLimits;
  fields: NonNullable<Config['fields']>;
  strictFields: boolean;
  channels: Channels;
  subscriptions: Subscription[];
  /** settings of the outgoing events: one subscription per channel at most (checked at load), the botmaker-1.1 businessId */
  events: { onePerChannel: boolean; businessId: string | null };
  /** values substituted from the environment: never printed */
  secrets: string[];
}

export const DEFAULT_CONFIG_FILE = 'hooks.config.yaml';

/** Without a channels section, the usual channel names exist and store their messages in the outbox. */
const DEFAULT_CHANNELS: Channels = { sms: { driver: 'outbox' }, voice: { driver: 'outbox' }, email: { driver: 'outbox' } };

export type ConfigResult = { ok: true; config: EngineConfig } | { ok: false; problems: Problem[] };

/**
 * Finds the config file: the explicit one, else HOOKS_CONFIG, else ./hooks.config.yaml. A missing default file means
 * "run on defaults" (a folder of flows and nothing else); a missing explicit file is an error.
 */
export async function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ConfigResult> {
  const named = explicit ?? env.HOOKS_CONFIG;
  const file = resolve(cwd, named ?? DEFAULT_CONFIG_FILE);
  if (!named && !existsSync(file)) return { ok: true, config: withDefaults({}, undefined, cwd, []) };
  const read = await readYamlFile(file, named ?? DEFAULT_CONFIG_FILE);
  if (!read.ok) return read;
  const raw = read.value ?? {};
  // Config env references may be empty: an unset Twilio token means "outbox", an unset admin token "no admin API".
  const secrets: string[] = [];
  const resolved = mapStrings(raw, (text) => {
    const result = resolveEnvRefs(text, env);
    secrets.push(...result.secrets);
    return result.value;
  });
  const problems = validateAgainst(configSchema, resolved, read.source, raw);
  if (problems.length === 0) problems.push(...channelClashes(resolved as Config, read.source));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: withDefaults(resolved as Config, file, dirname(file), secrets) };
}

/**
 * `events.onePerChannel`: each channel has one subscription at most, counting the enabled subscriptions that take its
 * message or status events (one without `channels:` takes every channel). The later subscription of a clash is named.
 */
function channelClashes(c: Config, source: SourceDocument): Problem[] {
  if (!c.events?.onePerChannel) return [];
  const problems: Problem[] = [];
  const subs = c.subscriptions ?? [];
  const holders = new Map<string, number>();
  let holdsEvery: number | undefined;
  const rule = 'events.onePerChannel allows one subscription per channel';
  subs.forEach((sub, i) => {
    if (sub.enabled === false || !sub.events.some((type) => type === 'message' || type === 'status')) return;
    const channels = sub.channels && sub.channels.length > 0 ? sub.channels : undefined;
    if (!channels) {
      const other = holdsEvery ?? [...holders.values()][0];
      if (other !== undefined) {
        problems.push(source.problem(['subscriptions', i], `subscription "${sub.id}" takes every channel (it has no channels:), and subscription "${subs[other].id}" (subscriptions[${other}]) takes ${holdsEvery === undefined ? `channel "${[...holders.keys()][0]}"` : 'every channel'} already: ${rule}; give it channels: that no other subscription has, or disable one`));
      }
      holdsEvery ??= i;
      return;
    }
    channels.forEach((channel, j) => {
      const other = holdsEvery ?? holders.get(channel);
      if (other !== undefined && other !== i) {
        problems.push(source.problem(['subscriptions', i, 'channels', j], `channel "${channel}" has subscription "${subs[other].id}" (subscriptions[${other}]) already: ${rule}; remove it here or there, or disable one`));
      }
      if (!holders.has(channel)) holders.set(channel, i);
    });
  });
  return problems;
}

function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, fn));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}

function normaliseBasePath(path: string | undefined): string {
  const trimmed = (path ?? '/hooks').replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function storageUrl(url: string | undefined, dir: string): string {
  const value = url ?? 'sqlite://data/hooks.db';
  if (!value.startsWith('sqlite://')) return value;
  const path = value.slice('sqlite://'.length);
  return path === ':memory:' ? value : `sqlite://${resolve(dir, path)}`;
}

function withDefaults(c: Config, file: string | undefined, dir: string, secrets: string[]): EngineConfig {
  return {
    file,
    dir,
    server: {
      host: c.server?.host ?? '0.0.0.0',
      port: c.server?.port ?? 8080,
      basePath: normaliseBasePath(c.server?.basePath),
      bodyLimit: c.server?.bodyLimit ?? 1024 * 1024,
      requestTimeoutMs: durationOr(c.server?.requestTimeout, 30_000),
      publicUrl: c.server?.publicUrl?.replace(/\/+$/, '') || undefined,
      trustProxy: c.server?.trustProxy ?? false,
    },
    storage: { url: storageUrl(c.storage?.url, dir), retentionMs: durationOr(c.storage?.retention, 30 * 86_400_000) },
    queue: { concurrency: c.queue?.concurrency ?? 16, leaseMs: durationOr(c.queue?.lease, 30_000) },
    flows: { dir: resolve(dir, c.flows?.dir ?? 'flows'), watch: c.flows?.watch ?? true },
    admin: { token: c.admin?.token || undefined },
    http: {
      timeoutMs: durationOr(c.http?.timeout, 15_000),
      allowPrivateNetworks: c.http?.allowPrivateNetworks ?? false,
      allowList: c.http?.allowList ?? [],
      maxResponseBytes: c.http?.maxResponseBytes ?? 1024 * 1024,
      maxRedirects: c.http?.maxRedirects ?? 5,
    },
    limits: {
      timeoutMs: durationOr(c.limits?.expressionTimeout, DEFAULT_LIMITS.timeoutMs),
      maxDepth: c.limits?.expressionDepth ?? DEFAULT_LIMITS.maxDepth,
      maxSequence: DEFAULT_LIMITS.maxSequence,
    },
    fields: c.fields ?? {},
    strictFields: c.strictFields ?? false,
    channels: c.channels ?? DEFAULT_CHANNELS,
    subscriptions: c.subscriptions ?? [],
    events: { onePerChannel: c.events?.onePerChannel ?? false, businessId: c.events?.businessId || null },
    secrets,
  };
}
