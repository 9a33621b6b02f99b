/** Whether a store takes writes now, and if not, why. */
export type Writability = { ok: true } | { ok: false; reason: string };

const PROBE_EVERY_MS = 1_000;

/**
 * Whether a server's store can write. A failed commit (a full disk, a WAL that cannot be written, a lost connection)
 * makes it unwritable until a commit or the probe, tried every second meanwhile, succeeds; a database file removed or
 * replaced under the running server makes it lost, until a restart: what it would write no reader would see. Each
 * change is said once in the engine's log; the engine fails readiness and answers 503 while the store is not writable.
 */
export class WriteHealth {
  private problem: string | undefined;
  private lost = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly probe: () => Promise<void> | void,
    private readonly report: (message: string) => void,
  ) {}

  get state(): Writability {
    return this.problem === undefined ? { ok: true } : { ok: false, reason: this.problem };
  }

  /** how a store notices it is lost (SQLite: its file is not the one it opened): the reason, or undefined */
  verify: (() => string | undefined) | undefined;

  /** Before a write: a lost store refuses it (the write would succeed, into a file nobody reads again). */
  check(): void {
    const reason = this.lost ? undefined : this.verify?.();
    if (reason) this.lose(reason);
    if (this.lost) throw new Error(this.problem);
  }

  lose(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.problem = reason;
    this.stopProbing();
    this.report(`${reason}: not ready, and every request is answered 503 until the engine is restarted`);
  }

  failed(error: unknown): void {
    if (this.problem !== undefined) return;
    this.problem = `the store cannot write: ${(error as Error).message ?? String(error)}`;
    this.report(`${this.problem}; not ready, and requests are answered 503, until a write succeeds (tried every second)`);
    this.timer = setInterval(() => void this.tryProbe(), PROBE_EVERY_MS).unref();
  }

  succeeded(): void {
    if (this.problem === undefined || this.lost) return;
    this.problem = undefined;
    this.stopProbing();
    this.report('the store can write again: ready');
  }

  close(): void {
    this.stopProbing();
  }

  private async tryProbe(): Promise<void> {
    try {
      await this.probe();
    } catch {
      return; // still failing: said once already
    }
    this.succeeded();
  }

  private stopProbing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
