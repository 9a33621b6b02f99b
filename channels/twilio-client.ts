/**
 * Twilio client construction shared by twilio-sms and twilio-voice: credentials, the optional API base URL
 * override (`baseUrl`: a proxy, or Prism in tests), and mapping Twilio failures to ChannelError.
 */
import { createRequire } from 'node:module';
import type Twilio from 'twilio';
import { ChannelError, type SendResult, DEFAULT_TIMEOUT_MS, redact, safeUrl, type ChannelConfig } from './types.ts';

type TwilioSdk = typeof Twilio;
type RequestClient = InstanceType<TwilioSdk['RequestClient']>;
type RequestClientOptions = ConstructorParameters<TwilioSdk['RequestClient']>[0];
type RequestOptions = Parameters<RequestClient['request']>[0];

const require = createRequire(import.meta.url);
let sdk: TwilioSdk | undefined;

/** twilio-node takes about 22 MB in a bare `node`: required when the first Twilio driver is built, not at start. */
function twilioSdk(): TwilioSdk {
  return (sdk ??= require('twilio') as TwilioSdk);
}

let baseUrlClientClass: (new (baseUrl: string, options?: RequestClientOptions) => RequestClient) | undefined;

/**
 * twilio-node's documented hook for custom transports is `httpClient` (a RequestClient). This one sends every
 * request to `baseUrl` instead of https://<product>.<edge>.<region>.twilio.com, keeping path and query, so a
 * base with a path prefix (a proxy mounted under /twilio) works too. The rewrite happens after the client has
 * applied TWILIO_EDGE / TWILIO_REGION, so those cannot mangle the override host. Defined on first use, since
 * its base class is twilio-node's.
 */
export function createBaseUrlRequestClient(baseUrl: string, options: RequestClientOptions = {}): RequestClient {
  baseUrlClientClass ??= class BaseUrlRequestClient extends twilioSdk().RequestClient {
    private readonly base: URL;

    constructor(baseUrl: string, options: RequestClientOptions = {}) {
      super(options);
      this.base = parseBaseUrl(baseUrl);
    }

    override async request<TData>(opts: RequestOptions & { data?: TData }) {
      const response = await super.request<TData>({ ...opts, uri: rebase(opts.uri, this.base) });
      if (response.statusCode >= 400) response.body = withProblemMessage(response.body) as TData;
      return response;
    }
  };
  return new baseUrlClientClass(baseUrl, options);
}

/**
 * A proxy or mock in front of Twilio may answer errors as RFC 9457 problem+json without Twilio's `message`
 * field (Prism does), which twilio-node's RestException would turn into an empty message. Give such a body a
 * `message` from its title, detail and validation messages so the ChannelError says what went wrong.
 */
function withProblemMessage(body: unknown): unknown {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body;
    }
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return body;
  const problem = parsed as { message?: unknown; title?: unknown; detail?: unknown; validation?: unknown };
  if (typeof problem.message === 'string' && problem.message) return body;
  const validation = Array.isArray(problem.validation)
    ? problem.validation.map((v) => (v && typeof v === 'object' ? (v as { message?: unknown }).message : undefined)).filter((m): m is string => typeof m === 'string')
    : [];
  const parts = [typeof problem.title === 'string' ? problem.title : '', ...validation].filter(Boolean);
  if (parts.length === 0 && typeof problem.detail === 'string') parts.push(problem.detail);
  if (parts.length === 0) return body;
  return { ...problem, message: parts.join('; ') };
}

/** Validates a base URL (http or https; a path prefix is kept, query and fragment are ignored). Throws a config ChannelError otherwise. */
export function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ChannelError(`baseUrl is not a URL: ${safeUrl(baseUrl)}`, { transient: false, code: 'config' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ChannelError(`baseUrl must be http:// or https://, got ${url.protocol}`, { transient: false, code: 'config' });
  }
  return url;
}

/** https://api.twilio.com/2010-04-01/Accounts/AC../Messages.json + http://127.0.0.1:4010/prefix → http://127.0.0.1:4010/prefix/2010-04-01/... */
export function rebase(uri: string, base: URL): string {
  const original = new URL(uri);
  const target = new URL(base.href);
  target.pathname = base.pathname.replace(/\/+$/, '') + original.pathname;
  target.search = original.search;
  target.hash = '';
  return target.href;
}

export interface TwilioClientSettings {
  accountSid: string;
  authToken: string;
  baseUrl?: string;
  timeoutMs?: number;
}

export type TwilioClient = ReturnType<TwilioSdk>;

