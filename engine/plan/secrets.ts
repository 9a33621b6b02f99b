/**
 * What a plan may show of a secret: its `${env:NAME}` references and `{{ }}` templates, never a value. A default
 * (`${env:NAME:-value}`) and literal text are values written in git, so they are masked too: a pull-request comment
 * must not repeat a password even if someone committed one.
 */
const KEPT = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\{\{[\s\S]*?\}\}/g;

/** Literal text kept as is: nothing, separators, or an auth scheme ("Bearer ") before a reference. */
function maskLiteral(text: string): string {
  if (text === '' || /^[\s:/@.-]+$/.test(text) || /^(Bearer|Basic|Token|Bot|Digest)\s+$/i.test(text)) return text;
  return '***';
}

export function maskSecret(text: string): string {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(KEPT)) {
    out += maskLiteral(text.slice(last, match.index));
    const [all, name, fallback] = match;
    out += name === undefined ? all : fallback === undefined ? `\${env:${name}}` : fallback === '' ? `\${env:${name}:-}` : `\${env:${name}:-***}`;
    last = match.index! + all.length;
  }
  return out + maskLiteral(text.slice(last));
}

/** Header and query names whose values are credentials. */
export function isSensitiveName(name: string): boolean {
  return /authorization|cookie|token|secret|passw|api[-_]?key|apikey|signature|credential|session/i.test(name);
}

/** Masks values under sensitive names in a headers or query mapping; other values are shown as written. */
export function maskSensitive(values: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!values) return values;
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, isSensitiveName(k) && typeof v === 'string' ? maskSecret(v) : v]));
}

/** A URL template with its userinfo and sensitive query values masked (`https://***@host/x?api_key=***`). */
export function maskUrl(url: string): string {
  const withoutUser = url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#@]*)@/, (_all, scheme: string, info: string) => `${scheme}${maskSecret(info)}@`);
  const q = withoutUser.indexOf('?');
  if (q < 0) return withoutUser;
  const [query, fragment] = withoutUser.slice(q + 1).split(/#(.*)/s);
  const masked = query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq > 0 && isSensitiveName(part.slice(0, eq)) ? `${part.slice(0, eq + 1)}${maskSecret(part.slice(eq + 1))}` : part;
    })
    .join('&');
  return `${withoutUser.slice(0, q + 1)}${masked}${fragment !== undefined ? `#${fragment}` : ''}`;
}
