/**
 * Derives the TypeScript types of the file formats from the JSON Schemas (the source of truth).
 * `npm run gen:types` writes them; test/types.test.ts fails when they are out of date.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

export const GENERATED = [
  { schema: 'schemas/flow.schema.json', out: 'engine/types/flow.ts', name: 'Flow' },
  { schema: 'schemas/config.schema.json', out: 'engine/types/config.ts', name: 'Config' },
] as const;

export async function generate(schemaFile: string, name: string): Promise<string> {
  // $id is a public name, not a place to fetch from: refs must resolve inside the file
  const { $id: _id, ...schema } = JSON.parse(await readFile(root + schemaFile, 'utf8'));
  breakRecursion(schema);
  return compile(schema, name, {
    bannerComment: `/* Generated from ${schemaFile} by \`npm run gen:types\`. Do not edit: change the schema. */`,
    additionalProperties: false,
    declareExternallyReferenced: true,
    unreachableDefinitions: true,
    strictIndexSignatures: false,
    format: true,
    style: { singleQuote: true, printWidth: 120 },
  });
}

type Def = { properties?: Record<string, Record<string, unknown>>; oneOf?: unknown; tsType?: string };

/**
 * Adjusts what the generator cannot express well, in the generator only: recursive refs (steps inside a branch case
 * are typed by name), a template is any value, and "exactly one step kind" is the validator's job, not the type's.
 */
function breakRecursion(schema: { $defs?: Record<string, Def> }): void {
  if (schema.$defs?.template) schema.$defs.template.tsType = 'unknown';
  if (schema.$defs?.step) delete schema.$defs.step.oneOf;
  for (const def of Object.values(schema.$defs ?? {})) {
    for (const [key, prop] of Object.entries(def.properties ?? {})) {
      if (prop.$ref === '#/$defs/steps') def.properties![key] = { description: prop.description ?? 'Steps, run in order.', tsType: 'Steps' };
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const item of GENERATED) {
    await writeFile(root + item.out, await generate(item.schema, item.name));
    console.log(`wrote ${item.out}`);
  }
}
