/**
 * A one-shot timer owned by a unit, on an injected clock.
 */
import type { Clock, Timer } from "./clock.ts";

/** A one-shot timer owned by a unit; re-arming cancels the previous one. */
export class UnitTimer {
  private t: Timer | null = null;
  private deadline = Infinity;
  private fn: (() => void) | null = null;
  constructor(private readonly clock: Clock) {}
  arm(usec: number, fn: () => void): void {
    this.cancel();
    this.deadline = this.clock.now() + usec;
    this.fn = fn;
    this.t = this.clock.setTimer(usec, () => {
      this.t = null;
      this.fn = null;
      fn();
    });
  }
  /**
   * Moves an armed timer's expiry to now + usec if that is later (EXTEND_TIMEOUT_USEC=: never
   * earlier than the original timeout). Returns whether it moved.
   */
  extend(usec: number): boolean {
    const fn = this.fn;
    const want = this.clock.now() + usec;
    if (!fn || want <= this.deadline) return false; // fn is set exactly while armed
    this.arm(usec, fn);
    return true;
  }
  cancel(): void {
    this.t?.cancel();
    this.t = null;
    this.fn = null;
  }
  get armed(): boolean {
    return this.t !== null;
  }
}
