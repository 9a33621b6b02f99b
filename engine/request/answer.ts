import type { Answer } from '../common/scope.ts';

/** An answer as it goes on the wire: its body serialised, every header checked. */
export interface WireAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export type CheckedAnswer = { ok: true; wire: WireAnswer } | { ok: false; reason: string };

// what Node's HTTP layer refuses in a header value (it throws at writeHead, after the commit): CR, LF, NUL and other
// controls, and characters past Latin-1
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
const PAST_LATIN1 = /[^\0-\xff]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const checked = new WeakMap<Answer, CheckedAnswer>();

/**
 * Renders an answer for the wire once, before its request is committed: a header Node would refuse or a body that
 * cannot be serialised is known while the request can still be logged as failed and its work held back. The same
 * answer is not checked twice (send() asks again after the commit).
 */
export function checkAnswer(answer: Answer): CheckedAnswer {
  let result = checked.get(answer);
  if (!result) {
    result = render(answer);
    checked.set(answer, result);
  }
  return result;
}

function render(answer: Answer): CheckedAnswer {
  const { status, headers, body } = answer;
  if (!Number.isInteger(status) || status < 100 || status > 599) return { ok: false, reason: `status ${JSON.stringify(status)} is not an HTTP status` };
  for (const [name, value] of Object.entries(headers)) {
    const problem = headerProblem(name, String(value));
    if (problem) return { ok: false, reason: `header "${name}" ${problem}` };
  }
  if (typeof body === 'string' || Buffer.isBuffer(body)) return { ok: true, wire: { status, headers, body } };
  let text: string;
  try {
    text = JSON.stringify(body ?? null);
  } catch (err) {
    const why = err instanceof RangeError ? 'it is nested too deeply' : (err as Error).message;
    return { ok: false, reason: `the body cannot be serialised as JSON: ${why}` };
  }
  return { ok: true, wire: { status, headers: { ...headers, 'content-type': headers['content-type'] ?? 'application/json; charset=utf-8' }, body: text } };
}

function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return 'is not a valid header name';
  if (/[\r\n\0]/.test(value)) return 'has CR, LF or NUL in its value (a header cannot hold them)';
  if (CONTROL.test(value)) return 'has a control character in its value';
  if (PAST_LATIN1.test(value)) return 'has a character outside Latin-1 in its value (percent-encode it)';
  return undefined;
}
