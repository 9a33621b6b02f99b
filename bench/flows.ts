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
