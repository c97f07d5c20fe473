/**
 * systemd's RateLimit (ratelimit_below()): at most `burst` events per `interval`, the window
 * starting at the first event after the previous window ended. interval or burst 0 disables
 * it. Pure: the caller passes the time.
 */
export class RateLimit {
  private begin = 0;
  private count = 0;

  constructor(
    readonly intervalUsec: number,
    readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.intervalUsec > 0 && this.burst > 0;
  }

  /** Counts one event; false when it is over the limit. */
  below(now: number): boolean {
    if (!this.enabled) return true;
    if (this.begin === 0 || now - this.begin >= this.intervalUsec) {
      this.begin = now || 1;
      this.count = 1;
      return true;
    }
    if (this.count < this.burst) {
      this.count++;
      return true;
    }
    return false;
  }

  /** When the current window ends (for re-enabling a source). */
  windowEnd(): number {
    return this.begin + this.intervalUsec;
  }

  reset(): void {
    this.begin = 0;
    this.count = 0;
  }

  /** Events left in the current window (for status output). */
  remaining(now: number): number {
    if (!this.enabled) return Infinity;
    if (this.begin === 0 || now - this.begin >= this.intervalUsec) return this.burst;
    return this.burst - this.count;
  }
}
