import type { LogEntry, LogOutcome } from '../store/types.ts';
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

/**
 * Outcomes of a request that passed every gate (auth, signature, rate limit) and every check of its flow: `failed` is
 * only ever the engine's own failure (its run, its storage, its response) after those. `rejected` was turned away; an
 * outcome not listed here is not trusted either.
 */
const CHECKED: ReadonlySet<LogOutcome> = new Set<LogOutcome>(['accepted', 'completed', 'failed', 'duplicate']);

/** Put in the log entry of a replay the operator forced: the request did not pass its checks when it came. */
export const FORCED_REPLAY_NOTE = 'replay of a rejected request, forced by the operator';

/** How far back a chain of replays is followed before it is taken as not checked. */
const MAX_REPLAY_CHAIN = 32;

export type ReplayTrust = { checked: true } | { checked: false; reason: string; note: string };

/**
 * Whether the request of `entry` passed its checks when it first came, which is what lets a replay skip auth: a
 * replay's own outcome says nothing of that (it skipped them), so a replay is judged by the entry it replays, back to
 * the request as it came. An original no longer in the log (retention) cannot be vouched for. Unchecked: `reason`
 * for the operator (409), `note` for the log entry of a replay forced anyway.
 */
export async function replayTrust(entry: LogEntry, getLog: (id: string) => Promise<LogEntry | undefined>): Promise<ReplayTrust> {
  let original: LogEntry | undefined = entry;
  for (let hops = 0; original?.replayOf && hops < MAX_REPLAY_CHAIN; hops++) original = await getLog(original.replayOf);
  const how = `(?force=rejected on the admin API, hooks replay --include-rejected)`;
  if (!original || original.replayOf) {
    const reason = `log entry ${entry.id} replays a request that is no longer in the log, so whether it passed its checks is not known; a replay skips auth and signature checks, so it runs only when the operator says so ${how}`;
    return { checked: false, reason, note: `${FORCED_REPLAY_NOTE} (its original is no longer in the log)` };
  }
  if (CHECKED.has(original.outcome)) return { checked: true };
  const which = original === entry ? `log entry ${entry.id}` : `log entry ${entry.id} replays ${original.id}, which`;
  const why = original.reason ? ` (${original.reason})` : '';
  const reason = `${which} was ${original.outcome}${why}: a replay skips auth and signature checks, so it runs only when the operator says so ${how}`;
  return { checked: false, reason, note: `${FORCED_REPLAY_NOTE} (${original.id}: ${original.outcome} ${original.status}${why})` };
}
