import type { CommandContext } from './main.ts';
import { startEngine } from '../server/engine.ts';

function portOf(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`"${String(value)}" is not a port number`);
  return port;
}

/** `hooks serve`: runs the engine until SIGTERM or SIGINT, then shuts down gracefully; SIGHUP reloads config and flows. */
export const serveCommand = {
  summary: 'serve the flows as webhook routes (--port/PORT, --host/HOST override the config; --no-watch: reload on SIGHUP only)',
  options: { port: { type: 'string' as const }, host: { type: 'string' as const }, 'no-watch': { type: 'boolean' as const } },
  async run(ctx: CommandContext, values: Record<string, unknown>): Promise<number> {
    let port: number | undefined;
    try {
      port = portOf(values.port ?? process.env.PORT);
    } catch (err) {
      ctx.err(`hooks serve: ${(err as Error).message}`);
      return 2;
    }
    const engine = await startEngine(ctx.config, {
      port,
      host: (values.host as string | undefined) ?? process.env.HOST ?? undefined,
      watch: values['no-watch'] ? false : undefined,
    });
    const hangup = () => {
      engine.app.log.info('SIGHUP: reloading the config and every flow');
      void engine.reload();
    };
    process.on('SIGHUP', hangup);
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        process.off('SIGHUP', hangup);
        engine.app.log.info(`${signal}: finishing in-flight requests and running steps, then closing storage`);
        engine.close().then(resolve, (err) => {
          engine.app.log.error({ err }, 'shutdown failed');
          resolve();
        });
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
    return 0;
  },
};
