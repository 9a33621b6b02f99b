import type { Http } from '../types/flow.ts';
import type { StepDefinition } from './types.ts';
import type { HttpError } from '../http/request.ts';
import { parseDuration } from '../expr/duration.ts';
import { isTemplateString } from '../expr/template.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
export const DEFAULT_FAILURE_VAR = 'last_webhook_failure';

/**
 * `http`: an outgoing request. Failures never stop the flow: the result carries { ok: false, error: { kind, message } }
 * and the error is also stored in the failure variable (`onError`, default last_webhook_failure).
 */
export const httpStep: StepDefinition<Http> = {
  kind: 'http',
  compile(id, spec, path, ctx) {
    if (spec.method !== undefined && !isTemplateString(spec.method) && !METHODS.includes(spec.method.toUpperCase())) {
      ctx.problem([...path, 'method'], `"${spec.method}" is not an HTTP method; use one of ${METHODS.join(', ')}`);
    }
    const method = ctx.template([...path, 'method'], spec.method ?? 'GET');
    const url = ctx.template([...path, 'url'], spec.url);
    const query = ctx.template([...path, 'query'], spec.query ?? {});
    const headers = ctx.template([...path, 'headers'], spec.headers ?? {});
    const body = spec.body === undefined ? undefined : ctx.template([...path, 'body'], spec.body);
    const saves = Object.entries(spec.save ?? {}).map(([name, source]) => [name, ctx.expression([...path, 'save', name], source)] as const);
    const timeoutMs = spec.timeout ? parseDuration(spec.timeout) : ctx.config.http.timeoutMs;
    const failureVar = spec.onError ?? DEFAULT_FAILURE_VAR;
    const { http } = ctx.config;

    return {
      id,
      kind: 'http',
      async run({ scope, bindings, services }) {
        const renderedHeaders = (await headers(scope, bindings)) as Record<string, unknown>;
        const response = await services.http(id, {
          method: stringOrUndefined(await method(scope, bindings))?.toUpperCase(),
          url: stringOrUndefined(await url(scope, bindings)),
          query: (await query(scope, bindings)) as Record<string, unknown>,
          headers: Object.fromEntries(Object.entries(renderedHeaders).map(([k, v]) => [k, String(v ?? '')])),
          body: body ? await body(scope, bindings) : undefined,
          bodyType: spec.bodyType ?? 'json',
          responseType: spec.responseType ?? 'json',
          timeoutMs,
          maxResponseBytes: http.maxResponseBytes,
          maxRedirects: http.maxRedirects,
          allowPrivateNetworks: http.allowPrivateNetworks,
          allowList: http.allowList,
        });
        const result: { ok: boolean; status: number | null; headers: Record<string, string>; body: unknown; error: HttpError | null } = {
          ok: response.ok,
          status: response.status ?? null,
          headers: response.headers,
          body: response.body,
          error: response.error ?? null,
        };
        const vars: Record<string, unknown> = {};
        if (result.ok) {
          const answer = { status: result.status, headers: result.headers, body: result.body };
          for (const [name, expression] of saves) {
            let value: unknown;
            try {
              value = await expression.evaluate(answer, bindings);
            } catch (err) {
              result.ok = false;
              result.error = { kind: 'KeyError', message: `save.${name}: ${(err as Error).message}` };
              break;
            }
            if (value === undefined) {
              result.ok = false;
              result.error = { kind: 'KeyError', message: `save.${name}: "${expression.source}" found nothing in the answer` };
              break;
            }
            vars[name] = value;
          }
        }
        if (result.error) vars[failureVar] = result.error;
        return { result, vars };
      },
    };
  },
};

function stringOrUndefined(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return String(value);
}
