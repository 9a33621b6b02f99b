/**
 * The ceiling: a bare Fastify server doing by hand what the benchmark flow does (extract name, phone,
 * payment[0].name and the sum of payment.amount with JSONata, branch on the sum, answer JSON). No log, no storage.
 */
import Fastify from 'fastify';
import jsonata from 'jsonata';

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
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log('ready');
// a clean exit on SIGTERM, so that `node --cpu-prof` (BENCH_PROFILE) writes its profile
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
