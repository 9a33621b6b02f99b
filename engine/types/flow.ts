/* Generated from schemas/flow.schema.json by `npm run gen:types`. Do not edit: change the schema. */

/**
 * An HTTP method.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "method".
 */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
/**
 * A secret, normally "${env:NAME}" so that it never lives in git. Never logged or shown by `hooks plan`.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "secret".
 */
export type Secret = string;
/**
 * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "expression".
 */
export type Expression = string;
/**
 * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "stringTemplate".
 */
export type StringTemplate = string;
/**
 * A step id: unique in the flow; the step's result is at steps.<id> (use steps.`my-id` for ids with dashes).
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "stepId".
 */
export type StepId = string;
/**
 * A value in which every string may hold {{ expression }} templates. A string that is only {{ expression }} keeps the value's type. In an HTML context (a send step's html, a response body whose content-type header is text/html or application/xhtml+xml) each {{ expression }} is HTML-escaped and {{{ expression }}} is written raw; elsewhere both are the same.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "template".
 */
export type Template = unknown;
/**
 * Steps, run in order.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "steps".
 */
export type Steps = Step[];
/**
 * A name usable in expressions: letters, digits and underscores, not starting with a digit.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "name".
 */
export type Name = string;
/**
 * A duration with a unit: 500ms, 15s, 5m, 2h, 1d.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "duration".
 */
export type Duration = string;

/**
 * One webhook flow (format version 1): an inbound webhook, who it is about, which contact fields to fill, how the caller is answered, and the steps to run.
 */
export interface Flow {
  /**
   * Format version of this file. Only 1 exists.
   */
  version: 1;
  /**
   * Unique id of the flow across the flows directory. The default route is <basePath>/<id>.
   */
  id: string;
  /**
   * What the flow does, for people reading it.
   */
  description?: string;
  /**
   * false keeps the route but answers 503 "webhook not active" and logs the request.
   */
  enabled?: boolean;
  trigger: Trigger;
  identify?: Identify;
  /**
   * Contact fields to store: field name to a JSONata expression over the request scope.
   */
  map?: {
    [k: string]: Expression;
  };
  /**
   * async: answer at once after the request is committed, run the steps in the background. sync: run the steps, then answer.
   */
  mode?: 'async' | 'sync';
  /**
   * Sync flows only: how long the caller waits for an answer before getting 504 (the run goes on and is logged). Default 30s.
   */
  timeout?: string;
  response?: Response;
  steps?: Steps;
  /**
   * Tests for this flow, run by `hooks test` through the real interpreter with mocks.
   */
  tests?: Test[];
}
/**
 * The inbound webhook: its route, methods, authentication, accepted bodies and the values read from each request.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "trigger".
 */
export interface Trigger {
  /**
   * Route under the server's basePath. Default: /<id>.
   */
  path?: string;
  /**
   * Accepted methods; any other gets 405 with an Allow header. Default [POST].
   *
   * @minItems 1
   */
  methods?: [Method, ...Method[]];
  auth?: Auth;
  /**
   * Accepted request bodies: json (application/json), form (application/x-www-form-urlencoded). Others get 415. Default [json, form].
   *
   * @minItems 1
   */
  accept?: ['json' | 'form', ...('json' | 'form')[]];
  /**
   * Named values read from each request: name to a JSONata expression over headers, query and body (nested a.b, indexed a[1].b, arrays flatten). Available as vars.<name>.
   */
  params?: {
    [k: string]: Expression;
  };
  /**
   * Path (relative to this file) of a sample request: a real JSON payload (the body), or a whole request as { "request": { "headers", "query", "body" } } (see sampleRequest). `hooks validate` checks that every path of params, identify and map finds something in it (paths over headers, query, request or vars only with a whole request).
   */
  sample?: string;
  /**
   * A repeat delivery with the same key within the window is not executed again. A JSONata expression, or { key, window }.
   */
  dedupe?:
    | string
    | {
        /**
         * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
         */
        key: string;
        /**
         * How long a key is remembered. Default 24h.
         */
        window?: string;
      };
  /**
   * Per-flow rate limit; past it the caller gets 429 with Retry-After.
   */
  rateLimit?: {
    /**
     * Requests allowed per window.
     */
    max: number;
    /**
     * The window, e.g. 1m.
     */
    per: string;
  };
  /**
   * Largest accepted body in bytes for this flow (at most the server's bodyLimit); larger gets 413.
   */
  bodyLimit?: number;
  /**
   * This webhook is a message received from the contact on a channel (Twilio's inbound SMS webhook is the model).
   */
  inbound?: {
    /**
     * Channel name from hooks.config.yaml.
     */
    channel: string;
    /**
     * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
     */
    from: string;
    /**
     * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
     */
    text?: string;
  };
}
/**
 * Who may call this webhook. Failures get 401 without saying which part was wrong.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "auth".
 */
