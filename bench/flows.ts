/** The benchmark flows: the same logic as the bare server, written as flow files (sync and async). */
const PARAMS = `  params:
    name: body.name
    phone: body.phone
    payer: body.payment[0].name
    total: $sum(body.payment.amount)`;

export const SYNC_FLOW = `version: 1
id: bench-sync
trigger:
  path: /bench-sync
${PARAMS}
mode: sync
steps:
  - id: decide
    branch:
      - when: vars.total > 100
        steps:
          - id: big
            respond: { body: { tier: big, name: "{{ vars.name }}", phone: "{{ vars.phone }}", payer: "{{ vars.payer }}", total: "{{ vars.total }}" } }
      - else:
          - id: small
            respond: { body: { tier: small, name: "{{ vars.name }}", phone: "{{ vars.phone }}", payer: "{{ vars.payer }}", total: "{{ vars.total }}" } }
`;

export const ASYNC_FLOW = `version: 1
id: bench-async
trigger:
  path: /bench-async
${PARAMS}
mode: async
response:
  status: 202
  body: { accepted: true, name: "{{ vars.name }}", total: "{{ vars.total }}" }
steps:
  - id: decide
    branch:
      - when: vars.total > 100
        steps:
          - id: big
            set: { tier: big }
      - else:
          - id: small
            set: { tier: small }
`;

export const PAYLOAD = JSON.stringify({
  name: 'Ann Lee',
  phone: '+14155552671',
  email: 'ann@example.com',
  payment: [
    { name: 'Ann Lee', amount: 80 },
    { name: 'Bob Lee', amount: 45.5 },
  ],
  products: [{ title: 'Deluxe room' }, { title: 'Breakfast' }],
});

/** the other branch (total ≤ 100): used once per server to check the answers match, not loaded */
export const SMALL_PAYLOAD = JSON.stringify({
  name: 'Cy Doe',
  phone: '+442071838750',
  payment: [{ name: 'Cy Doe', amount: 60 }, { name: 'Di Doe', amount: 40 }],
});

/**
 * The real-payload rows' logic (bench/payloads.ts has the bodies): three params each, the same for the sync and the
 * async flow and for the bare server's routes (bench/servers/bare.ts builds them from this too).
 */
export interface RealPayloadLogic {
  key: 'push' | 'stripe' | '64k';
  /** variable name to JSONata, as a flow's trigger.params */
  params: Record<string, string>;
  /** the async flow's one `set` step: `summary` from the params */
  summary: string;
}

export const REAL_PAYLOAD_LOGIC: RealPayloadLogic[] = [
  { key: 'push', params: { repo: 'body.repository.full_name', pusher: 'body.pusher.name', commits: '$count(body.commits)' }, summary: '{{ vars.pusher }} pushed {{ vars.commits }} commits to {{ vars.repo }}' },
  { key: 'stripe', params: { type: 'body.type', amount: 'body.data.object.amount', currency: 'body.data.object.currency' }, summary: '{{ vars.type }}: {{ vars.amount }} {{ vars.currency }}' },
  { key: '64k', params: { deliveries: '$count(body)', repo: 'body[0].repository.full_name', actions: '$count(body.action)' }, summary: '{{ vars.deliveries }} deliveries for {{ vars.repo }}' },
];

const templated = (logic: RealPayloadLogic) => Object.keys(logic.params).map((name) => `${name}: "{{ vars.${name} }}"`).join(', ');
const trigger = (logic: RealPayloadLogic, mode: 'sync' | 'async') => `version: 1
id: bench-${logic.key}-${mode}
trigger:
  path: /bench-${logic.key}-${mode}
  params:
${Object.entries(logic.params).map(([name, expr]) => `    ${name}: ${expr}`).join('\n')}
mode: ${mode}
`;

/** answers the params with a `respond` (200): the bare server's sync route answers the same */
export const realSyncFlow = (logic: RealPayloadLogic) => `${trigger(logic, 'sync')}steps:
  - id: answer
    respond: { body: { ${templated(logic)} } }
`;

/** answers 202 with the params at once, then runs one `set` step */
export const realAsyncFlow = (logic: RealPayloadLogic) => `${trigger(logic, 'async')}response:
  status: 202
  body: { accepted: true, ${templated(logic)} }
steps:
  - id: summarise
    set: { summary: "${logic.summary}" }
`;
