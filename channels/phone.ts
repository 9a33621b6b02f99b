/** Phone numbers as the Twilio drivers (and the outbox standing in for them) send to them: E.164. */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { ChannelError } from './types.ts';

export type PhoneCheck =
  | { ok: true; e164: string }
  /** `needsCountry`: the text is no international number, and no country was given to read it as a national one */
  | { ok: false; reason: string; needsCountry?: true };

/** Normalises a phone number to E.164, reading national formats with `defaultCountry`; invalid numbers are refused with a reason. */
export function parsePhone(input: unknown, defaultCountry?: string): PhoneCheck {
  if (typeof input !== 'string' && typeof input !== 'number') return { ok: false, reason: 'no phone number given' };
  const text = String(input).trim();
  if (text === '') return { ok: false, reason: 'no phone number given' };
  const parsed = parsePhoneNumberFromString(text, defaultCountry ? { defaultCountry: defaultCountry as CountryCode } : undefined);
  if (!parsed) return { ok: false, reason: `"${text}" is not a phone number`, ...(defaultCountry ? {} : { needsCountry: true as const }) };
  if (!parsed.isValid()) return { ok: false, reason: `"${text}" is not a valid phone number for ${parsed.country ?? `country code +${parsed.countryCallingCode}`}` };
  return { ok: true, e164: parsed.number };
}

/** Checks and normalises a recipient phone number before any provider call. */
export function recipientPhone(to: unknown): string {
  const check = parsePhone(to);
  if (!check.ok) {
    throw new ChannelError(`invalid recipient: ${check.reason}`, { transient: false, code: 'invalid-recipient' });
  }
  return check.e164;
}
