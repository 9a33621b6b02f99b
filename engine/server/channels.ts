import type { FastifyBaseLogger } from 'fastify';
import type { EngineConfig } from '../config/load.ts';
import { sameValue } from '../config/live.ts';
import { createDriver, describeChannels, outboxContent, type ChannelDriver, type OutgoingMessage } from '../../channels/index.ts';
import { statusCallbackUrl } from '../messages/status-callback.ts';
import { channelSecrets } from '../messages/outbound.ts';
import { redactSecrets } from '../common/redact.ts';

/** a replaced channel driver may still be sending: close it once any send has surely ended */
const RETIRE_AFTER_MS = 120_000;

type ChannelConfigs = EngineConfig['channels'];

/** The engine's channel drivers by name. A config reload swaps changed drivers in; replaced ones close once idle. */
export class ChannelRegistry {
  /** the live drivers: the engine's services send through this map */
  readonly drivers = new Map<string, ChannelDriver>();
  private readonly retired = new Set<ChannelDriver>();

  /**
   * `flowSecrets`: the values the flows took from ${env:}; an outbox line prints the message, and those (with the
   * channels' credentials) are taken out of it, as they are from the stored message.
   */
  constructor(
    private readonly config: EngineConfig,
    private readonly log: FastifyBaseLogger,
    private readonly flowSecrets: () => Iterable<string> = () => [],
  ) {
    for (const [name, channel] of Object.entries(config.channels)) this.drivers.set(name, this.build(name, channel));
    for (const line of describeChannels(this.drivers.values())) log.info(`channel ${line}`);
  }

  /** Swaps in the drivers of changed channels (compared with the config's), all or none; false when one cannot be built. */
  swap(next: ChannelConfigs): boolean {
    const built = new Map<string, ChannelDriver>();
    try {
      for (const [name, channel] of Object.entries(next)) if (!sameValue(this.config.channels[name], channel)) built.set(name, this.build(name, channel));
    } catch (err) {
      for (const driver of built.values()) void driver.close?.();
      this.log.error(`config not reloaded: ${(err as Error).message}; the running channels stay`);
      return false;
    }
    for (const [name, driver] of [...this.drivers]) {
      if (name in next && !built.has(name)) continue;
      this.drivers.delete(name);
      this.retire(driver);
      if (!(name in next)) this.log.info(`channel ${name} removed`);
    }
    for (const [name, driver] of built) this.drivers.set(name, driver);
    for (const line of describeChannels(built.values())) this.log.info(`channel ${line}`);
    return true;
  }

  /** Closes every driver, live or retired. */
  async close(): Promise<void> {
    await Promise.all([...this.drivers.values(), ...this.retired].map((c) => c.close?.()));
  }

  private build(name: string, channel: ChannelConfigs[string]): ChannelDriver {
    return createDriver(name, channel, {
      statusCallback: statusCallbackUrl(this.config),
      onOutbox: (ch, message) => this.printOutbox(ch, message),
    });
  }

  /** The outbox line: what the message says, to whom, on which channel, with every secret taken out. */
  private printOutbox(channel: string, message: OutgoingMessage): void {
    const shown = redactSecrets(message, [...this.flowSecrets(), ...channelSecrets(this.config)]);
    this.log.info({ channel, to: shown.to }, `outbox: ${channel} to ${shown.to}, not sent (outbox mode): ${outboxContent(shown)}`);
  }

  private retire(driver: ChannelDriver): void {
    this.retired.add(driver);
    setTimeout(() => this.retired.delete(driver) && void driver.close?.(), RETIRE_AFTER_MS).unref();
  }
}
