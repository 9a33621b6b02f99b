import { loadConfig, type EngineConfig } from './load.ts';
import { formatProblem } from '../schema/problem.ts';

/** config sections a running engine applies live; a change anywhere else is logged and waits for a restart */
const LIVE_SECTIONS = new Set(['channels', 'subscriptions', 'secrets', 'file', 'dir']);

/** Whether two config values are the same (config values are plain JSON). */
export const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export interface ConfigReloadDeps {
  /** where the config's ${env:} references are read */
  env: NodeJS.ProcessEnv;
  log: { info(message: string): void; warn(message: string): void; error(message: string): void };
  /** swaps in changed channel drivers, all or none; false when one cannot be built (the running channels stay) */
  swapChannels(next: EngineConfig['channels']): boolean;
}

/**
 * Reads the config file again and applies, in place, what can change live: secrets (added to, never dropped),
 * subscriptions and channels. Returns whether flows must be compiled again (send steps check channels).
 */
export async function reloadConfig(config: EngineConfig, deps: ConfigReloadDeps): Promise<boolean> {
  if (!config.file) return false;
  const { log } = deps;
  const loaded = await loadConfig(config.file, deps.env);
  if (!loaded.ok) {
    for (const p of loaded.problems) log.error(`config not reloaded: ${formatProblem(p)}; the running configuration stays`);
    return false;
  }
  const next = loaded.config;
  const restart = (Object.keys(next) as (keyof EngineConfig)[]).filter((key) => !LIVE_SECTIONS.has(key) && !sameValue(config[key], next[key]));
  if (restart.length > 0) log.warn(`config: ${restart.join(', ')} changed; restart the engine to apply (it keeps running on the old values)`);
  config.secrets = [...new Set([...config.secrets, ...next.secrets])];
  if (!sameValue(config.subscriptions, next.subscriptions)) {
    config.subscriptions = next.subscriptions;
    log.info(`config: subscriptions reloaded (${next.subscriptions.map((s) => s.id).join(', ') || 'none'})`);
  }
  if (sameValue(config.channels, next.channels) || !deps.swapChannels(next.channels)) return false;
  config.channels = next.channels;
  return true;
}
