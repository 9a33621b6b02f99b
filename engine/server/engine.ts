import type { FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/load.ts';
import type { Store } from '../store/types.ts';
import type { EngineContext } from '../runtime/pipeline.ts';
import { openStore } from '../store/open.ts';
import { listFlowFiles, loadFlowFiles } from '../flow/directory.ts';
import { formatProblem } from '../schema/problem.ts';
import { createDriver, describeChannels, type ChannelDriver } from '../../channels/index.ts';
import { Metrics } from '../runtime/metrics.ts';
import { Worker } from '../runtime/worker.ts';
import { liveServices } from '../runtime/services.ts';
import { newId } from '../runtime/ids.ts';
import { FlowTable } from './flow-table.ts';
import { buildApp } from './app.ts';

export interface EngineOptions {
  port?: number;
  host?: string;
  /** Fastify/pino logger options, or false for silence (tests) */
  logger?: boolean | object;
  /** where flows' ${env:} references are read; default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface Engine {
  app: FastifyInstance;
  url: string;
  store: Store;
  flows: FlowTable;
  /** stops accepting requests, lets in-flight requests and running steps finish, closes storage */
  close(): Promise<void>;
}

const SWEEP_EVERY_MS = 60 * 60_000;

/** Starts an engine: storage, channels, flows, the async worker and the HTTP server, in that order. */
export async function startEngine(config: EngineConfig, options: EngineOptions = {}): Promise<Engine> {
  let ready = false;
  const store = await openStore(config.storage.url);
  const flows = new FlowTable();
  const metrics = new Metrics();
  const channels = new Map<string, ChannelDriver>();
  let worker: Worker | undefined;

  const ctx: EngineContext = {
    config,
    store,
    metrics,
    services: () => services,
    notifyWorker: () => worker?.notify(),
    now: () => new Date(),
    newId,
  };
  const app = buildApp({ config, ctx, flows, ready: () => ready, logger: options.logger ?? { level: 'info' } });
  const log = app.log;

  for (const [name, channel] of Object.entries(config.channels)) {
    channels.set(name, createDriver(name, channel, { onOutbox: (ch, message) => log.info({ channel: ch, to: message.to }, `outbox: message on ${ch} to ${message.to} not sent (outbox mode)`) }));
  }
  for (const line of describeChannels(channels.values())) log.info(`channel ${line}`);
  const services = liveServices(channels, newId);

  const outcomes = await loadFlowFiles(await listFlowFiles(config.flows.dir), config, options.env);
  for (const outcome of outcomes) for (const problem of outcome.problems) log.error(`flow not loaded: ${formatProblem(problem)}`);
  flows.replace(outcomes.flatMap((o) => (o.flow ? [o.flow] : [])));
  for (const flow of flows.list()) log.info(`flow ${flow.id} (${flow.mode}) at ${config.server.basePath}${flow.route}`);

  metrics.gauge('hooks_queue_depth', 'Async executions waiting or running.', () => store.queueDepth());
  metrics.gauge('hooks_flows_loaded', 'Flows being served.', async () => flows.list().length);

  worker = new Worker(ctx, {
    concurrency: config.queue.concurrency,
    leaseMs: config.queue.leaseMs,
    pollMs: 1_000,
    flowFor: (execution) => flows.byRevision(execution.flowId, execution.revision),
    onError: (err, execution) => log.error({ err, execution: execution?.id }, 'async execution could not be recorded'),
  });
  worker.start();
  const sweeper = setInterval(() => {
    store.sweep(new Date(Date.now() - config.storage.retentionMs).toISOString()).then(
      (removed: number) => removed > 0 && log.info(`retention: removed ${removed} webhook log entries`),
      (err: unknown) => log.error({ err }, "retention sweep failed"),
    );
  }, SWEEP_EVERY_MS);
  sweeper.unref();

  await app.listen({ port: options.port ?? config.server.port, host: options.host ?? config.server.host });
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = options.host ?? config.server.host;

  return {
    app,
    url: `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
    store,
    flows,
    async close() {
      ready = false;
      clearInterval(sweeper);
      await app.close();
      await worker!.stop();
      await Promise.all([...channels.values()].map((c) => c.close?.()));
      await store.close();
    },
  };
}
