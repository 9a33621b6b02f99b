/** How a flow's secret URL segment (trigger.auth.token) is shown wherever a route is printed or logged. */
export const TOKEN_SEGMENT = '[token]';

/** What a route is shown from: a compiled flow, or the parts of a definition. */
export interface RouteParts {
  route: string;
  auth: { token?: string };
}

/**
 * A flow's route as people see it: under the base path, with the secret URL segment of a token route shown as
 * [token], never its value (start-up log, `hooks graph`, /api/flows).
 */
export function shownRoute(basePath: string, flow: RouteParts): string {
  return `${basePath}${flow.route}${flow.auth.token !== undefined ? `/${TOKEN_SEGMENT}` : ''}`;
}

/**
 * The URL a partner calls: the public origin, the base path, the route and, for a token route, the token itself.
 * Only `hooks url` prints it (to stdout); nothing logs it.
 */
export function callerUrl(origin: string, basePath: string, flow: RouteParts): string {
  const token = flow.auth.token !== undefined ? `/${encodeURIComponent(flow.auth.token)}` : '';
  return `${origin.replace(/\/+$/, '')}${basePath}${flow.route}${token}`;
}

/**
 * The paths the server answers itself, at its root (engine/server/app.ts), and the console to come at /ui. A flow
 * route equal to or under one of them would be shadowed when the flows sit at the root (`server.basePath: ""`).
 */
export const ENGINE_PATHS = ['/api', '/metrics', '/healthz', '/readyz', '/ui'] as const;
