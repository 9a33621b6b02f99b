/**
 * Derives the TypeScript types of the file formats from the JSON Schemas (the source of truth).
 * `npm run gen:types` writes them; test/schemas.test.ts fails when they are out of date.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

export const GENERATED = [
  { schema: 'schemas/flow.schema.json', out: 'engine/types/flow.ts', name: 'Flow' },
  { schema: 'schemas/config.schema.json', out: 'engine/types/config.ts', name: 'Config' },
  // the drivers' settings, for channels/ (which imports nothing from engine/): the same definition as Config's channels
  { schema: 'schemas/config.schema.json#/$defs/channel', out: 'channels/config.ts', name: 'ChannelConfig' },
  { schema: 'schemas/event.schema.json', out: 'engine/types/event.ts', name: 'Event' },
  { schema: 'schemas/event-botmaker-1.1.schema.json', out: 'engine/types/event-botmaker.ts', name: 'BotmakerEvent' },
] as const;

export async function generate(schemaFile: string, name: string): Promise<string> {
  // $id is a public name, not a place to fetch from: refs must resolve inside the file
  const [file, pointer] = schemaFile.split('#');
  const { $id: _id, ...whole } = JSON.parse(await readFile(root + file, 'utf8'));
  // file#/$defs/x: that definition alone, its refs still resolving in the file's $defs
  const schema = pointer ? { ...definitionAt(whole, pointer), $defs: whole.$defs } : whole;
  breakRecursion(schema);
  openEnds(schema);
  return compile(schema, name, {
    bannerComment: `/* Generated from ${schemaFile} by \`npm run gen:types\`. Do not edit: change the schema. */`,
    additionalProperties: false,
    declareExternallyReferenced: true,
    unreachableDefinitions: !pointer,
    strictIndexSignatures: false,
    ignoreMinAndMaxItems: PLAIN_LISTS.includes(schemaFile),
    format: true,
    style: { singleQuote: true, printWidth: 120 },
  });
}

/** Producers build these formats' lists with map(): that a list is not empty is the validator's check, not the type's. */
const PLAIN_LISTS: readonly string[] = ['schemas/event.schema.json', 'schemas/event-botmaker-1.1.schema.json'];

/** The subschema a JSON Pointer (#/$defs/channel) names. */
function definitionAt(schema: Record<string, unknown>, pointer: string): Record<string, unknown> {
  const found = pointer.split('/').slice(1).reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], schema);
  if (!found || typeof found !== 'object') throw new Error(`no definition at #${pointer}`);
  return found as Record<string, unknown>;
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

type Node = Record<string, unknown>;
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$comment']);
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs'];
const SUBSCHEMA_LISTS = ['oneOf', 'anyOf', 'allOf', 'prefixItems'];

/**
 * Types what the schema leaves open as open: a value it does not constrain is `unknown`, and an object that names no
 * properties holds any (the generator's default of no additional properties would make it `{}`).
 */
function openEnds(node: Node): void {
  if (Object.keys(node).every((key) => ANNOTATIONS.has(key))) node.tsType = 'unknown';
  else if (node.type === 'object' && !node.properties && !node.patternProperties && node.additionalProperties === undefined) node.additionalProperties = true;
  const children = [
    ...SUBSCHEMA_MAPS.flatMap((key) => Object.values((node[key] as Record<string, Node> | undefined) ?? {})),
    ...SUBSCHEMA_LISTS.flatMap((key) => (node[key] as Node[] | undefined) ?? []),
    node.items,
    node.additionalProperties,
  ];
  for (const child of children) if (child !== null && typeof child === 'object' && !Array.isArray(child)) openEnds(child as Node);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const item of GENERATED) {
    await writeFile(root + item.out, await generate(item.schema, item.name));
    console.log(`wrote ${item.out}`);
  }
}
