/* Generated from schemas/config.schema.json by `npm run gen:types`. Do not edit: change the schema. */

/**
 * A duration with a unit: 500ms, 15s, 5m, 2h, 1d.
 *
 * This interface was referenced by `Config`'s JSON-Schema
 * via the `definition` "duration".
 */
export type Duration = string;

/**
 * The engine's configuration (hooks.config.yaml): server, storage, flows, admin API, outgoing HTTP, contact fields, channels and event subscriptions. Relative paths resolve against this file's folder.
 */
export interface Config {
  /**
   * The HTTP server.
   */
  server?: {
    /**
     * Address to listen on. Default 0.0.0.0; HOST or --host override it.
     */
    host?: string;
    /**
     * Port to listen on. Default 8080; PORT or --port override it.
     */
    port?: number;
    /**
     * Path under which flow routes live. Default /hooks.
     */
    basePath?: string;
    /**
     * Largest accepted request body in bytes. Default 1048576.
     */
    bodyLimit?: number;
    /**
     * How long a caller may take to send a whole request, headers and body; past it the engine answers 408 and closes the connection (a body that stops arriving holds nothing longer). Default 30s.
     */
    requestTimeout?: string;
    /**
     * How callers reach this server (behind a proxy): used for Twilio callback URLs and signature checks.
     */
    publicUrl?: string;
    /**
     * Trust X-Forwarded-* headers for the caller's IP. Default false.
     */
    trustProxy?: boolean;
  };
  /**
   * Where the webhook log, executions, queue, contacts and messages are stored.
   */
  storage?: {
    /**
     * sqlite://<file> (default sqlite://data/hooks.db) or postgres://user:pass@host/db.
     */
    url?: string;
    /**
     * How long webhook log entries and finished executions are kept. Default 30d.
     */
    retention?: string;
  };
  /**
   * The durable queue of async executions.
   */
  queue?: {
    /**
     * Async executions run at once by this process. Default 16.
     */
    concurrency?: number;
    /**
     * How long a claimed execution stays with this process without a sign of life; after a crash, another process (or this one restarted) takes it over once the lease runs out. Default 30s.
     */
    lease?: string;
  };
  /**
   * Where the flow files are.
   */
  flows?: {
    /**
     * Folder of flow files (*.yaml, *.yml). Default flows.
     */
    dir?: string;
    /**
     * Hot-reload changed files. Default true.
     */
    watch?: boolean;
  };
  /**
   * The admin API under /api.
   */
  admin?: {
    /**
     * Bearer token for /api. Empty or missing: the admin API is off.
     */
    token?: string;
  };
  /**
   * Outgoing HTTP requests made by http steps.
   */
  http?: {
    /**
     * Default request timeout. Default 15s.
     */
    timeout?: string;
    /**
     * Allow requests to loopback, link-local and private addresses. Default false.
     */
    allowPrivateNetworks?: boolean;
    /**
     * Hosts or CIDR ranges allowed even when private networks are not.
     */
    allowList?: string[];
    /**
     * Largest response body read. Default 1048576.
     */
    maxResponseBytes?: number;
    /**
     * Redirects followed at most. Default 5.
     */
    maxRedirects?: number;
  };
  /**
   * Bounds on expression evaluation, so that a runaway flow cannot stall the server.
   */
  limits?: {
    /**
     * Longest one JSONata evaluation may run. Default 1s.
     */
    expressionTimeout?: string;
    /**
     * Deepest recursion one JSONata evaluation may reach. Default 500.
     */
    expressionDepth?: number;
  };
  /**
   * Declared contact fields and their types; map: values that do not fit are logged as errors.
   */
  fields?: {
    /**
     * The field's type.
     */
    [k: string]: 'text' | 'number' | 'boolean' | 'date' | 'datetime';
  };
  /**
   * Only declared fields may be written by map:. Default false.
   */
  strictFields?: boolean;
  /**
   * Channels by name (sms, voice, email, any name), each with its driver.
   */
  channels?: {
    [k: string]: Channel;
  };
  /**
   * Systems that receive the engine's events.
   */
  subscriptions?: Subscription[];
  /**
   * Settings of the engine's outgoing events, for every subscription. A change needs a restart, except that a config breaking onePerChannel is refused on reload too.
   */
  events?: {
    /**
     * At most one subscription per channel, the original products' rule: no two enabled subscriptions that take message or status events may cover the same channel (one without channels: covers every channel). Checked when the config loads, the second subscription named with its line. Default false.
     */
    onePerChannel?: boolean;
    /**
     * The businessId of botmaker-1.1 events (the account the events belong to); unset: null.
     */
    businessId?: string;
  };
}
/**
 * A channel: its driver and the driver's settings. A Twilio or SMTP channel whose credentials are empty runs as outbox.
 *
 * This interface was referenced by `Config`'s JSON-Schema
 * via the `definition` "channel".
 */
