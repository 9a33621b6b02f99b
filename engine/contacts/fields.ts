import type { EngineConfig } from '../config/load.ts';

export type FieldType = EngineConfig['fields'][string];

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Fits a mapped value to its declared type: the stored value, or why it does not fit. */
export function fitField(type: FieldType | undefined, value: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (value === null || type === undefined) return { ok: true, value };
  const shown = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  switch (type) {
    case 'text':
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
      return { ok: false, reason: `${shown} is not text` };
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, reason: `${shown} is not a number` };
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return { ok: false, reason: `${shown} is not true or false` };
    case 'date':
      if (typeof value === 'string' && DATE.test(value) && !Number.isNaN(Date.parse(value))) return { ok: true, value };
      return { ok: false, reason: `${shown} is not a date (YYYY-MM-DD)` };
    case 'datetime': {
      const time = typeof value === 'string' ? Date.parse(value) : NaN;
      return Number.isNaN(time) ? { ok: false, reason: `${shown} is not a date and time (ISO 8601)` } : { ok: true, value: new Date(time).toISOString() };
    }
  }
}
