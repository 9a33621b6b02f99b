import type { EventAttemptOutcome, EventHealthRow } from '../store/types.ts';

export const HEALTH_MINUTES = 30;

export type OutcomeCounts = Record<EventAttemptOutcome, number>;

/** A subscription's deliveries over the last 30 minutes, from its stored attempts. */
export interface Health {
  /** the first minute counted (its start) and the time the figures were taken */
  from: string;
  to: string;
  counts: OutcomeCounts;
  /** over the attempts that got an HTTP answer (any status); null when none did */
  fastestMs: number | null;
  averageMs: number | null;
  slowestMs: number | null;
  /** one entry per minute, oldest first: the current minute and the 29 before it */
  histogram: ({ minute: string } & OutcomeCounts)[];
}

const zero = (): OutcomeCounts => ({ success: 0, slow: 0, error: 0, rejected: 0 });

/** The start of the first minute of the window that ends at `now`. */
export function healthSince(now: Date, minutes = HEALTH_MINUTES): string {
  const minute = Math.floor(now.getTime() / 60_000) * 60_000;
  return new Date(minute - (minutes - 1) * 60_000).toISOString();
}

export function computeHealth(rows: EventHealthRow[], now: Date, minutes = HEALTH_MINUTES): Health {
  const from = healthSince(now, minutes);
  const start = Date.parse(from);
  const histogram = Array.from({ length: minutes }, (_, i) => ({ minute: new Date(start + i * 60_000).toISOString(), ...zero() }));
  const counts = zero();
  let timed = 0;
  let sum = 0;
  let fastest: number | null = null;
  let slowest: number | null = null;
  for (const row of rows) {
    const index = Math.floor((Date.parse(`${row.minute}:00.000Z`) - start) / 60_000);
    if (index < 0 || index >= minutes) continue; // an attempt recorded with a later clock than `now`
    histogram[index][row.outcome] += row.count;
    counts[row.outcome] += row.count;
    if (row.timed > 0) {
      timed += row.timed;
      sum += row.sumMs;
      if (row.minMs !== null) fastest = fastest === null ? row.minMs : Math.min(fastest, row.minMs);
      if (row.maxMs !== null) slowest = slowest === null ? row.maxMs : Math.max(slowest, row.maxMs);
    }
  }
  return {
    from,
    to: now.toISOString(),
    counts,
    fastestMs: fastest,
    averageMs: timed > 0 ? Math.round((sum / timed) * 10) / 10 : null,
    slowestMs: slowest,
    histogram,
  };
}
