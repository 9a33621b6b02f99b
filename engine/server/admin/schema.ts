import type { FastifySchema, FastifySchemaValidationError } from 'fastify';

/**
 * Building blocks of the admin routes' JSON Schemas. Query and path schemas validate and coerce each request (Fastify's
 * Ajv); response schemas describe the answers in the OpenAPI document (GET /api/openapi.json). A parameter's
 * `description` says what it must be: a 400 for it reads "<name> must be <description>".
 */
export type JsonSchema = Record<string, unknown>;

export const text = (description?: string): JsonSchema => (description ? { type: 'string', description } : { type: 'string' });
export const integer: JsonSchema = { type: 'integer' };
export const number: JsonSchema = { type: 'number' };
export const boolean: JsonSchema = { type: 'boolean' };
/** any JSON value */
export const anything: JsonSchema = {};
/** an object with any properties (headers, fields, a message's content) */
export const openObject: JsonSchema = { type: 'object', additionalProperties: true };
export const nullable = (type: 'string' | 'integer' | 'number' | 'boolean'): JsonSchema => ({ type: [type, 'null'] });
export const arrayOf = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
export const enumOf = (values: readonly string[]): JsonSchema => ({ type: 'string', enum: [...values] });

/** The members of a string union, from a record that the compiler checks holds every one of them. */
export const membersOf = <T extends string>(set: Record<T, true>): T[] => Object.keys(set) as T[];

/** An object with exactly these properties, all present but the `optional` ones. */
export function record(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
  return { type: 'object', properties, required: Object.keys(properties).filter((name) => !optional.includes(name)), additionalProperties: false };
}

/** A record with more properties: `extra` come after the record's own, as the handler spreads them. */
export function extend(base: JsonSchema, extra: Record<string, JsonSchema>): JsonSchema {
  return record({ ...(base.properties as Record<string, JsonSchema>), ...extra }, optionalOf(base));
}

function optionalOf(schema: JsonSchema): string[] {
  const required = new Set(schema.required as string[]);
  return Object.keys(schema.properties as object).filter((name) => !required.has(name));
}

// ---- parameters

/** Query parameters, none required; parameters the schema does not name are ignored. */
export const query = (properties: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', properties });

export const idParams = (what: string): JsonSchema => ({ type: 'object', properties: { id: text(what) }, required: ['id'] });

export const limit = (max: number): JsonSchema => ({ type: 'integer', minimum: 1, maximum: max, default: 50, description: `an integer from 1 to ${max}` });

export const enumParam = (values: readonly string[], description = `one of ${values.join(', ')}`): JsonSchema => ({ ...enumOf(values), description });

/** A date or a time as `Date` reads it: 2026-01-31, 2026-01-31T09:30, with seconds, fractions and a zone (Z, +01:00). */
export const isoTime: JsonSchema = {
  type: 'string',
  pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])([Tt ]([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d+)?)?([Zz]|[+-]([01]\\d|2[0-3]):?[0-5]\\d)?)?$',
  description: 'an ISO date or time',
};

// ---- answers

export const errorBody: JsonSchema = {
  ...record({ error: text('why, for people') }),
  description: 'refused: a bad parameter (400), no or a wrong admin token (401), nothing by that id or the admin API off (404), no replay possible (409)',
};

/** The answers of a route: `ok` for 200; every refusal (400, 401, 404, 409) is `{ error }`. */
export const answers = (ok: JsonSchema): Record<string, JsonSchema> => ({ 200: ok, '4xx': errorBody });

/**
 * The error of a request that does not match its route's schema: "limit must be an integer from 1 to 500" when the
 * parameter has a description, else Ajv's own words ("querystring/limit must be integer").
 */
export function parameterReason(schema: FastifySchema | undefined) {
  return (errors: FastifySchemaValidationError[], dataVar: string): Error => {
    const [error] = errors;
    const name = error.instancePath.split('/')[1] ?? '';
    const part = (dataVar === 'querystring' ? schema?.querystring : dataVar === 'params' ? schema?.params : undefined) as JsonSchema | undefined;
    const description = (part?.properties as Record<string, JsonSchema> | undefined)?.[name]?.description;
    return new Error(typeof description === 'string' ? `${name} must be ${description}` : `${dataVar}${error.instancePath} ${error.message}`);
  };
}