export interface Auth {
  /**
   * HTTP basic auth, compared in constant time.
   */
  basic?: {
    /**
     * Expected user name.
     */
    username: string;
    /**
     * Expected password.
     */
    password: string;
  };
  signature?: Signature;
  /**
   * A secret, normally "${env:NAME}" so that it never lives in git. Never logged or shown by `hooks plan`.
   */
  token?: string;
}
/**
 * Verify the sender's signature over the raw body bytes.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "signature".
 */
export interface Signature {
  /**
   * github (X-Hub-Signature-256), stripe (Stripe-Signature), twilio (X-Twilio-Signature), standard-webhooks (webhook-id/-timestamp/-signature) or hmac (generic).
   */
  preset: 'github' | 'stripe' | 'twilio' | 'standard-webhooks' | 'hmac';
  /**
   * The signing secret.
   */
  secret?: string;
  /**
   * Several signing secrets, any of which is accepted (key rotation).
   *
   * @minItems 1
   */
  secrets?: [Secret, ...Secret[]];
  /**
   * Largest accepted age of a signed timestamp. Default 5m.
   */
  tolerance?: string;
  /**
   * hmac: the header holding the signature.
   */
  header?: string;
  /**
   * hmac: the digest. Default sha256.
   */
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  /**
   * hmac: how the signature is written. Default hex.
   */
  encoding?: 'hex' | 'base64';
  /**
   * hmac: text before the signature in the header, e.g. sha256=.
   */
  prefix?: string;
  /**
   * hmac: a header with the Unix time of signing; the signed content is then "<timestamp>.<body>" and the tolerance applies.
   */
  timestampHeader?: string;
}
/**
 * Who this webhook is about, tried in order: userNs, then phone or email, then a new contact from a valid phone.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "identify".
 */
export interface Identify {
  /**
   * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
   */
  userNs?: string;
  /**
   * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
   */
  phone?: string;
  /**
   * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
   */
  email?: string;
  /**
   * ISO 3166 country code used to read national phone formats, e.g. ID or US.
   */
  defaultCountry?: string;
  /**
   * No contact found or created: reject (422, logged, not processed) or continue without a contact. Default reject.
   */
  onUnidentified?: 'reject' | 'continue';
}
/**
 * Async flows: the immediate answer (default 200 with body "ok"). Status, headers and body are templated.
 */
export interface Response {
  /**
   * HTTP status code. Default 200.
   */
  status?: number;
  headers?: Headers;
  /**
   * The body: a string, or any value sent as JSON. Templated; with a content-type header of text/html or application/xhtml+xml, each {{ expression }} is HTML-escaped ({{{ expression }}} is written raw).
   */
  body?: unknown;
}
/**
 * HTTP headers: name to templated value.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "headers".
 */
export interface Headers {
  [k: string]: StringTemplate;
}
/**
 * One step: an id and exactly one of set, http, branch, send, respond, stop.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "step".
 */
