import { redactHeaders } from '../../common/redact.ts';
import { iso, loggedRequest, type Row } from '../rows.ts';
import type { ExecutionRecord, JournalEntry, LogEntry } from '../types.ts';

/**
 * Executions kept inside another row, so that the hot paths write one row instead of several: a sync run that ended
 * before its answer goes in its request's log row (with its journal), and the last journal entries of an execution go
 * in its row with the finish.
 */

/** A journal entry as kept in its execution's row (JSON leaves `result: undefined` out, which reads back the same). */
export type InlineEntry = Omit<JournalEntry, 'executionId'>;
/** A finished sync run with its journal, as read back from its log row. */
export type EmbeddedExecution = ExecutionRecord & { journal: InlineEntry[] };

/** An execution's times in the stored form */
export function times(e: ExecutionRecord): Pick<ExecutionRecord, 'createdAt' | 'startedAt' | 'finishedAt'> {
  return {
    createdAt: iso(e.createdAt, 'createdAt'),
    startedAt: e.startedAt === null ? null : iso(e.startedAt, 'startedAt'),
    finishedAt: e.finishedAt === null ? null : iso(e.finishedAt, 'finishedAt'),
  };
}

export function inlineEntry({ executionId: _, ...entry }: JournalEntry): InlineEntry {
  return { ...entry, startedAt: iso(entry.startedAt, 'startedAt'), finishedAt: iso(entry.finishedAt, 'finishedAt') };
}

/**
 * A finished run as its log row keeps it: only what the row does not already hold (isLogOf), so a sync request writes
 * and serialises its id, flow, times and request once. readEmbeddedRun puts the row's fields back. Rows written before
 * this, with every field, read back the same.
 */
export function embedRun(e: ExecutionRecord, journal: JournalEntry[]) {
  const { request, vars, contactId, logged } = e.input;
  const { startedAt, finishedAt } = times(e);
  // a request whose body the row holds verbatim (ExecutionInput.logged) keeps neither its body nor its headers twice
  const kept = logged ? { ip: request.ip } : { headers: redactHeaders(request.headers), body: request.body, ip: request.ip };
  return {
    mode: e.mode, status: e.status, attempts: e.attempts, startedAt, finishedAt, error: e.error,
    input: { request: kept, vars, contactId, ...(logged ? { logged } : {}) },
    journal: journal.map(inlineEntry),
  };
}

/** What embedRun keeps of a request that is not the log row's own: its headers, body and the caller's address. */
type EmbeddedRequest = { headers: Record<string, unknown>; body: unknown; ip: string };

function embeddedRequest(row: Row, kept: EmbeddedRequest): ExecutionRecord['input']['request'] {
  return { method: row.method as string, path: row.path as string, headers: kept.headers, query: JSON.parse(row.query as string), body: kept.body, ip: kept.ip, receivedAt: row.received_at as string };
}

export function readEmbeddedRun(row: Row): EmbeddedExecution {
  const run = JSON.parse(row.execution as string) as ReturnType<typeof embedRun>;
  const { vars, contactId, logged } = run.input;
  const receivedAt = row.received_at as string;
  return {
    id: row.execution_id as string, flowId: row.flow_id as string, revision: row.revision as string, logId: row.id as string,
    mode: run.mode, status: run.status,
    input: {
      // a logged request is the row's own (embedRun)
      request: logged ? loggedRequest(row, run.input.request.ip) : embeddedRequest(row, run.input.request as EmbeddedRequest),
      vars, contactId, ...(logged ? { logged } : {}),
    },
    attempts: run.attempts, createdAt: receivedAt, startedAt: run.startedAt, finishedAt: run.finishedAt, error: run.error,
    journal: run.journal,
  };
}
