import { parseDuration } from '../expr/duration.ts';

export const SINCE_PROBLEM = '--since must be an ISO date or time (2026-01-31, 2026-01-31T09:30Z) or how long ago (10m, 2h, 1d)';

/**
 * A command's `--since`: an ISO date or time, or a duration meaning that long before `now` ("10m", "2h", "1d", the
 * durations of the flow files). The ISO time it stands for, or undefined when it is neither.
 */
export function sinceTime(text: string, now = new Date()): string | undefined {
  if (/^[0-9.]+(ms|s|m|h|d)$/.test(text)) {
    try {
      return new Date(now.getTime() - parseDuration(text)).toISOString();
    } catch {
      return undefined;
    }
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}