export interface Step {
  id: StepId;
  /**
   * Assign variables: name to a templated value.
   */
  set?: {
    [k: string]: Template;
  };
  http?: Http;
  /**
   * Run the steps of the first case whose `when` is true, or the `else` steps.
   *
   * @minItems 1
   */
  branch?: [BranchCase, ...BranchCase[]];
  send?: Send;
  respond?: Response1;
  /**
   * End the execution here: true, or { reason }.
   */
  stop?:
    | boolean
    | {
        /**
         * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
         */
        reason?: string;
      };
}
/**
 * An outgoing HTTP request. Failures never stop the flow: steps.<id>.error = { kind, message }.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "http".
 */
export interface Http {
  /**
   * Default GET. Templated values must give a method.
   */
  method?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  url: string;
  /**
   * Query parameters: name to templated value.
   */
  query?: {
    [k: string]: Template;
  };
  headers?: Headers;
  /**
   * A value in which every string may hold {{ expression }} templates. A string that is only {{ expression }} keeps the value's type. In an HTML context (a send step's html, a response body whose content-type header is text/html or application/xhtml+xml) each {{ expression }} is HTML-escaped and {{{ expression }}} is written raw; elsewhere both are the same.
   */
  body?: unknown;
  /**
   * How the body is encoded. Default json.
   */
  bodyType?: 'json' | 'form';
  /**
   * json: a body that is not JSON is a BadResponse error. text: the body is kept as a string. Default json.
   */
  responseType?: 'json' | 'text';
  /**
   * Default from config http.timeout (15s).
   */
  timeout?: string;
  /**
   * Parts of the answer to store as variables: name to a JSONata expression over { status, headers, body }.
   */
  save?: {
    [k: string]: Expression;
  };
  /**
   * A name usable in expressions: letters, digits and underscores, not starting with a digit.
   */
  onError?: string;
}
/**
 * A case: { when, steps } or { else }.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "branchCase".
 */
export interface BranchCase {
  /**
   * A JSONata expression, compiled when the file loads. Scope: request, headers, query, body, vars, contact, steps, $execution.
   */
  when?: string;
  /**
   * Steps, run in order.
   */
  steps?: Steps;
  /**
   * Steps run when no case matched. Must be the last case.
   */
  else?: Steps;
}
/**
 * A message on a channel from hooks.config.yaml. Which fields apply depends on the channel's driver.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "send".
 */
export interface Send {
  /**
   * Channel name from hooks.config.yaml (sms, voice, email, ...).
   */
  channel: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  to: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  text?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  subject?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  html?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  replyTo?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  mediaUrl?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  say?: string;
  /**
   * A string that may hold {{ expression }} templates ({{{ expression }}}: raw, see template).
   */
  url?: string;
  /**
   * Voice: the <Say> voice, e.g. alice or Polly.Joanna.
   */
  voice?: string;
  /**
   * Voice: the <Say> language, e.g. en-US.
   */
  language?: string;
}
/**
 * Sync flows: answer the caller now; later steps still run.
 */
export interface Response1 {
  /**
   * HTTP status code. Default 200.
   */
  status?: number;
  headers?: Headers;
  /**
   * The body: a string, or any value sent as JSON. Templated; with a content-type header of text/html or application/xhtml+xml, each {{ expression }} is HTML-escaped ({{{ expression }}} is written raw).
   */
  body?: unknown;
}
/**
 * One test: a request, mocks for http steps, and what must happen.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "test".
 */
