import { parsePhone, type PhoneCheck } from '../../channels/index.ts';

export type { PhoneCheck };

/**
 * Normalises a phone number of a flow to E.164 by the channels' rules (the number a send goes to is the contact's),
 * reading national formats with the flow's `identify.defaultCountry`; a national number in a flow without one is
 * refused naming that setting.
 */
export function normalisePhone(input: unknown, defaultCountry?: string): PhoneCheck {
  const check = parsePhone(input, defaultCountry);
  if (check.ok || !check.needsCountry) return check;
  return { ok: false, reason: `${check.reason} (national formats need identify.defaultCountry)` };
}

/**
 * A phone number given without any flow (the admin API's search): international numbers only, and a refusal that
 * says what to send instead.
 */
export function internationalPhone(input: unknown): PhoneCheck {
  const check = parsePhone(input);
  if (check.ok || !check.needsCountry) return check;
  return { ok: false, reason: `${check.reason}: send + and the country code before the number (e.g. +14155552671, %2B for the + in a URL): E.164, the international format` };
}
