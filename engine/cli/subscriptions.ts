import type { CommandContext } from './main.ts';
import { openStore } from '../store/open.ts';
import { SINCE_PROBLEM, sinceTime } from './since.ts';
import { EventHub, testRefusal, type SubscriptionOverview } from '../events/service.ts';
import { EVENT_TYPES, type EventType } from '../events/types.ts';
import type { Health } from '../events/health.ts';
import type { Subscription } from '../events/subscriptions.ts';

const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);

function row(o: SubscriptionOverview): string {
  const state = o.problems.length > 0 ? 'problem' : !o.enabled ? 'disabled' : o.breaker.state === 'closed' ? 'on' : `breaker ${o.breaker.state}`;
  const c = o.last30m;
  return `${o.id.padEnd(16)} ${state.padEnd(12)} ${String(o.deliveries.pending).padStart(7)} ${String(o.deliveries.failed).padStart(6)}   ${c.success}/${c.slow}/${c.error}/${c.rejected}`.padEnd(70) + ` ${o.events.join(',')}  ${o.url}`;
}

function histogram(health: Health): string[] {
  const lines: string[] = [];
  for (const m of health.histogram) {
    const total = m.success + m.slow + m.error + m.rejected;
    if (total === 0) continue;
    const bar = '+'.repeat(Math.min(m.success, 40)) + '~'.repeat(Math.min(m.slow, 40)) + 'x'.repeat(Math.min(m.error, 40)) + '-'.repeat(Math.min(m.rejected, 40));
    lines.push(`  ${m.minute.slice(11, 16)}  ${String(m.success).padStart(4)} ${String(m.slow).padStart(4)} ${String(m.error).padStart(4)} ${String(m.rejected).padStart(4)}  ${bar}`);
  }
  return lines.length > 0 ? ['  minute   ok  slow  err  rej', ...lines] : ['  no deliveries in the last 30 minutes'];
}

/**
 * `hooks subscriptions [id]`: the outbound event subscriptions from the engine's storage: deliveries waiting and dead
 * letters, success / slow / error / rejected over the last 30 minutes; for one subscription its histogram by minute,
 * times and last errors. `--replay [--since <time>]` sends its dead letters again (the running engine picks them up
 * within a second); `--test [--type <event type>]` sends it a sample event now and prints the answer.
 */
export const subscriptionsCommand = {
  summary: 'event subscriptions: deliveries, health, errors (<id>, --replay [--since], --test [--type], --format text|json)',
  options: {
    replay: { type: 'boolean' as const },
    since: { type: 'string' as const },
    test: { type: 'boolean' as const },
    type: { type: 'string' as const },
    errors: { type: 'string' as const, default: '10' },
    format: { type: 'string' as const, default: 'text' },
  },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const [id] = positionals;
    const usage = usageProblem(values, id);
    if (usage) {
      ctx.err(`hooks subscriptions: ${usage}`);
      return 2;
    }
    const shown: Shown = { format: values.format as 'text' | 'json', errors: Number(values.errors), print: (value) => ctx.out(JSON.stringify(value, null, 2)) };
    const store = await openStore(ctx.config.storage.url);
    try {
      const hub = new EventHub({ config: ctx.config, store });
      await hub.worker.restoreBreakers();
      if (!id) return await listAll(ctx, hub, shown);
      const sub = hub.subscription(id);
      if (!sub) {
        ctx.err(`hooks subscriptions: no subscription "${id}" in ${ctx.config.file ?? 'the config'}`);
        return 1;
      }
      if (values.replay) return await replayDeadLetters(ctx, hub, sub, values.since as string | undefined, shown);
      if (values.test) return await sendTest(ctx, hub, sub, values.type as EventType | undefined, shown);
      return await showOne(ctx, hub, sub, shown);
    } finally {
      await store.close();
    }
  },
};

/** How answers are shown: the format, how many last errors, and JSON printing. */
interface Shown {
  format: 'text' | 'json';
  errors: number;
  print(value: unknown): void;
}

/** What is wrong with the options, if anything. */
function usageProblem(values: Record<string, unknown>, id: string | undefined): string | undefined {
  if (values.format !== 'text' && values.format !== 'json') return '--format must be text or json';
  if ((values.replay || values.test) && !id) return `--${values.replay ? 'replay' : 'test'} needs a subscription id`;
  if (values.since !== undefined && sinceTime(values.since as string) === undefined) return SINCE_PROBLEM;
  if (values.type !== undefined && !EVENT_TYPES.includes(values.type as EventType)) return `--type must be one of ${EVENT_TYPES.join(', ')}`;
  const errorsShown = Number(values.errors);
  if (!Number.isInteger(errorsShown) || errorsShown < 0 || errorsShown > 50) return '--errors must be a whole number from 0 to 50';
  return undefined;
}

