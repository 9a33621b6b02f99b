/**
 * Hostile input against the expression and template layer (issue #26), over a real engine and a real SMTP server:
 * a regular expression that backtracks catastrophically is refused when its flow loads, one built-in call cannot build
 * a huge value, a long evaluation leaves the event loop to other requests, and templates escape HTML in HTML contexts
 * (an e-mail's `html`, a text/html answer) with `{{{ }}}` as the raw form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileExpression } from '../engine/expr/expression.ts';
import { compileTemplate, type TemplateProblem } from '../engine/expr/template.ts';
import { startTestEngine, type TestEngine } from './support/engine.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';

const REGEX_FLOW = `version: 1
id: regex
trigger: { path: /regex }
mode: sync
steps:
  - id: check
    branch:
      - when: "$contains(body.s, /^(a+)+$/)"
        steps:
          - { id: matched, respond: { status: 200, body: matched } }
`;

const FLOWS: Record<string, string> = {
  'regex.yaml': REGEX_FLOW,
  'pad.yaml': `version: 1
id: pad
trigger: { path: /pad }
mode: sync
steps:
  - id: build
    set: { padded: "{{ $pad('', body.width, 'x') }}" }
  - id: answer
    respond: { status: 200, body: { length: "{{ $length(vars.padded) }}" } }
`,
  'loop.yaml': `version: 1
id: loop
trigger: { path: /loop }
mode: sync
steps:
  - id: work
    set: { n: "{{ $count($map([1..99999], function($x) { $map([1..50], function($y) { $y * $x }) })) }}" }
  - id: answer
    respond: { status: 200, body: { n: "{{ vars.n }}" } }
`,
  'evaluate.yaml': `version: 1
id: evaluate
trigger: { path: /evaluate }
mode: sync
steps:
  - id: answer
    respond: { status: 200, body: { value: "{{ $eval(body.expression) }}" } }
`,
  'mail.yaml': `version: 1
id: mail
trigger: { path: /mail }
mode: async
steps:
  - id: confirm
    send:
      channel: email
      to: "{{ body.email }}"
      subject: "Booking for {{ body.name }}"
      text: "Hi {{ body.name }}, your booking is confirmed."
      html: "<p>Hi {{ body.name }}, your booking is confirmed.</p><footer>{{{ body.footer }}}</footer>"
`,
  'ack.yaml': `version: 1
id: ack
trigger: { path: /ack }
response:
  status: 202
  headers: { content-type: application/xhtml+xml }
  body: "<p>Thanks, {{ body.name }}</p>"
`,
  'page.yaml': `version: 1
id: page
trigger: { path: /page }
mode: sync
steps:
  - id: html
    branch:
      - when: body.as = 'html'
        steps:
          - id: page
            respond:
              headers: { Content-Type: "text/html; charset=utf-8" }
              body: "<h1>Hello {{ body.name }}</h1>{{{ body.banner }}}"
      - when: body.as = 'json'
        steps:
          - { id: json, respond: { body: { hello: "{{ body.name }}" } } }
      - else:
          - { id: text, respond: { headers: { content-type: text/plain }, body: "Hello {{ body.name }}" } }
`,
};

const SCRIPT = '<script>alert("x")</script>';
const ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;';

let engine: TestEngine;
let smtp: TestSmtpServer;

beforeAll(async () => {
  smtp = await startSmtpServer();
  const channels = `channels:\n  email: { driver: smtp, url: "${smtp.url()}", from: bookings@example.com }\n`;
  engine = await startTestEngine(FLOWS, channels);
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  await smtp?.close();
});

const logs = async (flow: string) => (await engine.admin(`/api/logs?flow=${flow}&limit=10`)).body.entries as Record<string, unknown>[];

describe('regular expressions from flows', () => {
  it('refuses a flow whose regex backtracks catastrophically, at its file:line:col, and serves the others', async () => {
    const files = (await engine.admin('/api/flows')).body as { file: string; status: string; lastError: string | null }[];
    const file = files.find((f) => f.file.endsWith('regex.yaml'))!;
    expect(file.status).toBe('failed');
    const line = REGEX_FLOW.split('\n').findIndex((l) => l.includes('/^(a+)+$/'));
    const col = REGEX_FLOW.split('\n')[line].indexOf('a+)+') + 1; // the repeat inside the repeat
    expect(file.lastError).toContain(`regex.yaml:${line + 1}:${col} steps[0].branch[0].when:`);
    expect(file.lastError).toContain('regular expression /^(a+)+$/ can take exponential time (catastrophic backtracking)');
    expect((await engine.request('/hooks/regex', { json: { s: `${'a'.repeat(29)}!` } })).status).toBe(404);
    expect((await engine.request('/hooks/pad', { json: { width: 3 } })).body).toEqual({ length: 3 });
  });

  it('refuses, when it runs, a catastrophic regex that a caller slips in through $eval', async () => {
    const started = Date.now();
    const res = await engine.request('/hooks/evaluate', { json: { expression: `$contains("${'a'.repeat(29)}!", /^(a+)+$/)` } });
    expect(res.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(1_000); // the check, not 2 s of backtracking
    expect(String((await logs('evaluate'))[0].reason)).toContain('regular expression /^(a+)+$/ can take exponential time');
    expect((await engine.request('/hooks/evaluate', { json: { expression: '$contains("abc", /b+/)' } })).body).toEqual({ value: true });
  });
});

describe('the regex check', () => {
  const refused = (pattern: string) => {
    try {
      compileExpression(`$contains(body.s, /${pattern}/)`);
      return undefined;
    } catch (err) {
      return (err as Error & { code?: string }).code;
    }
  };

  it('refuses a repeat inside a repeat, overlapping alternatives under a repeat, and backreferences', () => {
    for (const pattern of ['^(a+)+$', '(\\w+\\s?)*$', '(x+x+)+y', '(a|a)*', '(\\d+|\\w+)+', '^(([a-z])+.)+[A-Z]([a-z])+$', '(\\s*,\\s*)+', '(.*)\\1']) {
      expect(refused(pattern), pattern).toBe('UnsafeRegex');
    }
  });

  it('accepts the patterns flows write every day', () => {
    const everyday = ['^\\d{3}-\\d{4}$', '\\s*,\\s*', '^[\\w.+-]+@([\\w-]+\\.)+\\w+$', '^(\\+?\\d{1,3})?[\\s-]?\\d+$', '(\\d{1,3}\\.){3}\\d{1,3}', '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$', '^(?:[^<>]|<br>)*$', '^(ab|cd)+$', 'order-(\\d+)'];
    for (const pattern of everyday) expect(refused(pattern), pattern).toBeUndefined();
  });
});

describe('the raw form', () => {
  it('is the same as {{ }} outside HTML, and an unclosed one says what to add', async () => {
    const scope = { body: { name: '<b>Ann</b>' } };
    expect(await compileTemplate('Hi {{{ body.name }}} {{ body.name }}')(scope)).toBe('Hi <b>Ann</b> <b>Ann</b>');
    expect(await compileTemplate('{{ body.name }}', [], undefined, [], 'html')(scope)).toBe('&lt;b&gt;Ann&lt;/b&gt;');
    expect(await compileTemplate('{{{ body.name }}}', [], undefined, [], 'html')(scope)).toBe('<b>Ann</b>');
    const problems: TemplateProblem[] = [];
    compileTemplate('Hi {{{ body.name }}', problems);
    expect(problems).toEqual([{ path: [], message: 'template "{{{ body.name }}" is not closed: add "}}}"' }]);
  });
});

describe('what one evaluation may cost', () => {
  it('fails a $pad to 50,000,000 characters at once, says why in the log, and /healthz answers meanwhile', async () => {
    const started = Date.now();
    const [padded, health] = await Promise.all([engine.request('/hooks/pad', { json: { width: 50_000_000 } }), engine.request('/healthz')]);
    expect(padded.status).toBe(500);
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000); // it took 4 s and 1 GB before the cap
    const [entry] = await logs('pad');
    expect(entry).toMatchObject({ outcome: 'failed', status: 500 });
    expect(String(entry.reason)).toContain('value too large: $pad would make a string of 50,000,000 characters');
    expect((await engine.request('/hooks/pad', { json: { width: 1_000_000 } })).body).toEqual({ length: 1_000_000 }); // the cap itself passes
  });

  it('stops a long loop of built-in calls at the time limit, and lets /healthz in while it runs', async () => {
    // the engine runs in this process: while an evaluation holds the event loop, not even this test's timer fires
    const started = Date.now();
    let loopAnsweredAt = 0;
    const looping = engine.request('/hooks/loop', { json: {} }).then((res) => ((loopAnsweredAt = Date.now()), res));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const healthAt: number[] = [];
    while (loopAnsweredAt === 0 && healthAt.length < 50) {
      expect((await engine.request('/healthz')).status).toBe(200);
      healthAt.push(Date.now());
    }
    const res = await looping;
    expect(res.status).toBe(500);
    expect(String((await logs('loop'))[0].reason)).toContain('expression ran longer than the limit');
    // without turns of its own, the loop held the event loop for its whole second; it hands it back every 10 ms
    expect(healthAt[0] - started).toBeLessThan(600);
    expect(healthAt.filter((at) => at < loopAnsweredAt).length).toBeGreaterThanOrEqual(3);
  });
});

describe('templates in HTML contexts', () => {
  it("escapes a caller's markup in an e-mail's html, keeps the raw form {{{ }}} as written, and the text as it is", async () => {
    const res = await engine.request('/hooks/mail', { json: { email: 'ann@example.com', name: SCRIPT, footer: '<b>Bookings</b> &amp; more' } });
    expect(res.status).toBe(200);
    const mail = await smtp.nextMail();
    expect(mail.parsed.html).toBe(`<p>Hi ${ESCAPED}, your booking is confirmed.</p><footer><b>Bookings</b> &amp; more</footer>`);
    expect(mail.parsed.text?.trim()).toBe(`Hi ${SCRIPT}, your booking is confirmed.`);
    expect(mail.parsed.subject).toBe(`Booking for ${SCRIPT}`);
  });

  it('escapes a text/html answer, with the raw form as written; JSON and plain text answers stay as they are', async () => {
    const html = await engine.request('/hooks/page', { json: { as: 'html', name: SCRIPT, banner: '<hr>' } });
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.text).toBe(`<h1>Hello ${ESCAPED}</h1><hr>`);
    expect((await engine.request('/hooks/page', { json: { as: 'json', name: SCRIPT } })).body).toEqual({ hello: SCRIPT });
    const text = await engine.request('/hooks/page', { json: { as: 'text', name: SCRIPT } });
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text.text).toBe(`Hello ${SCRIPT}`);
    const ack = await engine.request('/hooks/ack', { json: { name: SCRIPT } }); // an async flow's immediate answer
    expect([ack.status, ack.text]).toEqual([202, `<p>Thanks, ${ESCAPED}</p>`]);
  });
});
