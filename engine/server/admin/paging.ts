import { arrayOf, integer, nullable, record, text, type JsonSchema } from './schema.ts';

/**
 * A page of a list, newest first: `next` is the last item's id when the page is full, the `before` that asks for the
 * page after it; null on the last page.
 */
export function pageOf(name: string, item: JsonSchema, cursor: 'string' | 'integer', extra: Record<string, JsonSchema> = {}): JsonSchema {
  return record({ ...extra, [name]: arrayOf(item), next: nullable(cursor) });
}

export function nextCursor<T extends { id: string | number }>(items: T[], limit: number): T['id'] | null {
  return items.length === limit ? items[items.length - 1].id : null;
}

/** the `before` parameter of a paged list */
export const before = (what: string, cursor: 'string' | 'integer' = 'string'): JsonSchema =>
  cursor === 'string' ? text(what) : { ...integer, minimum: 0, description: what };
