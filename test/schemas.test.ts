import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { flowSchema, configSchema } from '../engine/schema/validate.ts';
import { GENERATED, generate } from '../engine/types/generate.ts';

/** Every property an editor can complete must explain itself (yaml-language-server shows descriptions). */
function undescribed(schema: unknown, path = '#'): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const missing: string[] = [];
  for (const [name, prop] of Object.entries((node.properties as Record<string, Record<string, unknown>>) ?? {})) {
    const target = typeof prop.$ref === 'string' ? resolveRef(prop.$ref) : prop;
    if (!prop.description && !target?.description) missing.push(`${path}/properties/${name}`);
  }
  for (const [key, child] of Object.entries(node)) {
    if (key === 'properties') for (const [name, prop] of Object.entries(child as object)) missing.push(...undescribed(prop, `${path}/properties/${name}`));
    else if (typeof child === 'object') missing.push(...undescribed(child, `${path}/${key}`));
  }
  return missing;
}

let current: Record<string, unknown>;
function resolveRef(ref: string): Record<string, unknown> | undefined {
  return ref.split('/').slice(1).reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], current) as Record<string, unknown> | undefined;
}

describe('the schemas, source of truth of the formats', () => {
  it.each([
    ['flow', flowSchema],
    ['config', configSchema],
  ])('%s schema: draft 2020-12, unknown properties refused, every property described', (_name, schema) => {
    current = schema;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.additionalProperties).toBe(false);
    expect(undescribed(schema)).toEqual([]);
  });

  it.each(GENERATED.map((g) => [g.out, g]))('%s is generated from its schema and up to date (npm run gen:types)', async (_out, item) => {
    const committed = await readFile(fileURLToPath(new URL(`../${item.out}`, import.meta.url)), 'utf8');
    expect(committed).toBe(await generate(item.schema, item.name));
  });
});
