/**
 * Partial matching for flow tests: objects match when every expected key matches, arrays element by element with the
 * same length, other values by equality. Each mismatch becomes one line of the failure's diff.
 */
export interface MatchOptions {
  /** strings written /like this/ are regular expressions */
  regex?: boolean;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function isRegex(value: unknown): value is string {
  return typeof value === 'string' && value.length > 2 && value.startsWith('/') && value.endsWith('/');
}

export function match(expected: unknown, actual: unknown, path: string, diffs: string[], options: MatchOptions = {}): void {
  if (options.regex && isRegex(expected)) {
    if (typeof actual !== 'string' || !new RegExp(expected.slice(1, -1)).test(actual)) diffs.push(`${path}: expected to match ${expected}, got ${show(actual)}`);
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      diffs.push(`${path}: expected ${show(expected)}, got ${show(actual)}`);
      return;
    }
    expected.forEach((item, i) => match(item, actual[i], `${path}[${i}]`, diffs, options));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      diffs.push(`${path}: expected ${show(expected)}, got ${show(actual)}`);
      return;
    }
    for (const [key, value] of Object.entries(expected)) match(value, (actual as Record<string, unknown>)[key], `${path}.${key}`, diffs, options);
    return;
  }
  if (expected !== actual) diffs.push(`${path}: expected ${show(expected)}, got ${show(actual)}`);
}
