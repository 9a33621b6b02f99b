import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/load.ts';
import type { Store } from '../store/types.ts';
import type { EngineContext } from '../request/context.ts';
import { openStore } from '../store/open.ts';
import { reloadConfig } from '../config/live.ts';
import { HotReload, flowGauges, type HotReloadOptions } from '../flow/hot-reload.ts';
import type { FlowTable } from '../flow/live.ts';
import { Metrics } from '../common/metrics.ts';
import { RateLimiter } from '../trust/rate-limit.ts';
import { Worker } from '../execution/worker.ts';
import { liveServices, type ServicesFor } from '../execution/services.ts';
import { newId } from '../common/ids.ts';
import { buildApp } from './app.ts';
import { ChannelRegistry } from './channels.ts';
import { contactFinder } from '../contacts/identify.ts';
import { EventHub } from '../events/service.ts';
import { readYamlFile } from '../schema/document.ts';
import { relative } from 'node:path';

export interface EngineOptions extends HotReloadOptions {
  port?: number;
  host?: string;
  /** Fastify/pino logger options, or false for silence (tests) */
  logger?: boolean | object;
}

export interface Engine {
  app: FastifyInstance;
  url: string;
  store: Store;
  flows: FlowTable;
  /** whether file changes are picked up on their own */
  watching: boolean;
  /** what SIGHUP does: reads the config again and recompiles every flow; resolves once applied */
  reload(): Promise<void>;
  /** stops accepting requests, lets in-flight requests and running steps finish, closes storage */
  close(): Promise<void>;
}

const SWEEP_EVERY_MS = 60 * 60_000;

/** Parts of the engine's context that exist only once the app (and its log) does. */
interface LateParts {
  worker?: Worker;
  services?: ServicesFor;
}

/** Starts an engine: storage, channels, flows (and their watcher), the async worker and the HTTP server, in that order. */
export async function startEngine(config: EngineConfig, options: EngineOptions = {}): Promise<Engine> {
  let ready = false;
  // the logger comes with the HTTP app, after the store (whose background work starts with its first write)
  let reportStoreError = (message: string) => console.error(`storage: ${message}`);
  const store = await openStore(config.storage.url, { background: { onError: (message) => reportStoreError(message) } });
  const flows = new HotReload(config, options);
  const metrics = new Metrics();
  const events = new EventHub({ config, store, newId });
  const late: LateParts = {};
  const ctx = engineContext(config, store, metrics, events, late);
  const app = buildApp({ config, ctx, flows: flows.table, ready: () => ready, logger: options.logger ?? { level: 'info' } });
  const log = app.log;
  reportStoreError = (message) => log.error(`storage: ${message}`);

  const channels = new ChannelRegistry(config, log, () => flows.secrets);
  late.services = liveServices(channels.drivers, newId, { store, config, now: ctx.now });
  const env = options.env ?? process.env;
  const reloadConfigFile = () => reloadConfig(config, { env, log, swapChannels: (next) => channels.swap(next) });
  await flows.start({ log, reloadConfig: reloadConfigFile }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  engineGauges(metrics, store, flows);

  const worker = (late.worker = new Worker(ctx, {
    concurrency: config.queue.concurrency,
    leaseMs: config.queue.leaseMs,
    pollMs: 1_000,
    flowFor: (execution) => flows.table.byRevision(execution.flowId, execution.revision),
    contactFor: contactFinder(store),
    onError: (err, execution) => log.error({ err, execution }, 'execution could not be recorded'),
    onFailed: (execution, error) => log.warn({ execution: execution.id, flow: execution.flowId, log: execution.logId }, `execution ${execution.id} of flow ${execution.flowId} failed: ${error}`),
  }));
  worker.start();
  events.start({ log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (details, m) => log.error(details, m) }, metrics });
  const sweeper = sweepRetention(store, config, log);

  const host = options.host ?? config.server.host;
  await app.listen({ port: options.port ?? config.server.port, host });
  if (!config.admin.token) log.info(await adminOffNotice(config));
  ready = true;
  return {
    app,
    url: localUrl(app, host, config.server.port),
    store,
    flows: flows.table,
    watching: flows.watching,
    reload: () => flows.reload(),
    async close() {
      ready = false;
      await flows.close();
      clearInterval(sweeper);
      await app.close();
      await worker.stop();
      await events.stop();
      await channels.close();
      await store.close();
    },
  };
}

/** The request path's context; the worker and the services it reaches through `late` are set once they exist. */
function engineContext(config: EngineConfig, store: Store, metrics: Metrics, events: EventHub, late: LateParts): EngineContext {
  return {
    config,
    store,
    metrics,
    limiter: new RateLimiter(),
    services: (flow, executionId) => late.services!(flow, executionId),
    worker: {
      reserve: () => late.worker?.reserve() ?? false,
      takeSlot: () => late.worker?.takeSlot() ?? false,
      runInSlot: (execution, run) => late.worker?.runInSlot(execution, run),
      runReserved: (execution) => late.worker?.runReserved(execution),
      notify: () => late.worker?.notify(),
      follow: (executionId, run) => late.worker?.follow(executionId, run),
    },
    events,
    now: () => new Date(),
    newId,
  };
}

function engineGauges(metrics: Metrics, store: Store, flows: HotReload): void {
  metrics.gauge('hooks_queue_depth', 'Async executions waiting or running.', () => store.queueDepth());
  flowGauges(metrics, flows);
}

/** Removes webhook log entries past the retention, hourly. */
function sweepRetention(store: Store, config: EngineConfig, log: FastifyBaseLogger): NodeJS.Timeout {
  const sweeper = setInterval(() => {
    store.sweep(new Date(Date.now() - config.storage.retentionMs).toISOString()).then(
      (removed: number) => removed > 0 && log.info(`retention: removed ${removed} webhook log entries`),
      (err: unknown) => log.error({ err }, 'retention sweep failed'),
    );
  }, SWEEP_EVERY_MS);
  sweeper.unref();
  return sweeper;
}

/**
 * Said once at start-up when the admin API is off: the quick start runs without a token, and the webhook log's API,
 * replay, contacts and messages all need one. Names the environment variable when the config reads the token from one.
 */
async function adminOffNotice(config: EngineConfig): Promise<string> {
  const near = config.file && relative(process.cwd(), config.file);
  const file = near && !near.startsWith('..') ? near : config.file;
  const raw = file ? await readYamlFile(config.file!, file) : undefined;
  const token = raw?.ok ? (raw.value as { admin?: { token?: unknown } } | null)?.admin?.token : undefined;
  const variable = typeof token === 'string' ? /\$\{env:([A-Za-z_][A-Za-z0-9_]*)/.exec(token)?.[1] : undefined;
  const where = `admin.token${file ? ` in ${file}` : ' in hooks.config.yaml'}`;
  return `admin API off: set ${variable ? `${variable} (${where})` : where} to turn on /api (webhook log, replay, contacts, messages)`;
}

/** Where this process reaches the server it listens on. */
function localUrl(app: FastifyInstance, host: string, configuredPort: number): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : configuredPort;
  return `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
}
