import type { Auth, Flow, Identify, Signature, Step, Trigger } from '../types/flow.ts';
import type { EngineConfig } from '../config/load.ts';
import type { DocPath } from '../schema/problem.ts';
import type { CompileContext, CompiledStep, StepKind } from '../steps/types.ts';
import type { CompiledFlow } from './compiled.ts';
import { STEP_KINDS } from '../steps/index.ts';
import { compileResponse } from '../steps/respond.ts';
import { compileExpression, ExpressionError, type CompiledExpression } from '../expr/expression.ts';
import { compileTemplate, type TemplateContext, type TemplateProblem } from '../expr/template.ts';
import { parseDuration } from '../expr/duration.ts';
import { validateSignatureSpec } from '../trust/signatures.ts';
import { ENGINE_PATHS } from './route.ts';
import { StepSlices } from './compile-steps.ts';

export interface CompileProblem {
  path: DocPath;
  message: string;
  at?: { key?: boolean; offset?: number };
}

const FAILING_EXPRESSION: CompiledExpression = { source: '', evaluate: async () => undefined, readNow: () => undefined };
const STEP_KIND_NAMES = Object.keys(STEP_KINDS) as StepKind[];

/**
 * Compiles a schema-valid flow (env references already resolved) into what the runtime serves. Every expression and
 * template is compiled here, once; every problem is collected with its path so that all of them are reported at once.
 * The steps are compiled one by one with pauses between them (StepSlices): a large flow does not stall the engine.
 */
export async function compileFlow(
  flow: Flow,
  meta: { file: string; revision: string; definition: Flow; secrets: string[] },
  config: EngineConfig,
): Promise<{ flow: CompiledFlow; problems: CompileProblem[] }> {
  const problems: CompileProblem[] = [];
  const mode = flow.mode ?? 'async';
  const slices = new StepSlices();
  const ctx = compileContext(config, mode, problems, flow.identify?.defaultCountry, slices, flow);
  const trigger = flow.trigger;
  checkFlowRules(flow, mode, config, problems);
  const auth = compileAuth(trigger.auth ?? {}, problems);
  // the order of the compiled parts below is the order their problems are reported in
  const compiled: CompiledFlow = {
    id: flow.id,
    file: meta.file,
    revision: meta.revision,
    description: flow.description,
    enabled: flow.enabled ?? true,
    mode,
    route: trigger.path ?? `/${flow.id}`,
    methods: trigger.methods ?? ['POST'],
    accept: trigger.accept ?? ['json', 'form'],
    auth,
    params: Object.entries(trigger.params ?? {}).map(([name, source]) => [name, ctx.expression(['trigger', 'params', name], source)]),
    dedupe: compileDedupe(trigger.dedupe, ctx),
    rateLimit: trigger.rateLimit && { max: trigger.rateLimit.max, perMs: parseDuration(trigger.rateLimit.per) },
    bodyLimit: trigger.bodyLimit,
    inbound: compileInbound(trigger.inbound, ctx),
    identify: compileIdentify(flow.identify, ctx),
    map: Object.entries(flow.map ?? {}).map(([field, source]) => [field, ctx.expression(['map', field], source)]),
    timeoutMs: flow.timeout ? parseDuration(flow.timeout) : 30_000,
    response: compileResponse(flow.response ?? {}, ['response'], ctx, { status: 200, headers: {}, body: 'ok' }),
    steps: ctx.steps(['steps'], flow.steps ?? []),
    definition: meta.definition,
    secrets: meta.secrets,
  };
  await slices.compileAll();
  return { flow: compiled, problems };
}

