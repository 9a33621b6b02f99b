import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export type PhoneCheck = { ok: true; e164: string } | { ok: false; reason: string };

/** Normalises a phone number to E.164, reading national formats with `defaultCountry`; invalid numbers are refused with a reason. */
export function normalisePhone(input: unknown, defaultCountry?: string): PhoneCheck {
  if (typeof input !== 'string' && typeof input !== 'number') return { ok: false, reason: 'no phone number given' };
  const text = String(input).trim();
  if (text === '') return { ok: false, reason: 'no phone number given' };
  const parsed = parsePhoneNumberFromString(text, defaultCountry ? { defaultCountry: defaultCountry as CountryCode } : undefined);
  if (!parsed) return { ok: false, reason: `"${text}" is not a phone number${defaultCountry ? '' : ' (national formats need identify.defaultCountry)'}` };
  if (!parsed.isValid()) return { ok: false, reason: `"${text}" is not a valid phone number for ${parsed.country ?? `country code +${parsed.countryCallingCode}`}` };
  return { ok: true, e164: parsed.number };
}
