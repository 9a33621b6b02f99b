import type { LogEntry } from '../store/types.ts';
import type { IncomingRequest } from './incoming.ts';

/**
 * A logged request, ready to run again through the current version of its flow. Headers come back as logged
 * (credentials redacted: a replay skips auth, because the original was checked). A body cut at the log's size cap
 * cannot be replayed faithfully, so it is refused.
 */
export function requestFromLog(entry: LogEntry, now: Date): { ok: true; request: IncomingRequest } | { ok: false; reason: string } {
  if (entry.bodyTruncated) return { ok: false, reason: `log entry ${entry.id} kept only the start of its body, so it cannot be replayed` };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry.headers)) if (typeof value === 'string') headers[name] = value;
  return {
    ok: true,
    request: {
      method: entry.method,
      path: entry.path,
      url: entry.path,
      headers,
      query: entry.query,
      rawBody: entry.body === null ? undefined : Buffer.from(entry.body),
      ip: 'replay',
      receivedAt: now,
    },
  };
}
