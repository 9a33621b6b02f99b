/**
 * The real webhook bodies of `npm run bench`'s real-payload rows, as their senders send them (the logic run on them is
 * in bench/flows.ts, REAL_PAYLOAD_LOGIC):
 *
 * - `push`: the first `push` example of `@octokit/webhooks-examples`, compact JSON as GitHub sends it (6,923 bytes).
 * - `stripe`: Stripe's `charge.succeeded` test event (API version 2015-10-01) from `stripe-mock-data`, indented with
 *   two spaces as Stripe sends its events (1,865 bytes). No npm package found ships Stripe's own current fixtures
 *   (`stripe` has none, its OpenAPI spec on npm has no examples): this is the closest real one, a third under the
 *   3 KB of a current `charge.succeeded` (newer API versions add payment_method_details, outcome, billing_details).
 * - `64k`: a JSON array of real GitHub deliveries, as a relay batches them (SendGrid's event webhook posts such arrays):
 *   the first example of each event of `@octokit/webhooks-examples` in the package's order, each taken while the array
 *   stays within 65,536 bytes, the webhook log's cap (64 KiB), so the log keeps it whole: 8 deliveries, 65,126 bytes.
 *   An array body has no top-level fields, so the engine does not copy any into the execution's variables.
 */
import { createRequire } from 'node:module';

export type PayloadKey = 'push' | 'stripe' | '64k';

interface Example {
  name: string;
  examples: Record<string, unknown>[];
}

const require = createRequire(import.meta.url);
/** the webhook log's cap on a stored body (engine/request/commit.ts) */
const LOG_BODY_LIMIT = 64 * 1024;

function githubPush(examples: Example[]): string {
  return JSON.stringify(examples.find((e) => e.name === 'push')!.examples[0]);
}

function stripeChargeSucceeded(): string {
  const [event] = require('stripe-mock-data/data/webhooks/2015-10-01/charge_succeeded.json') as unknown[];
  return JSON.stringify(event, null, 2);
}

function githubBatch(examples: Example[]): string {
  const batch: string[] = [];
  let size = 2; // the brackets
  for (const { examples: [first] } of examples) {
    if (!first) continue;
    const item = JSON.stringify(first);
    const grown = size + Buffer.byteLength(item) + (batch.length > 0 ? 1 : 0);
    if (grown > LOG_BODY_LIMIT) continue;
    batch.push(item);
    size = grown;
  }
  return `[${batch.join(',')}]`;
}

/** the bodies of the given payloads, built once (the examples file is 4 MB of JSON) */
export function payloadBodies(keys: PayloadKey[]): Map<PayloadKey, string> {
  const examples = keys.some((k) => k !== 'stripe') ? (require('@octokit/webhooks-examples') as Example[]) : [];
  const build: Record<PayloadKey, () => string> = { push: () => githubPush(examples), stripe: stripeChargeSucceeded, '64k': () => githubBatch(examples) };
  return new Map(keys.map((k) => [k, build[k]()]));
}
