/**
 * The ceiling: a bare Fastify server doing by hand what the benchmark flow does (extract name, phone,
 * payment[0].name and the sum of payment.amount with JSONata, branch on the sum, answer JSON). No log, no storage.
 * For the real-payload rows, POST /<payload>/sync and /<payload>/async do what bench/flows.ts's real-payload flows do:
 * the same params with JSONata (compiled once), answered 200 (sync) or 202 with `accepted: true` (async).
 */
import Fastify from 'fastify';
import jsonata from 'jsonata';
import { REAL_PAYLOAD_LOGIC } from '../flows.ts';

const name = jsonata('body.name');
const phone = jsonata('body.phone');
const payer = jsonata('body.payment[0].name');
const total = jsonata('$sum(body.payment.amount)');

const app = Fastify({ logger: false });
app.post('/bench', async (req) => {
  const scope = { body: req.body };
  const [n, p, who, sum] = await Promise.all([name.evaluate(scope), phone.evaluate(scope), payer.evaluate(scope), total.evaluate(scope)]);
  return (sum as number) > 100 ? { tier: 'big', name: n, phone: p, payer: who, total: sum } : { tier: 'small', name: n, phone: p, payer: who, total: sum };
});
for (const logic of REAL_PAYLOAD_LOGIC) {
  const params = Object.entries(logic.params).map(([name, expr]) => [name, jsonata(expr)] as const);
  const extract = async (body: unknown) => {
    const scope = { body };
    const values = await Promise.all(params.map(([, expr]) => expr.evaluate(scope)));
    return Object.fromEntries(params.map(([name], i) => [name, values[i]]));
  };
  app.post(`/${logic.key}/sync`, async (req) => extract(req.body));
  app.post(`/${logic.key}/async`, async (req, reply) => reply.code(202).send({ accepted: true, ...(await extract(req.body)) }));
}
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log('ready');
// a clean exit on SIGTERM, so that `node --cpu-prof` (BENCH_PROFILE) writes its profile
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