/** What step kinds compile with: expressions, templates and nested steps, every problem collected in `problems`. */
function compileContext(config: EngineConfig, mode: CompileContext['mode'], problems: CompileProblem[], defaultCountry: string | undefined, slices: StepSlices, flow: Flow): CompileContext {
  const seenStepIds = new Map<string, DocPath>();
  const ctx: CompileContext = {
    config,
    mode,
    defaultCountry,
    expression(path, source) {
      try {
        return compileExpression(source, config.limits);
      } catch (err) {
        const e = err as ExpressionError;
        problems.push({ path, message: `JSONata expression does not compile: ${e.message}`, at: { offset: e.offset } });
        return FAILING_EXPRESSION;
      }
    },
    template(path, value) {
      const found: TemplateProblem[] = [];
      const compiled = compileTemplate(value, found, config.limits, [], templateContextAt(flow, path));
      for (const p of found) problems.push({ path: [...path, ...p.path], message: p.message });
      return compiled;
    },
    problem(path, message, at) {
      problems.push({ path, message, at });
    },
    steps(path, steps) {
      return slices.defer(path, steps, compileStep);
    },
  };

  function compileStep(step: Step, path: DocPath): CompiledStep {
    const previous = seenStepIds.get(step.id);
    if (previous) problems.push({ path: [...path, 'id'], message: `step id "${step.id}" is already used by another step; step ids are unique in a flow` });
    else seenStepIds.set(step.id, path);
    const kind = STEP_KIND_NAMES.find((name) => step[name] !== undefined)!;
    const definition = STEP_KINDS[kind];
    return { ...definition.compile(step.id, step[kind] as never, [...path, kind], ctx), pure: definition.pure };
  }
  return ctx;
}

/** The rules between a flow's parts, and between the flow and the config, that the schema cannot state. */
function checkFlowRules(flow: Flow, mode: CompileContext['mode'], config: EngineConfig, problems: CompileProblem[]): void {
  const trigger = flow.trigger;
  const auth = trigger.auth ?? {};
  if (mode === 'sync' && flow.response) {
    problems.push({ path: ['response'], message: '`response:` is the immediate answer of async flows; a sync flow answers with a `respond` step', at: { key: true } });
  }
  if (mode === 'async' && flow.timeout) {
    problems.push({ path: ['timeout'], message: '`timeout:` applies to sync flows only: an async caller is answered at once', at: { key: true } });
  }
  if (auth.signature) {
    const sig = auth.signature;
    if (!sig.secret && !sig.secrets) problems.push({ path: ['trigger', 'auth', 'signature'], message: 'a signature check needs `secret` or `secrets`' });
    if (sig.preset === 'hmac' && !sig.header) problems.push({ path: ['trigger', 'auth', 'signature'], message: 'the hmac preset needs `header`: the header that holds the signature' });
    if (sig.preset === 'twilio' && !config.server.publicUrl) {
      problems.push({ path: ['trigger', 'auth', 'signature', 'preset'], message: 'the twilio preset signs the public URL: set server.publicUrl in hooks.config.yaml' });
    }
  }
  // an inbound message's sender is the contact of a flow without identify:, so map: writes to the sender's
  if (flow.map && !flow.identify && !trigger.inbound) {
    problems.push({ path: ['map'], message: '`map:` writes contact fields, so the flow needs `identify:` to know whose', at: { key: true } });
  }
  if (flow.map && config.strictFields) {
    for (const field of Object.keys(flow.map)) {
      if (!(field in config.fields)) {
        problems.push({ path: ['map', field], message: `field "${field}" is not declared in the config's fields (strictFields is on); declare it or remove it`, at: { key: true } });
      }
    }
  }
  checkRoute(flow, config.server.basePath, problems);
  if (trigger.inbound && !config.channels[trigger.inbound.channel]) {
    problems.push({ path: ['trigger', 'inbound', 'channel'], message: `unknown channel "${trigger.inbound.channel}"; channels in the config: ${Object.keys(config.channels).join(', ') || 'none'}` });
  }
}

/** A route must reach the flow: no dot segments (a client or proxy resolves them away), nothing the engine serves itself. */
function checkRoute(flow: Flow, basePath: string, problems: CompileProblem[]): void {
  const route = flow.trigger.path ?? `/${flow.id}`;
  const path: DocPath = flow.trigger.path === undefined ? ['id'] : ['trigger', 'path'];
  if (route.split('/').some((segment) => segment === '.' || segment === '..')) {
    problems.push({ path, message: `route "${route}" has a "." or ".." segment, which clients and proxies resolve away before it arrives; write the path without it` });
  } else if (route.startsWith('/_')) {
    problems.push({ path, message: `routes starting with /_ are the engine's own (${basePath}/_status/twilio receives Twilio status callbacks); choose another path` });
  } else if (basePath === '') {
    // the flows sit at the server's root, beside the engine's own routes, which Fastify picks first
    const own = ENGINE_PATHS.find((p) => route === p || route.startsWith(`${p}/`));
    if (own) problems.push({ path, message: `route "${route}" is shadowed by the engine's own ${own} (server.basePath is ""): choose another path, or set server.basePath, e.g. /hooks` });
  }
}

