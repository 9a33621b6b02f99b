/**
 * Latency at a fixed request rate, open loop: request i is due at start + i/rate whatever the earlier ones did, and its
 * latency runs from when it was due to when its answer ended. A server that stalls is charged for every request that
 * waited behind the stall (no coordinated omission), and the load stays evenly spread over each second.
 *
 * autocannon's `overallRate` cannot give this: each connection sends its quota for the second back to back as soon
 * as the second starts, then idles (a saturating burst, not a rate), and its omission correction assumes 1 ms between
 * requests (`Math.ceil(1 / rate)`), adding a synthetic sample per millisecond of every slower answer.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';

/** the latency target's bound: answers slower than this are the ones the p99 is about */
export const SLOW_MS = 10;

export interface PacedResult {
  sent: number;
  ok: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** every request's latency in ms, 0.1 ms steps (to pool several runs' percentiles) */
  latencies: number[];
  /**
   * Answers over SLOW_MS, and of those the ones with no time stolen by the hypervisor (on any core) from STEAL_READ_MS
   * before they were due until they ended: the server's own slow answers (and the client's), not the machine's.
   */
  slow: { all: number; unstolen: number };
}

/** how often the stolen time is read; a slow answer is also charged to a steal this long before it was due */
const STEAL_READ_MS = 25;

/**
 * The machine's stolen time (the `steal` column of /proc/stat, all cores together), read every STEAL_READ_MS: on a VM the
 * hypervisor runs something else on a core for tens of milliseconds at a time, and every request due meanwhile waits.
 */
class StealTimeline {
  private readonly at: number[] = [];
  private readonly stolen: number[] = [];
  private readonly timer = setInterval(() => this.read(), STEAL_READ_MS);

  constructor() {
    this.read();
  }

  private read() {
    const steal = Number(readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].split(/\s+/)[8]);
    this.at.push(performance.now());
    this.stolen.push(steal);
  }

  stop() {
    clearInterval(this.timer);
    this.read();
  }

  /** whether any time was stolen in a reading interval that overlaps [from, to] */
  stoleDuring(from: number, to: number): boolean {
    for (let k = 1; k < this.at.length; k++) {
      if (this.at[k] >= from && this.at[k - 1] <= to && this.stolen[k] > this.stolen[k - 1]) return true;
    }
    return false;
  }
}

/** The latency at quantile q of sorted latencies. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)].toFixed(1));
}

export async function pacedLatency(url: string, body: string, rate: number, seconds: number): Promise<PacedResult> {
  const { origin, pathname } = new URL(url);
  // enough connections that a request never waits for a free one unless the server is already late
  const pool = new Pool(origin, { connections: 64, pipelining: 1 });
  const total = rate * seconds;
  const latencies = new Float64Array(total);
  const steal = new StealTimeline();
  const pending: Promise<void>[] = [];
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const send = (i: number) => {
    const due = start + (i * 1000) / rate;
    return pool
      .request({ method: 'POST', path: pathname, headers: { 'content-type': 'application/json' }, body })
      .then(async (res) => {
        await res.body.dump();
        latencies[i] = performance.now() - due;
        if (res.statusCode < 300) ok++;
        else errors++;
      }, () => {
        latencies[i] = performance.now() - due;
        errors++;
      });
  };
  let next = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) pending.push(send(next++));
      // polled, not timed: a timer fires up to a millisecond late, which would be charged to the server
      if (next < total) setImmediate(tick);
      else done();
    };
    tick();
  });
  await Promise.all(pending);
  steal.stop();
  await pool.close();
  const slow = { all: 0, unstolen: 0 };
  latencies.forEach((ms, i) => {
    if (ms <= SLOW_MS) return;
    const due = start + (i * 1000) / rate;
    slow.all++;
    if (!steal.stoleDuring(due - STEAL_READ_MS, due + ms)) slow.unstolen++;
  });
  const sorted = Array.from(latencies, (ms) => Math.round(ms * 10) / 10).sort((a, b) => a - b);
  return { sent: total, ok, errors, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[total - 1], latencies: sorted, slow };
}

/**
 * As a script, in a fresh process of its own (`node --import tsx bench/paced.ts <url> <body> <rate> <seconds>`): a
 * client that has just run autocannon stalls in its own garbage collection, adding tens of milliseconds to the p99.
 * Runs a 2-second warm-up first, then prints the measured run's latencies as JSON (its ok and errors count both runs:
 * every 2xx answer must be committed).
 */
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, body, rate, seconds] = process.argv.slice(2);
  const warm = await pacedLatency(url, body, Number(rate), 2);
  const measured = await pacedLatency(url, body, Number(rate), Number(seconds));
  console.log(JSON.stringify({ ...measured, ok: measured.ok + warm.ok, errors: measured.errors + warm.errors }));
}
