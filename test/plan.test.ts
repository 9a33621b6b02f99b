import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(() => Promise.all(cleanups.map((c) => c())));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Plan Test', '-c', 'user.email=plan@test.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' }).trim();
}

/**
 * A scratch repository: `base` committed on main, then the working tree changed by `head` (a file's new text, or
 * null to delete it). Returns the folder and the base commit.
 */
async function repo(base: Record<string, string>, head: Record<string, string | null>): Promise<{ dir: string; commit: string; write(name: string, text: string): Promise<string> }> {
  const scratch = await scratchDir('hooks-plan-');
  cleanups.push(scratch.remove);
  git(scratch.dir, 'init', '-q', '-b', 'main');
  for (const [name, text] of Object.entries(base)) await scratch.write(name, text);
  git(scratch.dir, 'add', '-A');
  git(scratch.dir, 'commit', '-q', '-m', 'base');
  const commit = git(scratch.dir, 'rev-parse', 'HEAD');
  for (const [name, text] of Object.entries(head)) {
    if (text === null) await rm(join(scratch.dir, name));
    else await scratch.write(name, text);
  }
  return { dir: scratch.dir, commit, write: scratch.write };
}

async function plan(dir: string, args: string[] = [], env: Record<string, string> = {}) {
  return runHooks(['plan', ...args], { cwd: dir, env });
}

async function planJson(dir: string, args: string[] = ['--base', 'main'], env: Record<string, string> = {}) {
  const result = await plan(dir, ['--format', 'json', ...args], env);
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.out);
}

const flow = (id: string, rest = '') => `version: 1\nid: ${id}\n${rest.includes('trigger:') ? '' : 'trigger: {}\n'}${rest}`;

