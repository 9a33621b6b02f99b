import { isAbsolute } from 'node:path';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/**
 * Opens the store named by `storage.url`: `sqlite://<absolute path>` or `sqlite://:memory:`. The config loader has
 * already resolved a relative SQLite path against the config file's folder, so a relative one here is a mistake.
 */
export async function openStore(url: string): Promise<Store> {
  if (url.startsWith('sqlite://')) {
    const file = url.slice('sqlite://'.length);
    if (file === ':memory:') return openSqliteStore(file);
    if (!file || !isAbsolute(file)) {
      throw new Error(`storage url ${JSON.stringify(url)} needs an absolute file path (sqlite:///path/to/hooks.db) or sqlite://:memory:`);
    }
    return openSqliteStore(file);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    throw new Error('Postgres storage is not available yet (a later issue adds it): use sqlite://<file> for now');
  }
  // the url may hold a password: name only its scheme
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'none';
  throw new Error(`unsupported storage url scheme (${scheme}): use sqlite://<absolute path>, sqlite://:memory: or postgres://`);
}
