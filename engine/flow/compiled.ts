import type { CompiledExpression } from '../expr/expression.ts';
import type { CompiledStep } from '../steps/types.ts';
import type { CompiledResponse } from '../steps/respond.ts';
import type { Flow } from '../types/flow.ts';

export type BodyKind = 'json' | 'form';

export interface CompiledSignature {
  preset: 'github' | 'stripe' | 'twilio' | 'standard-webhooks' | 'hmac';
  secrets: string[];
  toleranceMs: number;
  header?: string;
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  encoding?: 'hex' | 'base64';
  prefix?: string;
  timestampHeader?: string;
}

/** A flow ready to serve: every expression compiled, every default applied, env references resolved. */
export interface CompiledFlow {
  id: string;
  /** the file as given to the loader (relative to where the command ran), for messages */
  file: string;
  /** sha256 of the file's text, shortened: identifies the version an execution ran on */
  revision: string;
  description: string | undefined;
  enabled: boolean;
  mode: 'sync' | 'async';
  /** route below the server's basePath, e.g. /booking-confirmation */
  route: string;
  methods: string[];
  accept: BodyKind[];
  auth: {
    basic?: { username: string; password: string };
    signature?: CompiledSignature;
    token?: string;
  };
  params: [string, CompiledExpression][];
  dedupe?: { key: CompiledExpression; windowMs: number };
  rateLimit?: { max: number; perMs: number };
  bodyLimit?: number;
  inbound?: { channel: string; from: CompiledExpression; text?: CompiledExpression };
  identify?: {
    userNs?: CompiledExpression;
    phone?: CompiledExpression;
    email?: CompiledExpression;
    defaultCountry?: string;
    onUnidentified: 'reject' | 'continue';
  };
  map: [string, CompiledExpression][];
  timeoutMs: number;
  response: CompiledResponse;
  steps: CompiledStep[];
  /** the file's content as written (env references unresolved): for tests, plan and graph */
  definition: Flow;
  /** values substituted from the environment: redacted wherever the flow's data is shown */
  secrets: string[];
}
