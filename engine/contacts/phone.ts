import { parsePhone, type PhoneCheck } from '../../channels/index.ts';

export type { PhoneCheck };

/**
 * Normalises a phone number to E.164 by the channels' rules (the number a send goes to is the contact's), reading
 * national formats with `defaultCountry`; a national number given without one is refused naming the flow's setting.
 */
export function normalisePhone(input: unknown, defaultCountry?: string): PhoneCheck {
  const check = parsePhone(input, defaultCountry);
  if (check.ok || !check.needsCountry) return check;
  return { ok: false, reason: `${check.reason} (national formats need identify.defaultCountry)` };
}