async function listAll(ctx: CommandContext, hub: EventHub, shown: Shown): Promise<number> {
  const all = await Promise.all(hub.subscriptions().map((sub) => hub.overview(sub)));
  if (shown.format === 'json') shown.print({ subscriptions: all });
  else if (all.length === 0) ctx.out('no subscriptions in the config');
  else {
    ctx.out(`${'id'.padEnd(16)} ${'state'.padEnd(12)} ${'pending'.padStart(7)} ${'failed'.padStart(6)}   ok/slow/err/rej (30 min)`.padEnd(70) + ' events  url');
    for (const o of all) ctx.out(row(o));
  }
  return 0;
}

async function replayDeadLetters(ctx: CommandContext, hub: EventHub, sub: Subscription, since: string | undefined, shown: Shown): Promise<number> {
  const replayed = await hub.replay(sub.id, { since: since ? sinceTime(since) : undefined });
  if (shown.format === 'json') shown.print({ subscription: sub.id, replayed });
  else ctx.out(`${replayed} dead letter${replayed === 1 ? '' : 's'} of ${sub.id} queued again${sub.enabled ? '' : ' (the subscription is disabled: they wait until it is enabled)'}`);
  return 0;
}

async function sendTest(ctx: CommandContext, hub: EventHub, sub: Subscription, type: EventType | undefined, shown: Shown): Promise<number> {
  const refused = testRefusal(sub, type, '--type');
  if (refused) {
    ctx.err(`hooks subscriptions: ${refused.reason}`);
    return 1;
  }
  const answer = await hub.test(sub, type);
  if (shown.format === 'json') shown.print({ subscription: sub.id, ...answer });
  else {
    ctx.out(`${answer.event.type} sample event ${answer.event.id} to ${sub.id}: ${answer.outcome}${answer.status === null ? '' : ` ${answer.status}`} in ${answer.durationMs} ms`);
    if (answer.error) ctx.out(`  ${answer.error}`);
    if (answer.body) ctx.out(`  ${answer.body}`);
  }
  return answer.ok ? 0 : 1;
}

async function showOne(ctx: CommandContext, hub: EventHub, sub: Subscription, shown: Shown): Promise<number> {
  const errorsShown = shown.errors;
  const [overview, health, errors] = await Promise.all([hub.overview(sub), hub.health(sub.id), hub.errors(sub.id, Math.max(errorsShown, 1))]);
  if (shown.format === 'json') {
    shown.print({ ...overview, health, errors: errors.slice(0, errorsShown) });
    return 0;
  }
  const c = health.counts;
  ctx.out(`${overview.id}  ${overview.url}`);
  ctx.out(`  events ${overview.events.join(', ')} as ${overview.format}${overview.channels ? `; channels ${overview.channels.join(', ')}` : ''}${overview.flows ? `; flows ${overview.flows.join(', ')}` : ''}`);
  ctx.out(`  ${overview.enabled ? 'enabled' : 'disabled'}, ${overview.ordered ? 'ordered' : 'unordered'}, ${overview.signed ? 'signed' : 'unsigned'}, timeout ${overview.timeoutMs} ms, breaker ${overview.breaker.state}${overview.breaker.openUntil ? ` until ${overview.breaker.openUntil}` : ''}`);
  for (const problem of overview.problems) ctx.out(`  problem: ${problem}`);
  ctx.out(`  deliveries: ${overview.deliveries.pending} pending, ${overview.deliveries.delivered} delivered, ${overview.deliveries.failed} failed (dead letters)`);
  ctx.out(`  last 30 minutes: ${c.success} success, ${c.slow} slow (over ${sub.slowMs} ms), ${c.error} error, ${c.rejected} rejected; fastest ${ms(health.fastestMs)}, average ${ms(health.averageMs)}, slowest ${ms(health.slowestMs)}`);
  for (const line of histogram(health)) ctx.out(line);
  if (errorsShown > 0 && errors.length > 0) {
    ctx.out(`  last errors:`);
    for (const e of errors.slice(0, errorsShown)) {
      ctx.out(`  ${e.at}  ${e.status ?? '---'}  ${e.eventType} ${e.eventId} attempt ${e.attempt}: ${e.error ?? ''}${e.body ? `  ${JSON.stringify(e.body.slice(0, 120))}` : ''}`);
    }
  }
  return 0;
}
