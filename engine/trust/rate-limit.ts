/**
 * Per-flow rate limits, as token buckets: `max` requests per `per`, refilled continuously, so a burst may use the
 * whole allowance and then waits for tokens to come back. Kept in memory: each replica limits its own traffic.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** takes one token; when none is left, says how many seconds until one is back (for Retry-After) */
  take(key: string, max: number, perMs: number, nowMs: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const rate = max / perMs;
    const bucket = this.buckets.get(key) ?? { tokens: max, at: nowMs };
    bucket.tokens = Math.min(max, bucket.tokens + (nowMs - bucket.at) * rate);
    bucket.at = nowMs;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000)) };
  }
}
