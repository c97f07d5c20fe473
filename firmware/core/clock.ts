/**
 * Time as the rest of bunit sees it: a monotonic "now" in microseconds and timers. Injected
 * everywhere so state machines and limits can be tested with a FakeClock.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic microseconds. */
  now(): number;
  /** Wall-clock milliseconds since the epoch (for log timestamps). */
  wallMs(): number;
  /** Runs fn after delayUsec (Infinity: never). */
  setTimer(delayUsec: number, fn: () => void): Timer;
}

const NEVER: Timer = { cancel() {} };

export const realClock: Clock = {
  now: () => Math.round(performance.now() * 1000),
  wallMs: () => Date.now(),
  setTimer(delayUsec, fn) {
    if (!Number.isFinite(delayUsec)) return NEVER;
    // setTimeout takes a 32-bit millisecond delay.
    const ms = Math.min(Math.max(0, delayUsec / 1000), 2 ** 31 - 1);
    const h = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(h) };
  },
};

/** A clock that only moves when told to; timers fire during advance(). */
export class FakeClock implements Clock {
  private t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  now(): number {
    return this.t;
  }
  wallMs(): number {
    return 1_700_000_000_000 + Math.floor(this.t / 1000);
  }
  setTimer(delayUsec: number, fn: () => void): Timer {
    if (!Number.isFinite(delayUsec)) return NEVER;
    const id = this.nextId++;
    this.timers.push({ at: this.t + Math.max(0, delayUsec), fn, id });
    return { cancel: () => void (this.timers = this.timers.filter((x) => x.id !== id)) };
  }
  advance(usec: number): void {
    const end = this.t + usec;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
  pendingTimers(): number {
    return this.timers.length;
  }
}
