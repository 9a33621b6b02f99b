import type { FastifyPluginAsync } from 'fastify';
import type { LogEntry, LogOutcome, Store } from '../../store/types.ts';
import { redactHeaders } from '../../common/redact.ts';
import { LOG_OUTCOMES, logEntry } from './shapes.ts';
import { before, nextCursor, pageOf } from './paging.ts';
import { answers, enumParam, idParams, isoTime, limit, query, text } from './schema.ts';

interface LogsQuery {
  flow?: string;
  status?: number;
  outcome?: LogOutcome;
  since?: string;
  before?: string;
  limit: number;
}

const logsQuery = query({
  flow: text('a flow id'),
  status: { type: 'integer', minimum: 100, maximum: 599, description: 'an HTTP status code' },
  outcome: enumParam(LOG_OUTCOMES),
  since: isoTime,
  before: before('a log entry id'),
  limit: limit(500),
});

/** A log entry as it is shown (admin API, `hooks logs --format json`): a JSON body as its value, the text beside it. */
export type ShownLogEntry = Omit<LogEntry, 'body'> & { body: unknown; bodyText: string | null };

export function shownLogEntry(entry: LogEntry): ShownLogEntry {
  // redacted when stored; again when shown, for rows stored before a header was known to carry a credential
  return { ...entry, headers: redactHeaders(entry.headers), body: bodyValue(entry), bodyText: entry.body };
}

/** The body's JSON value when it says it is JSON and was kept whole; else its text (a cut body is not JSON any more). */
function bodyValue(entry: LogEntry): unknown {
  const type = entry.headers['content-type'];
  if (entry.body === null || entry.bodyTruncated || typeof type !== 'string' || !/\bjson\b/i.test(type)) return entry.body;
  try {
    const value: unknown = JSON.parse(entry.body);
    // a value nested deeper than any serialiser's stack (a hostile body): shown as its text
    return nestedDeeperThan(value, SHOWN_DEPTH) ? entry.body : value;
  } catch {
    return entry.body; // malformed JSON (answered 400): shown as sent
  }
}

const SHOWN_DEPTH = 1_000;

/** Whether a parsed JSON value nests deeper than `limit`, walked without recursion. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(node)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** /api/logs: the webhook log, newest first and paged; one entry. */
export const logRoutes: FastifyPluginAsync<{ store: Store }> = async (api, { store }) => {
  api.get<{ Querystring: LogsQuery }>(
    '',
    { schema: { summary: 'the webhook log, newest first', tags: ['logs'], querystring: logsQuery, response: answers(pageOf('entries', logEntry, 'string')) } },
    async (req) => {
      const { flow, status, outcome, since, limit } = req.query;
      const entries = await store.listLogs({ flowId: flow, status, outcome, since: since ? new Date(since).toISOString() : undefined, before: req.query.before, limit });
      return { entries: entries.map(shownLogEntry), next: nextCursor(entries, limit) };
    },
  );

  api.get<{ Params: { id: string } }>(
    '/:id',
    { schema: { summary: 'one log entry', tags: ['logs'], params: idParams('a log entry id'), response: answers(logEntry) } },
    async (req, reply) => {
      const entry = await store.getLog(req.params.id);
      return entry ? shownLogEntry(entry) : reply.code(404).send({ error: 'no such log entry' });
    },
  );
};