describe('hooks plan', () => {
  it('shows routes added, removed and moved, matching flows by id', async () => {
    const r = await repo(
      { 'flows/gone.yaml': flow('gone', 'trigger: { path: /gone }\n'), 'flows/moving.yaml': flow('moving', 'trigger: { path: /old }\n'), 'flows/same.yaml': flow('same') },
      { 'flows/gone.yaml': null, 'flows/moving.yaml': flow('moving', 'trigger: { path: /new }\n'), 'flows/fresh.yaml': flow('fresh') },
    );
    expect(await planJson(r.dir)).toEqual({
      base: { ref: 'main', commit: r.commit },
      flowsDir: 'flows',
      summary: { added: 1, removed: 1, changed: 1, unchanged: 1 },
      flows: [
        {
          id: 'fresh',
          status: 'added',
          file: 'flows/fresh.yaml',
          changes: [
            { kind: 'route', before: null, after: '/hooks/fresh' },
            { kind: 'methods', before: null, after: ['POST'] },
            { kind: 'auth', before: null, after: {} },
            { kind: 'mode', before: null, after: 'async' },
            { kind: 'response', before: null, after: { status: 200, headers: {}, body: 'ok' }, diff: [{ path: 'status', after: 200 }, { path: 'body', after: 'ok' }] },
          ],
        },
        {
          id: 'gone',
          status: 'removed',
          file: 'flows/gone.yaml',
          changes: [
            { kind: 'route', before: '/hooks/gone', after: null },
            { kind: 'methods', before: ['POST'], after: null },
            { kind: 'auth', before: {}, after: null },
          ],
        },
        { id: 'moving', status: 'changed', file: 'flows/moving.yaml', changes: [{ kind: 'route', before: '/hooks/old', after: '/hooks/new' }] },
      ],
      problems: [],
    });

    const text = await plan(r.dir, ['--base', 'main']);
    expect(text.code).toBe(0);
    expect(text.out.split('\n')).toEqual([
      `hooks plan: flows at main (${r.commit.slice(0, 7)}) → working tree`,
      '1 added, 1 removed, 1 changed, 1 unchanged',
      '',
      '+ fresh (flows/fresh.yaml): added',
      '    route: /hooks/fresh',
      '    methods: POST',
      '    auth: none',
      '    mode: async',
      '    response: 200 "ok"',
      '',
      '- gone (flows/gone.yaml): removed',
      '    route: /hooks/gone',
      '    methods: POST',
      '    auth: none',
      '',
      '~ moving (flows/moving.yaml): changed',
      '    route: /hooks/old → /hooks/new',
    ]);

    const md = await plan(r.dir, ['--base', 'main', '--format', 'markdown']);
    expect(md.code).toBe(0);
    const lines = md.out.split('\n');
    expect(lines[0]).toBe('## hooks plan');
    expect(lines).toContain(`Flows in \`flows\` at main (\`${r.commit.slice(0, 7)}\`) compared with this change: **1 added, 1 removed, 1 changed**, 1 unchanged.`);
    expect(lines).toContain('### ➕ `fresh` added');
    expect(lines).toContain('### ➖ `gone` removed');
    expect(lines).toContain('### ✏️ `moving` changed');
    expect(lines).toContain('- **route:** `/hooks/old` → `/hooks/new`');
    expect(lines).toContain('- **auth:** none');
  });

  it('treats a renamed file that keeps its id as a move, not a removal and an addition', async () => {
    const body = 'trigger: { path: /orders }\nsteps:\n  - id: note\n    set: { seen: true }\n';
    const r = await repo({ 'flows/orders.yaml': flow('orders', body), 'flows/other.yaml': flow('other') }, {
      'flows/orders.yaml': null,
      'flows/partners/orders-v1.yaml': flow('orders', body),
      'flows/other.yaml': null,
      'flows/renamed-other.yaml': flow('other', 'trigger: { path: /other-now }\n'),
    });
    const report = await planJson(r.dir);
    expect(report.summary).toEqual({ added: 0, removed: 0, changed: 2, unchanged: 0 });
    expect(report.flows).toEqual([
      { id: 'orders', status: 'changed', file: 'flows/partners/orders-v1.yaml', changes: [{ kind: 'file', before: 'flows/orders.yaml', after: 'flows/partners/orders-v1.yaml' }] },
      {
        id: 'other',
        status: 'changed',
        file: 'flows/renamed-other.yaml',
        changes: [
          { kind: 'file', before: 'flows/other.yaml', after: 'flows/renamed-other.yaml' },
          { kind: 'route', before: '/hooks/other', after: '/hooks/other-now' },
        ],
      },
    ]);
    const text = await plan(r.dir, ['--base', 'main']);
    expect(text.out).toContain('~ orders (flows/partners/orders-v1.yaml): changed\n    file: flows/orders.yaml → flows/partners/orders-v1.yaml\n');
  });

  it('shows methods changed', async () => {
    const r = await repo({ 'flows/m.yaml': flow('m', 'trigger: { methods: [POST] }\n') }, { 'flows/m.yaml': flow('m', 'trigger: { methods: [POST, PUT] }\n') });
    expect((await planJson(r.dir)).flows).toEqual([{ id: 'm', status: 'changed', file: 'flows/m.yaml', changes: [{ kind: 'methods', before: ['POST'], after: ['POST', 'PUT'] }] }]);
    expect((await plan(r.dir, ['--base', 'main'])).out).toContain('\n    methods: POST → POST, PUT');
    expect((await plan(r.dir, ['--base', 'main', '--format', 'markdown'])).out).toContain('\n- **methods:** `POST` → `POST, PUT`');
  });

  describe('auth', () => {
    const secrets = { ON_USER: 'on-user-VALUE', ON_PASS: 'on-pass-VALUE', OFF_TOKEN: 'off-token-VALUE', GH_SECRET: 'gh-secret-VALUE', ORDERS_PASS: 'orders-pass-VALUE', U: 'u-VALUE', P: 'p-VALUE' };
    const base = {
      'flows/on.yaml': flow('on'),
      'flows/off.yaml': flow('off', 'trigger:\n  auth: { token: "${env:OFF_TOKEN}" }\n'),
      'flows/changed.yaml': flow('changed', 'trigger:\n  auth: { basic: { username: partner, password: "${env:ORDERS_PASS:-change-me}" } }\n'),
      'flows/hidden.yaml': flow('hidden', 'trigger:\n  auth: { basic: { username: "${env:U}", password: "${env:P:-old-default}" } }\n'),
    };
    const head = {
      'flows/on.yaml': flow('on', 'trigger:\n  auth: { basic: { username: "${env:ON_USER}", password: "${env:ON_PASS}" } }\n'),
      'flows/off.yaml': flow('off'),
      'flows/changed.yaml': flow('changed', 'trigger:\n  auth: { signature: { preset: github, secret: "${env:GH_SECRET}" } }\n'),
      'flows/hidden.yaml': flow('hidden', 'trigger:\n  auth: { basic: { username: "${env:U}", password: "${env:P:-new-default}" } }\n'),
    };

    it('shows auth turned on, off and changed with ${env:} references, never a value', async () => {
      const r = await repo(base, head);
      const report = await planJson(r.dir, ['--base', 'main'], secrets);
      expect(report.flows).toEqual([
        {
          id: 'changed',
          status: 'changed',
          file: 'flows/changed.yaml',
          changes: [{ kind: 'auth', before: { basic: { username: '***', password: '${env:ORDERS_PASS:-***}' } }, after: { signature: { preset: 'github', secrets: ['${env:GH_SECRET}'] } } }],
        },
        {
          id: 'hidden',
          status: 'changed',
          file: 'flows/hidden.yaml',
          changes: [{ kind: 'auth', before: { basic: { username: '${env:U}', password: '${env:P:-***}' } }, after: { basic: { username: '${env:U}', password: '${env:P:-***}' } } }],
        },
        { id: 'off', status: 'changed', file: 'flows/off.yaml', changes: [{ kind: 'auth', before: { token: '${env:OFF_TOKEN}' }, after: {} }] },
        { id: 'on', status: 'changed', file: 'flows/on.yaml', changes: [{ kind: 'auth', before: {}, after: { basic: { username: '${env:ON_USER}', password: '${env:ON_PASS}' } } }] },
      ]);

      const text = await plan(r.dir, ['--base', 'main'], secrets);
      const lines = text.out.split('\n');
      expect(lines).toContain('    auth turned on: basic (username ${env:ON_USER}, password ${env:ON_PASS})');
      expect(lines).toContain('    auth turned off: was token ${env:OFF_TOKEN}');
      expect(lines).toContain('    auth changed: basic (username ***, password ${env:ORDERS_PASS:-***}) → signature github (secret ${env:GH_SECRET})');
      expect(lines).toContain('    auth changed: basic (username ${env:U}, password ${env:P:-***}) (a value that is not shown changed)');

      const md = await plan(r.dir, ['--base', 'main', '--format', 'markdown'], secrets);
      expect(md.out.split('\n')).toContain('- **auth turned on:** basic (username `${env:ON_USER}`, password `${env:ON_PASS}`)');

      for (const out of [text.out, md.out, JSON.stringify(report)]) {
        // neither a value from the environment nor a literal or default written in the file
        expect(out).not.toMatch(/VALUE|partner|change-me|old-default|new-default/);
      }
    });
  });

  it('shows the mode and the immediate response changing', async () => {
    const r = await repo(
      { 'flows/mode.yaml': flow('mode', 'mode: async\n'), 'flows/answer.yaml': flow('answer') },
      {
        'flows/mode.yaml': flow('mode', 'mode: sync\nsteps:\n  - id: reply\n    respond: { status: 201 }\n'),
        'flows/answer.yaml': flow('answer', 'response:\n  status: 202\n  headers: { x-id: "{{ vars.id }}" }\n  body: { accepted: true }\n'),
      },
    );
    const report = await planJson(r.dir);
    expect(report.flows).toEqual([
      {
        id: 'answer',
        status: 'changed',
        file: 'flows/answer.yaml',
        changes: [
          {
            kind: 'response',
            before: { status: 200, headers: {}, body: 'ok' },
            after: { status: 202, headers: { 'x-id': '{{ vars.id }}' }, body: { accepted: true } },
            diff: [
              { path: 'status', before: 200, after: 202 },
              { path: 'body', before: 'ok' },
              { path: 'headers["x-id"]', after: '{{ vars.id }}' },
              { path: 'body.accepted', after: true },
            ],
          },
        ],
      },
      {
        id: 'mode',
        status: 'changed',
        file: 'flows/mode.yaml',
        changes: [
          { kind: 'mode', before: 'async', after: 'sync' },
          { kind: 'response', before: { status: 200, headers: {}, body: 'ok' }, after: null, diff: [{ path: 'status', before: 200 }, { path: 'body', before: 'ok' }] },
          { kind: 'step', change: 'added', id: 'reply', type: 'respond', where: null, summary: 'respond 201', diff: [{ path: 'respond.status', after: 201 }] },
        ],
      },
    ]);
    const text = await plan(r.dir, ['--base', 'main']);
    expect(text.out).toContain(
      ['~ answer (flows/answer.yaml): changed', '    response:', '      ~ status: 200 → 202', '      - body: "ok"', '      + headers["x-id"]: "{{ vars.id }}"', '      + body.accepted: true'].join('\n'),
    );
    expect(text.out).toContain(
      ['~ mode (flows/mode.yaml): changed', '    mode: async → sync', '    response: 200 "ok" → answered by respond steps (sync)', '    + step reply added: respond 201', '        + respond.status: 201'].join('\n'),
    );
    const md = await plan(r.dir, ['--base', 'main', '--format', 'markdown']);
    expect(md.out).toContain(['```diff', '@@ response @@', '- status: 200', '+ status: 202', '- body: "ok"', '+ headers["x-id"]: "{{ vars.id }}"', '+ body.accepted: true', '```'].join('\n'));
    expect(md.out).toContain('- **mode:** `async` → `sync`\n- **response:** `200 "ok"` → answered by respond steps (sync)');
  });

  it('shows steps added, removed and changed with a compact diff, and the URLs and channels called', async () => {
    const baseSteps = `steps:
  - id: lookup
    http: { url: "https://api.example.com/v1/customers/{{ vars.id }}", headers: { Authorization: "Bearer \${env:API_TOKEN}" } }
  - id: route
    branch:
      - when: steps.lookup.ok
        steps:
          - id: greet
            send: { channel: sms, to: "{{ contact.phone }}", text: Hello }
      - else:
          - id: fallback
            set: { tier: unknown }
  - id: audit
    http: { method: POST, url: "https://audit.example.com/events" }
`;
    const headSteps = `steps:
  - id: lookup
    http: { url: "https://api.example.com/v2/customers/{{ vars.id }}", headers: { Authorization: "Bearer \${env:API_TOKEN}" }, timeout: 5s }
  - id: route
    branch:
      - when: steps.lookup.ok and vars.vip
        steps:
          - id: greet
            send: { channel: sms, to: "{{ contact.phone }}", text: Hello }
          - id: mail
            send: { channel: email, to: "{{ contact.email }}", subject: Welcome }
      - else:
          - id: fallback
            set: { tier: unknown }
`;
    const r = await repo({ 'flows/crm.yaml': flow('crm', baseSteps) }, { 'flows/crm.yaml': flow('crm', headSteps) });
    const report = await planJson(r.dir, ['--base', 'main'], { API_TOKEN: 'token-VALUE' });
    expect(report.flows).toEqual([
      {
        id: 'crm',
        status: 'changed',
        file: 'flows/crm.yaml',
        changes: [
          {
            kind: 'step',
            change: 'changed',
            id: 'lookup',
            type: 'http',
            where: null,
            summary: 'GET https://api.example.com/v2/customers/{{ vars.id }}',
            diff: [
              { path: 'http.url', before: 'https://api.example.com/v1/customers/{{ vars.id }}', after: 'https://api.example.com/v2/customers/{{ vars.id }}' },
              { path: 'http.timeout', after: '5s' },
            ],
          },
          {
            kind: 'step',
            change: 'changed',
            id: 'route',
            type: 'branch',
            where: null,
            summary: 'branch when steps.lookup.ok and vars.vip | else',
            diff: [{ path: 'branch[0].when', before: 'steps.lookup.ok', after: 'steps.lookup.ok and vars.vip' }],
          },
          {
            kind: 'step',
            change: 'added',
            id: 'mail',
            type: 'send',
            where: 'route: when steps.lookup.ok and vars.vip',
            summary: 'send email to {{ contact.email }}',
            diff: [
              { path: 'send.channel', after: 'email' },
              { path: 'send.to', after: '{{ contact.email }}' },
              { path: 'send.subject', after: 'Welcome' },
            ],
          },
          {
            kind: 'step',
            change: 'removed',
            id: 'audit',
            type: 'http',
            where: null,
            summary: 'POST https://audit.example.com/events',
            diff: [
              { path: 'http.method', before: 'POST' },
              { path: 'http.url', before: 'https://audit.example.com/events' },
            ],
          },
          {
            kind: 'urls',
            added: ['GET https://api.example.com/v2/customers/{{ vars.id }}'],
            removed: ['GET https://api.example.com/v1/customers/{{ vars.id }}', 'POST https://audit.example.com/events'],
            unchanged: [],
          },
          { kind: 'channels', added: ['email'], removed: [], unchanged: ['sms'] },
        ],
      },
    ]);

    const text = await plan(r.dir, ['--base', 'main'], { API_TOKEN: 'token-VALUE' });
    expect(text.out).not.toContain('token-VALUE');
    expect(text.out.split('\n').slice(3)).toEqual([
      '~ crm (flows/crm.yaml): changed',
      '    ~ step lookup changed: GET https://api.example.com/v2/customers/{{ vars.id }}',
      '        ~ http.url: "https://api.example.com/v1/customers/{{ vars.id }}" → "https://api.example.com/v2/customers/{{ vars.id }}"',
      '        + http.timeout: "5s"',
      '    ~ step route changed: branch when steps.lookup.ok and vars.vip | else',
      '        ~ branch[0].when: "steps.lookup.ok" → "steps.lookup.ok and vars.vip"',
      '    + step mail added: send email to {{ contact.email }} (in route: when steps.lookup.ok and vars.vip)',
      '        + send.channel: "email"',
      '        + send.to: "{{ contact.email }}"',
      '        + send.subject: "Welcome"',
      '    - step audit removed: POST https://audit.example.com/events',
      '    URLs called:',
      '      + GET https://api.example.com/v2/customers/{{ vars.id }}',
      '      - GET https://api.example.com/v1/customers/{{ vars.id }}',
      '      - POST https://audit.example.com/events',
      '    channels:',
      '      + email',
      '        sms',
    ]);

    const md = await plan(r.dir, ['--base', 'main', '--format', 'markdown']);
    expect(md.out).toContain(
      [
        '```diff',
        '@@ steps @@',
        '~ step lookup changed: GET https://api.example.com/v2/customers/{{ vars.id }}',
        '-    http.url: "https://api.example.com/v1/customers/{{ vars.id }}"',
        '+    http.url: "https://api.example.com/v2/customers/{{ vars.id }}"',
        '+    http.timeout: "5s"',
      ].join('\n'),
    );
    expect(md.out).toContain(['@@ channels @@', '+ email', '  sms', '```'].join('\n'));
  });

  it('shows a step that moves into another branch case or runs in another order', async () => {
    const r = await repo(
      { 'flows/order.yaml': flow('order', 'steps:\n  - id: a\n    set: { x: 1 }\n  - id: b\n    set: { y: 2 }\n  - id: c\n    branch:\n      - when: vars.x\n        steps:\n          - id: d\n            set: { z: 3 }\n') },
      { 'flows/order.yaml': flow('order', 'steps:\n  - id: b\n    set: { y: 2 }\n  - id: a\n    set: { x: 1 }\n  - id: c\n    branch:\n      - when: vars.x\n        steps:\n          - id: e\n            set: { z: 4 }\n  - id: d\n    set: { z: 3 }\n') },
    );
    const lines = (await plan(r.dir, ['--base', 'main'])).out.split('\n');
    expect(lines).toContain('    ~ step a runs in another order: set x');
    expect(lines).toContain('    ~ step d moved from c: when vars.x to top level: set z');
    expect(lines).not.toContain('    ~ step b runs in another order: set y');
  });

  it('shows contact fields written by map', async () => {
    const r = await repo(
      { 'flows/contact.yaml': flow('contact', 'map:\n  first_name: body.name\n  age: body.age\n  city: body.city\n') },
      { 'flows/contact.yaml': flow('contact', 'map:\n  first_name: body.first_name\n  city: body.city\n  vip: body.total > 100\n') },
    );
    expect((await planJson(r.dir)).flows[0].changes).toEqual([
      {
        kind: 'fields',
        diff: [
          { path: 'first_name', before: 'body.name', after: 'body.first_name' },
          { path: 'vip', after: 'body.total > 100' },
          { path: 'age', before: 'body.age' },
        ],
      },
    ]);
    expect((await plan(r.dir, ['--base', 'main'])).out).toContain(
      ['    contact fields written (map):', '      ~ first_name: body.name → body.first_name', '      + vip: body.total > 100', '      - age: body.age'].join('\n'),
    );
    expect((await plan(r.dir, ['--base', 'main', '--format', 'markdown'])).out).toContain(
      ['@@ contact fields written (map) @@', '- first_name: body.name', '+ first_name: body.first_name', '+ vip: body.total > 100', '- age: body.age'].join('\n'),
    );
  });

  it('reports files that do not parse without failing, and does not call their flows added or removed', async () => {
    const r = await repo(
      { 'flows/broken.yaml': 'version: 1\nid: broken\ntrigger: [oops\n', 'flows/ok.yaml': flow('ok'), 'flows/soon-broken.yaml': flow('soon-broken') },
      { 'flows/broken.yaml': flow('broken'), 'flows/ok.yaml': flow('ok', 'trigger: { methods: [PUT] }\n'), 'flows/soon-broken.yaml': flow('soon-broken', 'mood: sync\n') },
    );
    const report = await planJson(r.dir);
    expect(report.summary).toEqual({ added: 0, removed: 0, changed: 1, unchanged: 0 });
    expect(report.flows.map((f: { id: string }) => f.id)).toEqual(['ok']);
    expect(report.problems).toEqual([
      { side: 'base', file: 'flows/broken.yaml', line: 4, col: 1, path: '', message: expect.stringMatching(/^YAML syntax error/) },
      { side: 'head', file: 'flows/soon-broken.yaml', line: 4, col: 1, path: 'mood', message: expect.stringMatching(/^unknown property "mood"/) },
    ]);
    const text = await plan(r.dir, ['--base', 'main']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/\nfiles that could not be read \(not compared\):\n {2}! base flows\/broken\.yaml:4:1 YAML syntax error.*\n {2}! working tree flows\/soon-broken\.yaml:4:1 mood: unknown property "mood"/);
  });

  it('compares only the first of two files that claim one id, and says so', async () => {
    const r = await repo({ 'flows/a.yaml': flow('a') }, { 'flows/b.yaml': flow('a', 'trigger: { path: /b }\n') });
    const report = await planJson(r.dir);
    // flows/a.yaml is unchanged; the route /b of the second file is not reported as anything
    expect(report.flows).toEqual([]);
    expect(report.summary).toEqual({ added: 0, removed: 0, changed: 0, unchanged: 1 });
    expect(report.problems).toEqual([{ side: 'head', file: 'flows/b.yaml', line: 1, col: 1, path: 'id', message: 'flow id "a" is already used by flows/a.yaml; only that file is compared' }]);
  });

  it('compares with the merge base of HEAD and main by default, and reads the flows folder of the config', async () => {
    const config = 'server: { basePath: /in }\nflows: { dir: my-flows }\n';
    const r = await repo({ 'project/hooks.config.yaml': config, 'project/my-flows/a.yaml': flow('a') }, {});
    git(r.dir, 'checkout', '-q', '-b', 'feature');
    await r.write('project/my-flows/a.yaml', flow('a', 'trigger: { path: /a-v2 }\n'));
    git(r.dir, 'commit', '-q', '-am', 'feature work');
    git(r.dir, 'checkout', '-q', 'main');
    await r.write('project/my-flows/later.yaml', flow('later'));
    git(r.dir, 'add', '-A');
    git(r.dir, 'commit', '-q', '-m', 'main moves on');
    git(r.dir, 'checkout', '-q', 'feature');

    const byDefault = await planJson(r.dir, ['--config', 'project/hooks.config.yaml']);
    expect(byDefault.base).toEqual({ ref: 'merge-base of HEAD and main', commit: r.commit });
    expect(byDefault.flowsDir).toBe('project/my-flows');
    expect(byDefault.flows).toEqual([{ id: 'a', status: 'changed', file: 'project/my-flows/a.yaml', changes: [{ kind: 'route', before: '/in/a', after: '/in/a-v2' }] }]);

    // against main itself, the flow added on main since the branch point would be removed by this branch
    const againstMain = await planJson(r.dir, ['--config', 'project/hooks.config.yaml', '--base', 'main']);
    expect(againstMain.flows.map((f: { id: string; status: string }) => `${f.id} ${f.status}`)).toEqual(['a changed', 'later removed']);

    // run from inside the project folder, the config found there, git asked from there
    const inside = await runHooks(['plan', '--format', 'json'], { cwd: join(r.dir, 'project') });
    expect(JSON.parse(inside.out).flowsDir).toBe('project/my-flows');
  });

  it('exits 2 on a bad ref, outside a git repository, and on a bad format', async () => {
    const r = await repo({ 'flows/a.yaml': flow('a') }, {});
    expect(await plan(r.dir, ['--base', 'no-such-branch'])).toEqual({ code: 2, out: '', err: 'hooks plan: "no-such-branch" is not a commit, branch or tag in this repository' });
    expect(await plan(r.dir, ['--base=--output=x'])).toMatchObject({ code: 2 });
    expect(await plan(r.dir, ['--format', 'html'])).toEqual({ code: 2, out: '', err: 'hooks plan: --format must be one of text, markdown, json' });

    const outside = await scratchDir('hooks-plan-nogit-');
    cleanups.push(outside.remove);
    await outside.write('flows/a.yaml', flow('a'));
    const result = await plan(outside.dir);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^hooks plan: .* is not inside a git repository/);
  });

  it('keeps the markdown under the size of a GitHub comment, naming the flows left out', async () => {
    const head: Record<string, string> = {};
    const path = 'x'.repeat(400);
    for (let i = 0; i < 100; i++) head[`flows/f${String(i).padStart(3, '0')}.yaml`] = flow(`f${String(i).padStart(3, '0')}`, `steps:\n  - id: call\n    http: { url: "https://api.example.com/${path}/${i}" }\n`);
    const r = await repo({ 'flows/keep.yaml': flow('keep') }, head);
    const md = await plan(r.dir, ['--base', 'main', '--format', 'markdown']);
    expect(md.out.length).toBeLessThan(65_536);
    expect(md.out).toContain('### ➕ `f000` added');
    expect(md.out).toMatch(/\n…and \d+ more changed flows \(`f0\d\d`, .*, …\): too long for one comment; run `hooks plan` for the whole plan\.$/);
    // the text and json outputs are never cut
    expect((await plan(r.dir, ['--base', 'main'])).out).toContain('+ f099 (flows/f099.yaml): added');
  });

  it('says so when nothing changes for the outside world', async () => {
    const r = await repo({ 'flows/a.yaml': flow('a', 'description: old words\n') }, { 'flows/a.yaml': flow('a', 'description: new words\ntests:\n  - name: still fine\n') });
    const text = await plan(r.dir, ['--base', 'main']);
    expect(text.code).toBe(0);
    expect(text.out.split('\n').slice(1)).toEqual(['0 added, 0 removed, 0 changed, 1 unchanged', '', 'no changes to routes, auth, responses, steps or calls']);
  });
});
