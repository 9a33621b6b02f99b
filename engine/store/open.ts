import { isAbsolute } from 'node:path';
import { openPostgresStore } from './postgres/store.ts';
import { openSqliteStore } from './sqlite/store.ts';
import type { Store } from './types.ts';

export interface OpenOptions {
  /** the store of a long-running server: upkeep that can run off the event loop does (SQLite's WAL checkpoints) */
  background?: { onError(message: string): void };
}

/**
 * Opens the store named by `storage.url`: `sqlite://<absolute path>`, `sqlite://:memory:`, or
 * `postgres://user:password@host:port/database` (also `postgresql://`; libpq-style query parameters such as
 * `?sslmode=require` and `?application_name=` are understood). The config loader has already resolved a relative
 * SQLite path against the config file's folder, so a relative one here is a mistake.
 */
export async function openStore(url: string, options: OpenOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite://')) {
    const file = url.slice('sqlite://'.length);
    if (file === ':memory:') return openSqliteStore(file);
    if (!file || !isAbsolute(file)) {
      throw new Error(`storage url ${JSON.stringify(url)} needs an absolute file path (sqlite:///path/to/hooks.db) or sqlite://:memory:`);
    }
    return openSqliteStore(file, { backgroundCheckpoints: options.background });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      const store = await openPostgresStore(url);
      if (options.background) store.watch(options.background.onError);
      return store;
    } catch (error) {
      // the url holds a password: name the server without it, and keep it out of the message
      const message = hidePassword((error as Error).message, url);
      throw new Error(`storage ${describePostgres(url)} could not be opened: ${message}`, { cause: error });
    }
  }
  // the url may hold a password: name only its scheme
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'none';
  throw new Error(`unsupported storage url scheme (${scheme}): use sqlite://<absolute path>, sqlite://:memory: or postgres://`);
}

/** postgres://user@host:port/database, without the password */
function describePostgres(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return 'postgres://(unreadable url)';
  }
}

function hidePassword(message: string, url: string): string {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // an unreadable url: nothing to look for
  }
  return password ? message.split(password).join('***') : message;
}
