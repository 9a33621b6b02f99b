import type pg from 'pg';

/** SQL helpers shared by the Postgres store's parts: statement builders, transactions and the conversions of values. */

export type Statement = { text: string; values: unknown[] };

// Postgres takes at most 65,535 parameters per statement: a large batch is inserted in several statements
const MAX_PARAMETERS = 60_000;

/** How many parameters one combined statement may take (Postgres's limit is 65,535). */
export const MAX_COMBINED_PARAMETERS = MAX_PARAMETERS;

/**
 * Several INSERT/UPDATE statements as one: each a data-modifying CTE, parameters renumbered. Executed once each, in
 * one snapshot, as one transaction; foreign keys are checked at the end of the statement, so a row may reference one
 * inserted by another part.
 */
export function combine(statements: Statement[]): Statement {
  const values: unknown[] = [];
  const parts = statements.map((statement, i) => {
    const offset = values.length;
    values.push(...statement.values);
    return `w${i} AS (${statement.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
  });
  return { text: `WITH ${parts.join(', ')} SELECT 1`, values };
}

/** Multi-row INSERTs, as many statements as the parameter limit needs. */
export function insertStatements(table: string, columns: string[], rows: unknown[][], suffix = ''): Statement[] {
  const statements: Statement[] = [];
  const perStatement = Math.floor(MAX_PARAMETERS / columns.length);
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const values: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((value) => `$${values.push(value)}`).join(', ')})`);
    statements.push({ text: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}${suffix}`, values });
  }
  return statements;
}

/** Multi-row UPDATEs by id: `columns` are `name::type`, the first is the id. */
export function updateStatements(table: string, columns: string[], set: string, rows: unknown[][]): Statement[] {
  const statements: Statement[] = [];
  const names = columns.map((c) => c.split('::')[0]);
  const perStatement = Math.floor(MAX_PARAMETERS / columns.length);
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const values: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((value, i) => `$${values.push(value)}::${columns[i].split('::')[1]}`).join(', ')})`);
    statements.push({ text: `UPDATE ${table} SET ${set} FROM (VALUES ${tuples.join(', ')}) AS v (${names.join(', ')}) WHERE ${table}.id = v.id`, values });
  }
  return statements;
}

/**
 * Free text as Postgres can hold it: text cannot contain NUL, which a caller can put in a body or a dedupe key. It
 * becomes U+FFFD, so one such request is stored (and cannot fail the group commit it shares with others).
 */
export function text<T extends string | null>(value: T): T {
  return (value !== null && value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value) as T;
}

/** JSON text of a value, where `undefined` (which JSON has no text for) is SQL NULL */
export function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Runs `work` on one connection in a transaction: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    // a connection that cannot even roll back is broken: the pool must not hand it out again
    await client.query('ROLLBACK').then(
      () => client.release(),
      () => client.release(true),
    );
    throw error;
  }
}