export interface Test {
  /**
   * What the test shows.
   */
  name: string;
  /**
   * The request sent to the flow's route.
   */
  request?: {
    /**
     * An HTTP method.
     */
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
    /**
     * Request headers.
     */
    headers?: {
      [k: string]: string;
    };
    /**
     * Query parameters.
     */
    query?: {
      [k: string]: string;
    };
    /**
     * Body, sent as JSON unless a content-type header says form.
     */
    body?: unknown;
    /**
     * Use a JSON file (relative to the flow file) as the body.
     */
    sample?: string;
  };
  /**
   * Contacts that exist before the request.
   */
  contacts?: {
    /**
     * Contact id (user_ns).
     */
    id?: string;
    /**
     * Phone in E.164.
     */
    phone?: string;
    /**
     * E-mail address.
     */
    email?: string;
    /**
     * Contact fields.
     */
    fields?: {
      [k: string]: unknown;
    };
  }[];
  /**
   * http step id to a fake answer { status, headers, body }, a fake failure { error: { kind } }, or { real: true }.
   */
  mocks?: {
    /**
     * A fake answer for one http step.
     */
    [k: string]: {
      /**
       * Fake status. Default 200.
       */
      status?: number;
      /**
       * Fake response headers.
       */
      headers?: {
        [k: string]: string;
      };
      /**
       * Fake response body.
       */
      body?: unknown;
      /**
       * Fake failure.
       */
      error?: {
        /**
         * Error kind.
         */
        kind: 'MissingParameter' | 'BadRequest' | 'BadResponse' | 'KeyError' | 'Timeout';
        /**
         * Error message.
         */
        message?: string;
      };
      /**
       * Let the request really go out.
       */
      real?: true;
    };
  };
  /**
   * What must happen. Objects match partially.
   */
  expect?: {
    /**
     * The HTTP answer.
     */
    response?: {
      /**
       * Expected status.
       */
      status?: number;
      /**
       * Expected headers (partial).
       */
      headers?: {
        [k: string]: unknown;
      };
      /**
       * Expected body (objects match partially).
       */
      body?: unknown;
    };
    /**
     * Expected variables (partial).
     */
    vars?: {
      [k: string]: unknown;
    };
    /**
     * Steps taken and not taken.
     */
    steps?: {
      /**
       * Step ids that must have run.
       */
      taken?: string[];
      /**
       * Step ids that must not have run.
       */
      notTaken?: string[];
    };
    /**
     * Messages sent, in order (each matched partially; text may be /regex/).
     */
    sent?: {
      /**
       * Channel name.
       */
      channel?: string;
      /**
       * Recipient.
       */
      to?: string;
      /**
       * Text, or /regex/.
       */
      text?: string;
      /**
       * Subject, or /regex/.
       */
      subject?: string;
      /**
       * Spoken text, or /regex/.
       */
      say?: string;
    }[];
    /**
     * The contact after the run.
     */
    contact?: {
      /**
       * Expected phone.
       */
      phone?: string;
      /**
       * Expected e-mail.
       */
      email?: string;
      /**
       * Expected fields (partial).
       */
      fields?: {
        [k: string]: unknown;
      };
    };
    /**
     * The webhook log entry.
     */
    log?: {
      /**
       * Expected outcome.
       */
      outcome?: 'accepted' | 'completed' | 'rejected' | 'failed' | 'duplicate';
    };
  };
}
/**
 * A sample file (trigger.sample) that holds a whole request: its only key is request. Any other JSON in a sample file is the body alone.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "sampleRequest".
 */
export interface SampleRequest {
  /**
   * The request as the flow receives it.
   */
  request: {
    /**
     * Request headers: name to value (names are read in lower case, as the engine reads them).
     */
    headers?: {
      [k: string]: string;
    };
    /**
     * Query parameters: name to value.
     */
    query?: {
      [k: string]: string;
    };
    /**
     * The body, as the flow reads it (JSON, or a form's fields).
     */
    body?: unknown;
  };
}
/**
 * An HTTP answer. Headers and body are templated.
 *
 * This interface was referenced by `Flow`'s JSON-Schema
 * via the `definition` "response".
 */
export interface Response2 {
  /**
   * HTTP status code. Default 200.
   */
  status?: number;
  headers?: Headers;
  /**
   * The body: a string, or any value sent as JSON. Templated; with a content-type header of text/html or application/xhtml+xml, each {{ expression }} is HTML-escaped ({{{ expression }}} is written raw).
   */
  body?: unknown;
}