/** The secrets to scrub from error text: the auth token and the Basic auth value built from it. */
export function twilioSecrets(settings: TwilioClientSettings): string[] {
  return [settings.authToken, Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')];
}

export function createTwilioClient(settings: TwilioClientSettings): TwilioClient {
  const timeout = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!/^AC[0-9a-fA-F]{32}$/.test(settings.accountSid)) {
    // twilio-node only checks the AC prefix; a malformed SID would fail every send with a 404/422 later.
    throw new ChannelError('accountSid must be "AC" followed by 32 hex digits (an API key SID is not supported here)', {
      transient: false,
      code: 'config',
    });
  }
  const twilio = twilioSdk();
  const httpClient = settings.baseUrl
    ? createBaseUrlRequestClient(settings.baseUrl, { timeout })
    : new twilio.RequestClient({ timeout });
  return twilio(settings.accountSid, settings.authToken, {
    httpClient,
    timeout,
    // Debug logging would print request parameters (message bodies, phone numbers); never follow TWILIO_LOG_LEVEL here.
    logLevel: 'info',
    autoRetry: false, // the engine decides about retries from ChannelError.transient
  });
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL', 'ERR_NETWORK', 'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET',
]);

/**
 * Maps what the twilio client throws to a ChannelError:
 * - RestException (Twilio answered non-2xx): 429 and 5xx transient, other statuses permanent; Twilio's error
 *   code (e.g. 21211) is kept as `code`, the HTTP status as `status`.
 * - axios / socket errors (no answer at all): transient, `code` is the socket error code.
 * - anything else (e.g. the client's own parameter checks): permanent.
 * Only message text is copied over (redacted): the raw error holds the request config, Authorization included.
 */
export function twilioError(err: unknown, action: string, secrets: Array<string | undefined>): ChannelError {
  if (err instanceof ChannelError) return err;
  const e = (err ?? {}) as { status?: unknown; code?: unknown; message?: unknown; moreInfo?: unknown; isAxiosError?: unknown };
  const text = (value: unknown) => redact(typeof value === 'string' ? value : '', secrets);

  if (typeof e.status === 'number' && e.status >= 100) {
    // RestException (Twilio's classic error body) or TwilioServiceException (RFC 9457 body with title/detail/errors)
    const status = e.status;
    const code = (typeof e.code === 'number' && e.code !== 0) || (typeof e.code === 'string' && e.code) ? e.code : undefined;
    const transient = status === 429 || status >= 500;
    const service = e as { title?: unknown; detail?: unknown; errors?: unknown };
    const serviceText = typeof service.title === 'string'
      ? [service.title, service.detail, ...(Array.isArray(service.errors) ? service.errors.map((x) => (x as { detail?: unknown })?.detail) : [])]
        .filter((part): part is string => typeof part === 'string' && part !== '')
        .join('; ')
      : '';
    const detail = text(serviceText || e.message) || 'no error message';
    const more = typeof e.moreInfo === 'string' && e.moreInfo ? ` (${text(e.moreInfo)})` : '';
    return new ChannelError(`Twilio ${action} failed: HTTP ${status}${code !== undefined ? ` error ${code}` : ''}: ${detail}${more}`, {
      transient,
      code,
      status,
    });
  }

  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e.isAxiosError === true || (code && NETWORK_CODES.has(code))) {
    return new ChannelError(`Twilio ${action} failed: API not reachable: ${text(e.message) || code || 'network error'}`, {
      transient: true,
      code,
    });
  }
  return new ChannelError(`Twilio ${action} failed: ${text(e.message) || 'unknown error'}`, { transient: false, code });
}

/** Which Twilio settings are missing, or undefined when the channel can run for real. */
export function missingTwilioSettings(
  config: Pick<ChannelConfig, 'accountSid' | 'authToken' | 'from' | 'messagingServiceSid'>,
  needsFromOnly: boolean,
): string | undefined {
  if (!config.accountSid || !config.authToken) return 'TWILIO credentials not set';
  if (needsFromOnly ? !config.from : !config.from && !config.messagingServiceSid) {
    return needsFromOnly ? 'from not set' : 'from/messagingServiceSid not set';
  }
  return undefined;
}

/** How much earlier than the interrupted call a record may be dated: the provider's clock and ours differ a little. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** Records asked for per page, and the pages read at most: a busy recipient gets many messages in a few minutes. */
export const RECONCILE_PAGE_SIZE = 100;
const RECONCILE_MAX_PAGES = 20;

interface RecordPage<T> {
  instances: T[];
  nextPage(): Promise<RecordPage<T>> | undefined;
}

/**
 * The provider's record of an interrupted send: among the records Twilio lists (newest first, page by page, read
 * back to the call's time less the clock skew), the oldest one created since then that `matches` and that no other
 * message has adopted.
 */
export async function unclaimed<T extends { sid: string; dateCreated: Date; status: unknown }>(
  first: RecordPage<T>,
  since: Date,
  matches: (record: T) => boolean,
  taken: (providerId: string) => Promise<boolean>,
): Promise<SendResult | undefined> {
  const after = since.getTime() - CLOCK_SKEW_MS;
  const recent = (record: T) => record.dateCreated instanceof Date && record.dateCreated.getTime() >= after;
  const window: T[] = [];
  let page: RecordPage<T> | undefined = first;
  for (let n = 0; page && n < RECONCILE_MAX_PAGES; n++) {
    window.push(...page.instances.filter(recent));
    if (page.instances.length === 0 || !page.instances.every(recent)) break;
    page = await page.nextPage();
  }
  for (const record of window.reverse()) {
    if (matches(record) && !(await taken(record.sid))) return { providerId: record.sid, status: String(record.status) };
  }
  return undefined;
}
