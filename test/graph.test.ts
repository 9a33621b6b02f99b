import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHooks } from './support/cli.ts';
import { scratchDir } from './support/files.ts';

const TRIAGE = `version: 1
id: triage
trigger:
  path: /triage
  methods: [POST, PUT]
  auth: { basic: { username: "\${env:TRIAGE_USER}", password: "\${env:TRIAGE_PASS}" } }
identify: { phone: body.phone, onUnidentified: continue }
map: { first_name: body.name, vip: body.tier = "gold" }
mode: sync
steps:
  - id: score
    http: { method: POST, url: "https://score.example.com/v1/{{ vars.kind }}" }
  - id: route
    branch:
      - when: steps.score.body.value > 80 and body.tags[0] = "vip"
        steps:
          - id: inner
            branch:
              - when: $exists(contact.phone)
                steps:
                  - id: text-vip
                    send: { channel: sms, to: "{{ contact.phone }}", text: Hi }
          - id: ok
            respond: { status: 200, body: { vip: true } }
      - when: body.spam
        steps:
          - id: drop
            stop: { reason: spam }
      - else:
          - id: later
            respond: { status: 202 }
  - id: log
    set: { done: true }
`;

describe('hooks graph', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    dir = await scratchDir('hooks-graph-');
    await dir.write('hooks.config.yaml', 'server: { basePath: /hooks }\nflows: { dir: flows }\n');
    await dir.write('flows/triage.yaml', TRIAGE);
    await dir.write('flows/small.yaml', 'version: 1\nid: small\ntrigger: { path: /small }\nresponse: { status: 202 }\nsteps:\n  - id: note\n    set: { seen: true }\n');
    await dir.write('elsewhere/broken.yaml', 'version: 1\nid: broken\ntrigger: { pth: /x }\n');
  });
  afterAll(() => dir.remove());

  it('draws a flow with nested branches as Mermaid that GitHub renders as it is', async () => {
    const result = await runHooks(['graph', 'triage'], { cwd: dir.dir });
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toBe(
      [
        'flowchart TD',
        '  trigger(["triage<br/>POST, PUT /hooks/triage<br/>auth: basic<br/>sync: answers when a respond step runs"])',
        '  identify["identify contact<br/>phone: body.phone<br/>unidentified: continue"]',
        '  map["map contact fields<br/>first_name, vip"]',
        '  s1["score<br/>POST https://score.example.com/v1/#123;#123; vars.kind #125;#125;"]',
        '  s2{"route"}',
        '  s3{"inner"}',
        '  s4["text-vip<br/>send sms to #123;#123; contact.phone #125;#125;"]',
        '  s5("ok<br/>respond 200")',
        '  s6(["drop<br/>stop<br/>spam"])',
        '  s7("later<br/>respond 202")',
        '  s8["log<br/>set done"]',
        '  done(["end"])',
        '  trigger --> identify',
        '  identify --> map',
        '  map --> s1',
        '  s1 --> s2',
        '  s2 -->|"steps.score.body.value #gt; 80 and body.tags#91;0#93; = #quot;vip#quot;"| s3',
        '  s3 -->|"$exists(contact.phone)"| s4',
        '  s4 --> s5',
        '  s3 -->|"otherwise"| s5',
        '  s2 -->|"body.spam"| s6',
        '  s2 -->|"else"| s7',
        '  s5 --> s8',
        '  s7 --> s8',
        '  s8 --> done',
      ].join('\n'),
    );
  });

  it('draws the same flow as Graphviz dot, and takes a file path as well as an id', async () => {
    const result = await runHooks(['graph', 'flows/triage.yaml', '--format', 'dot'], { cwd: dir.dir });
    expect(result.code).toBe(0);
    expect(result.out).toBe(
      [
        'digraph "triage" {',
        '  node [fontname="Helvetica"];',
        '  edge [fontname="Helvetica"];',
        '  trigger [label="triage\\nPOST, PUT /hooks/triage\\nauth: basic\\nsync: answers when a respond step runs", shape=oval];',
        '  identify [label="identify contact\\nphone: body.phone\\nunidentified: continue", shape=box];',
        '  map [label="map contact fields\\nfirst_name, vip", shape=box];',
        '  s1 [label="score\\nPOST https://score.example.com/v1/{{ vars.kind }}", shape=box];',
        '  s2 [label="route", shape=diamond];',
        '  s3 [label="inner", shape=diamond];',
        '  s4 [label="text-vip\\nsend sms to {{ contact.phone }}", shape=box];',
        '  s5 [label="ok\\nrespond 200", shape=box, style=rounded];',
        '  s6 [label="drop\\nstop\\nspam", shape=oval];',
        '  s7 [label="later\\nrespond 202", shape=box, style=rounded];',
        '  s8 [label="log\\nset done", shape=box];',
        '  done [label="end", shape=oval];',
        '  trigger -> identify;',
        '  identify -> map;',
        '  map -> s1;',
        '  s1 -> s2;',
        '  s2 -> s3 [label="steps.score.body.value > 80 and body.tags[0] = \\"vip\\""];',
        '  s3 -> s4 [label="$exists(contact.phone)"];',
        '  s4 -> s5;',
        '  s3 -> s5 [label="otherwise"];',
        '  s2 -> s6 [label="body.spam"];',
        '  s2 -> s7 [label="else"];',
        '  s5 -> s8;',
        '  s7 -> s8;',
        '  s8 -> done;',
        '}',
      ].join('\n'),
    );
  });

  it('shows an async flow answering at once, without identify or map', async () => {
    const result = await runHooks(['graph', 'small'], { cwd: dir.dir });
    expect(result.out).toBe(
      [
        'flowchart TD',
        '  trigger(["small<br/>POST /hooks/small<br/>auth: none<br/>async: answers 202 at once"])',
        '  s1["note<br/>set seen"]',
        '  done(["end"])',
        '  trigger --> s1',
        '  s1 --> done',
      ].join('\n'),
    );
  });

  it('gives a clear error and exit 2 for an unknown flow id or file, and exit 1 for a broken file', async () => {
    expect(await runHooks(['graph', 'triag'], { cwd: dir.dir })).toEqual({ code: 2, out: '', err: 'hooks graph: no flow with id "triag" in flows; flows there: small, triage' });
    expect(await runHooks(['graph', 'flows/nope.yaml'], { cwd: dir.dir })).toEqual({ code: 2, out: '', err: 'hooks graph: no such file: flows/nope.yaml' });
    expect(await runHooks(['graph'], { cwd: dir.dir })).toMatchObject({ code: 2, err: 'hooks graph: give one flow id or flow file, e.g. hooks graph booking-confirmation' });
    expect(await runHooks(['graph', 'triage', '--format', 'png'], { cwd: dir.dir })).toMatchObject({ code: 2, err: 'hooks graph: --format must be one of mermaid, dot' });
    const broken = await runHooks(['graph', 'elsewhere/broken.yaml'], { cwd: dir.dir });
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/^elsewhere\/broken\.yaml:3:\d+ trigger\.pth: unknown property "pth"/);
  });
});
