/**
 * A backend's schema is one ordered list of numbered migrations (sqlite/migrations.ts, postgres/migrations.ts), each
 * applied once, in order, and recorded in the database's `schema_migrations`. A migration is never edited once
 * released: a change is a new entry with the next version.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The migrations a database whose `schema_migrations` holds `done` lacks, oldest first (a gap left by a version added
 * between released ones is filled in order). Refuses a database that a newer engine has migrated.
 */
export function pendingMigrations(migrations: readonly Migration[], done: ReadonlySet<number>): Migration[] {
  const latest = Math.max(0, ...migrations.map((m) => m.version));
  const newer = [...done].filter((v) => v > latest);
  if (newer.length > 0) {
    throw new Error(`database schema version ${Math.max(...newer)} is newer than this engine knows (${latest}): upgrade the engine`);
  }
  return [...migrations].sort((a, b) => a.version - b.version).filter((m) => !done.has(m.version));
}
