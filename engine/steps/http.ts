import type { Http } from '../types/flow.ts';
import type { StepDefinition } from './types.ts';
import type { Scope } from '../common/scope.ts';
import type { CompiledTemplate } from '../expr/template.ts';
import type { CompiledExpression } from '../expr/expression.ts';
import { redactUrl, type HttpError, type OutgoingResult } from '../http/request.ts';
import { parseDuration } from '../expr/duration.ts';
import { isTemplateString } from '../expr/template.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
export const DEFAULT_FAILURE_VAR = 'last_webhook_failure';

/** What an http step leaves at steps.<id>, and in its journal entry. */
export interface HttpStepResult {
  ok: boolean;
  status: number | null;
  headers: Record<string, string>;
  body: unknown;
  error: HttpError | null;
  /** the call as made: URL redacted (no userinfo, fragment or query values, no ${env:} secrets) */
  request: {
    method: string | null;
    url: string | null;
    /** only when redirects led elsewhere */
    finalUrl?: string;
    durationMs: number;
  };
}

/** A field that could not be rendered: the step fails with BadRequest instead of failing the execution. */
class RenderProblem extends Error {}

/**
 * `http`: an outgoing request. Failures never stop the flow: the result carries { ok: false, error: { kind, message } }
 * and the error is also stored in the failure variable (`onError`, default last_webhook_failure).
 */
export const httpStep: StepDefinition<Http> = {
  kind: 'http',
  pure: false,
  compile(id, spec, path, ctx) {
    if (spec.method !== undefined && !isTemplateString(spec.method) && !METHODS.includes(spec.method.toUpperCase())) {
      ctx.problem([...path, 'method'], `"${spec.method}" is not an HTTP method; use one of ${METHODS.join(', ')}`);
    }
    const templates: RequestTemplates = {
      method: ctx.template([...path, 'method'], spec.method ?? 'GET'),
      url: ctx.template([...path, 'url'], spec.url),
      query: ctx.template([...path, 'query'], spec.query ?? {}),
      headers: ctx.template([...path, 'headers'], spec.headers ?? {}),
      body: spec.body === undefined ? undefined : ctx.template([...path, 'body'], spec.body),
    };
    // a loop, not a closure: V8 keeps what any closure here captures for as long as `run` lives (the compile context)
    const saves: [string, CompiledExpression][] = [];
    for (const [name, source] of Object.entries(spec.save ?? {})) saves.push([name, ctx.expression([...path, 'save', name], source)]);
    const timeoutMs = spec.timeout ? parseDuration(spec.timeout) : ctx.config.http.timeoutMs;
    const failureVar = spec.onError ?? DEFAULT_FAILURE_VAR;
    const { http } = ctx.config;

    return {
      id,
      kind: 'http',
      async run({ scope, bindings, services }) {
        let rendered: RenderedRequest;
        try {
          rendered = await renderRequest(templates, scope, bindings);
        } catch (err) {
          if (!(err instanceof RenderProblem)) throw err;
          const error: HttpError = { kind: 'BadRequest', message: err.message };
          const result: HttpStepResult = { ok: false, status: null, headers: {}, body: null, error, request: { method: null, url: null, durationMs: 0 } };
          return { result, vars: { [failureVar]: error } };
        }

        const response = await services.http(id, {
          method: rendered.method,
          url: rendered.url,
          query: rendered.query as Record<string, unknown>,
          headers: rendered.headers,
          body: rendered.body,
          bodyType: spec.bodyType ?? 'json',
          responseType: spec.responseType ?? 'json',
          timeoutMs,
          maxResponseBytes: http.maxResponseBytes,
          maxRedirects: http.maxRedirects,
          allowPrivateNetworks: http.allowPrivateNetworks,
          allowList: http.allowList,
        });
        const result = stepResult(rendered, response);
        const vars: Record<string, unknown> = {};
        if (result.ok) await saveFromAnswer(result, saves, bindings, vars);
        if (result.error) vars[failureVar] = result.error;
        return { result, vars };
      },
    };
  },
};

/** An http step's fields, compiled. */
interface RequestTemplates {
  method: CompiledTemplate;
  url: CompiledTemplate;
  query: CompiledTemplate;
  headers: CompiledTemplate;
  body: CompiledTemplate | undefined;
}

interface RenderedRequest {
  method?: string;
  url?: string;
  query: unknown;
  headers: Record<string, string>;
  body: unknown;
}

type Saves = (readonly [string, CompiledExpression])[];

async function render(field: string, template: CompiledTemplate, scope: Scope, bindings: Record<string, unknown>): Promise<unknown> {
  try {
    return await template(scope, bindings);
  } catch (err) {
    throw new RenderProblem(`${field} could not be rendered: ${(err as Error).message}`);
  }
}

/** Renders the step's fields, in order; throws RenderProblem naming the first field that fails. */
async function renderRequest(templates: RequestTemplates, scope: Scope, bindings: Record<string, unknown>): Promise<RenderedRequest> {
  const { method, url, query, headers, body } = templates;
  return {
    method: stringOrUndefined(await render('method', method, scope, bindings))?.trim().toUpperCase(),
    url: stringOrUndefined(await render('url', url, scope, bindings)),
    query: await render('query', query, scope, bindings),
    headers: headerValues(await render('headers', headers, scope, bindings)),
    body: body ? await render('body', body, scope, bindings) : undefined,
  };
}

function stepResult(rendered: RenderedRequest, response: OutgoingResult): HttpStepResult {
  const askedUrl = response.url ?? (rendered.url ? redactUrl(rendered.url) : null);
  return {
    ok: response.ok,
    status: response.status ?? null,
    headers: response.headers ?? {},
    body: response.body ?? null,
    error: response.error ?? null,
    request: {
      method: rendered.method ?? null,
      url: askedUrl,
      ...(response.finalUrl && response.finalUrl !== askedUrl ? { finalUrl: response.finalUrl } : {}),
      durationMs: response.durationMs ?? 0,
    },
  };
}

/** Every path is tried: the ones that find something are saved in `vars`, the others are named in one KeyError. */
async function saveFromAnswer(result: HttpStepResult, saves: Saves, bindings: Record<string, unknown>, vars: Record<string, unknown>): Promise<void> {
  const answer = { status: result.status, headers: result.headers, body: result.body };
  const missing: string[] = [];
  for (const [name, expression] of saves) {
    let value: unknown;
    try {
      value = await expression.evaluate(answer, bindings);
    } catch (err) {
      missing.push(`save.${name} ("${expression.source}"): ${(err as Error).message}`);
      continue;
    }
    if (value === undefined) missing.push(`save.${name} ("${expression.source}") found nothing in the answer`);
    else vars[name] = value;
  }
  if (missing.length > 0) {
    result.ok = false;
    result.error = { kind: 'KeyError', message: missing.join('; ') };
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = String(value);
  return text.trim() === '' ? undefined : text;
}

/** Header values as text; a header whose template gave nothing (undefined or null) is not sent. */
function headerValues(rendered: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof rendered !== 'object' || rendered === null) return out;
  for (const [name, value] of Object.entries(rendered)) {
    if (value === undefined || value === null) continue;
    out[name] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}
