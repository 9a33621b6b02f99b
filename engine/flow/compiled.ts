import type { CompiledExpression } from '../expr/expression.ts';
import type { CompiledStep } from '../steps/types.ts';
import type { CompiledResponse } from '../steps/respond.ts';
import type { Flow, Identify, Trigger } from '../types/flow.ts';
import type { Mode } from '../types/names.ts';
import type { SignatureSpec } from '../trust/signatures.ts';

export type BodyKind = NonNullable<Trigger['accept']>[number];

/** A flow ready to serve: every expression compiled, every default applied, env references resolved. */
export interface CompiledFlow {
  id: string;
  /** the file as given to the loader (relative to where the command ran), for messages */
  file: string;
  /** sha256 of the file's text, shortened: identifies the version an execution ran on */
  revision: string;
  description: string | undefined;
  enabled: boolean;
  mode: Mode;
  /** route below the server's basePath, e.g. /booking-confirmation */
  route: string;
  methods: string[];
  accept: BodyKind[];
  auth: {
    basic?: { username: string; password: string };
    signature?: SignatureSpec;
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
    onUnidentified: NonNullable<Identify['onUnidentified']>;
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