export interface Channel {
  /**
   * twilio-sms, twilio-voice, smtp or outbox.
   */
  driver: 'twilio-sms' | 'twilio-voice' | 'smtp' | 'outbox';
  /**
   * Twilio account SID.
   */
  accountSid?: string;
  /**
   * Twilio auth token.
   */
  authToken?: string;
  /**
   * Sender: a phone number (Twilio) or an address (e-mail).
   */
  from?: string;
  /**
   * Twilio SMS: send through a messaging service instead of a from number.
   */
  messagingServiceSid?: string;
  /**
   * Twilio API base URL override: a proxy, or a mock in tests.
   */
  baseUrl?: string;
  /**
   * SMTP: smtp://user:pass@host:port or smtps://.
   */
  url?: string;
  /**
   * May this channel message someone who never wrote first? Default true.
   */
  canInitiate?: boolean;
}
/**
 * An outbound event subscription.
 *
 * This interface was referenced by `Config`'s JSON-Schema
 * via the `definition` "subscription".
 */
export interface Subscription {
  /**
   * Unique id.
   */
  id: string;
  /**
   * The receiver's URL.
   */
  url: string;
  /**
   * Event types delivered.
   *
   * @minItems 1
   */
  events: ['message' | 'status' | 'variables' | 'execution', ...('message' | 'status' | 'variables' | 'execution')[]];
  /**
   * The body's format: hooks-1.1 (schemas/event.schema.json) or botmaker-1.1, the original product's field names and fields (schemas/event-botmaker-1.1.schema.json). Default hooks-1.1.
   */
  format?: 'hooks-1.1' | 'botmaker-1.1';
  /**
   * Only events of these channels.
   */
  channels?: string[];
  /**
   * Only events of these flows.
   */
  flows?: string[];
  /**
   * false stops deliveries; pending events wait. Default true.
   */
  enabled?: boolean;
  /**
   * Standard Webhooks signing secret (whsec_...).
   */
  secret?: string;
  /**
   * Answer deadline. Default 15s.
   */
  timeout?: string;
  /**
   * Extra headers on every delivery.
   */
  headers?: {
    [k: string]: string;
  };
  /**
   * Delay before each attempt. Default [0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h].
   *
   * @minItems 1
   */
  retrySchedule?: [Duration, ...Duration[]];
  /**
   * Deliver one event at a time, in order. Default false.
   */
  ordered?: boolean;
  /**
   * A duration with a unit: 500ms, 15s, 5m, 2h, 1d.
   */
  slowThreshold?: string;
  /**
   * Circuit breaker: over `failures` in `window` pauses deliveries for `cooldown`.
   */
  breaker?: {
    /**
     * Default 100.
     */
    failures?: number;
    /**
     * A duration with a unit: 500ms, 15s, 5m, 2h, 1d.
     */
    window?: string;
    /**
     * A duration with a unit: 500ms, 15s, 5m, 2h, 1d.
     */
    cooldown?: string;
  };
}
