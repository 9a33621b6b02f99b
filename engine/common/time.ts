/**
 * A Date as ISO 8601 text, the form every stored time takes. Date#toISOString formats through C's snprintf, and a
 * request stamps several times (received, each step's start and end, finished): under load most stamps fall in the
 * same millisecond, so the last text is kept and reused.
 */
let lastMs = Number.NaN;
let lastText = '';

export function isoTime(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastMs) {
    lastText = date.toISOString(); // throws for an invalid date, as before: NaN never equals lastMs
    lastMs = ms;
  }
  return lastText;
}
