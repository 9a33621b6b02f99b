import type { CommandContext } from './main.ts';
import { startEngine, type Engine } from '../server/engine.ts';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

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
    const log = engine.app.log;
    const state = { stopping: false };
    const hangup = () => {
      if (state.stopping) return log.info('SIGHUP: no reload, the engine is stopping');
      log.info('SIGHUP: reloading the config and every flow');
      const started = performance.now();
      engine.reload().then(
        () => log.info(`reload on SIGHUP done in ${Math.round(performance.now() - started)} ms: ${liveCounts(engine)}`),
        (err: unknown) => log.error({ err }, 'reload on SIGHUP failed'),
      );
    };
    process.on('SIGHUP', hangup);
    await untilStopped(engine, state);
    process.off('SIGHUP', hangup);
    return 0;
  },
};

function liveCounts(engine: Engine): string {
  const failing = engine.flows.files().filter((f) => f.status !== 'ok').length;
  return `${engine.flows.list().length} flows live, ${failing} failing`;
}

/**
 * Resolves once SIGTERM or SIGINT has stopped the engine gracefully. A signal that comes again while it stops is
 * noted and changes nothing: Ctrl-C under `npm start` reaches the engine twice (from the terminal and from npm),
 * and the second must not cut the shutdown short.
 */
function untilStopped(engine: Engine, state: { stopping: boolean }): Promise<void> {
  const log = engine.app.log;
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (state.stopping) return log.info(`${signal}: already stopping (in-flight requests and running steps finish first; SIGKILL stops at once)`);
      state.stopping = true;
      log.info(`${signal}: finishing in-flight requests and running steps, then closing storage`);
      engine.close().then(
        () => {
          log.info('stopped');
          resolve();
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve();
        },
      );
    };
    // kept to the end: a late repeat must not kill the process with the default action (signals keep nothing alive)
    for (const name of STOP_SIGNALS) process.on(name, stop);
  });
}