function compiledSignature(sig: Signature | undefined): CompiledFlow['auth']['signature'] {
  return (
    sig && {
      preset: sig.preset,
      secrets: [...(sig.secret ? [sig.secret] : []), ...(sig.secrets ?? [])],
      toleranceMs: sig.tolerance ? parseDuration(sig.tolerance) : 5 * 60_000,
      header: sig.header?.toLowerCase(),
      algorithm: sig.algorithm,
      encoding: sig.encoding,
      prefix: sig.prefix,
      timestampHeader: sig.timestampHeader?.toLowerCase(),
    }
  );
}

function compileAuth(auth: Auth, problems: CompileProblem[]): CompiledFlow['auth'] {
  // the verifier's own rules (e.g. a whsec_ secret that does not decode): a load-time error, not a 500 per request
  const signature = compiledSignature(auth.signature);
  if (signature && signature.secrets.length > 0) {
    for (const message of validateSignatureSpec(signature)) problems.push({ path: ['trigger', 'auth', 'signature'], message });
  }
  return { basic: auth.basic, signature, token: auth.token };
}

function compileDedupe(dedupe: Trigger['dedupe'], ctx: CompileContext): CompiledFlow['dedupe'] {
  const key = dedupe === undefined ? undefined : typeof dedupe === 'string' ? dedupe : dedupe.key;
  if (key === undefined) return undefined;
  return {
    key: ctx.expression(['trigger', 'dedupe', ...(typeof dedupe === 'string' ? [] : ['key'])], key),
    windowMs: typeof dedupe === 'object' && dedupe.window ? parseDuration(dedupe.window) : 86_400_000,
  };
}

function compileInbound(inbound: Trigger['inbound'], ctx: CompileContext): CompiledFlow['inbound'] {
  return (
    inbound && {
      channel: inbound.channel,
      from: ctx.expression(['trigger', 'inbound', 'from'], inbound.from),
      text: inbound.text === undefined ? undefined : ctx.expression(['trigger', 'inbound', 'text'], inbound.text),
    }
  );
}

function compileIdentify(identify: Identify | undefined, ctx: CompileContext): CompiledFlow['identify'] {
  return (
    identify && {
      userNs: identify.userNs === undefined ? undefined : ctx.expression(['identify', 'userNs'], identify.userNs),
      phone: identify.phone === undefined ? undefined : ctx.expression(['identify', 'phone'], identify.phone),
      email: identify.email === undefined ? undefined : ctx.expression(['identify', 'email'], identify.email),
      defaultCountry: identify.defaultCountry,
      onUnidentified: identify.onUnidentified ?? 'reject',
    }
  );
}

/**
 * Where a template's text goes: HTML for an e-mail's `html` and for the body of a response (a `respond` step, or an
 * async flow's `response:`) whose `content-type` header is written as text/html or application/xhtml+xml; there each
 * `{{ }}` is HTML-escaped. Anything else (text, SMS, JSON bodies, headers) is text.
 */
function templateContextAt(flow: Flow, path: DocPath): TemplateContext {
  const [parentKey, key] = path.slice(-2);
  if (key === 'html') return parentKey === 'send' ? 'html' : 'text';
  if (key !== 'body' || (parentKey !== 'respond' && !(path.length === 2 && parentKey === 'response'))) return 'text';
  let response: unknown = flow;
  for (const step of path.slice(0, -1)) response = (response as Record<string | number, unknown> | undefined)?.[step];
  const headers = (response as { headers?: Record<string, unknown> } | undefined)?.headers ?? {};
  const type = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  const media = typeof type === 'string' ? type.split(';')[0].trim().toLowerCase() : '';
  return media === 'text/html' || media === 'application/xhtml+xml' ? 'html' : 'text';
}
