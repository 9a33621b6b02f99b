/**
 * One subscription's circuit breaker. Closed: failures are counted over a sliding window; one more than `failures`
 * within `windowMs` opens it. Open: nothing is sent for `cooldownMs` (due deliveries are held, counted as rejected, and
 * wait). Then half-open: one delivery at a time goes as a probe; a success closes the breaker, a failure opens it for
 * another cool-down, the same opening: `openedAt` stays when it began, so a delivery held in it counts as rejected once.
 * Times are the delivery worker's clock, in milliseconds.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  failures: number;
  windowMs: number;
  cooldownMs: number;
}

export class Breaker {
  private failures: number[] = [];
  private tripped = false;
  /** when the breaker last opened from closed: a failed probe extends the opening, it does not start another */
  openedAt = 0;
  openUntil = 0;

  state(nowMs: number): BreakerState {
    if (!this.tripped) return 'closed';
    return nowMs < this.openUntil ? 'open' : 'half-open';
  }

  /** Takes an open period back (from storage, after a restart). */
  restore(openedAtMs: number, openUntilMs: number, nowMs: number): void {
    if (openUntilMs <= nowMs) return;
    this.tripped = true;
    this.openedAt = openedAtMs;
    this.openUntil = openUntilMs;
    this.failures = [];
  }

  /** Records a sent attempt's result; says when this made the breaker open or close. */
  record(ok: boolean, atMs: number, settings: BreakerSettings): 'opened' | 'closed' | undefined {
    const state = this.state(atMs);
    if (state === 'open') return undefined; // an attempt that was under way when it opened: already counted in
    if (state === 'half-open') {
      if (ok) {
        this.tripped = false;
        this.failures = [];
        return 'closed';
      }
      return this.open(atMs, settings);
    }
    if (ok) return undefined;
    this.failures.push(atMs);
    const from = atMs - settings.windowMs;
    let drop = 0;
    while (drop < this.failures.length && this.failures[drop] <= from) drop++;
    if (drop > 0) this.failures.splice(0, drop);
    return this.failures.length > settings.failures ? this.open(atMs, settings) : undefined;
  }

  /** failures counted in the window now (closed breakers) */
  recentFailures(nowMs: number, settings: BreakerSettings): number {
    return this.failures.filter((t) => t > nowMs - settings.windowMs).length;
  }

  private open(atMs: number, settings: BreakerSettings): 'opened' {
    if (!this.tripped) this.openedAt = atMs;
    this.tripped = true;
    this.openUntil = atMs + settings.cooldownMs;
    this.failures = [];
    return 'opened';
  }
}
