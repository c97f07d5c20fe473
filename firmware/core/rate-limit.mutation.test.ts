import { describe, expect, test } from "bun:test";
import { RateLimit } from "./rate-limit.ts";

describe("RateLimit", () => {
  test("allows burst events per interval, then refuses until the window ends", () => {
    const r = new RateLimit(1000, 3);
    expect(r.enabled).toBe(true);
    expect([r.below(100), r.below(200), r.below(300), r.below(400)]).toEqual([true, true, true, false]);
    expect(r.remaining(500)).toBe(0);
    expect(r.windowEnd()).toBe(1100);
    expect(r.below(1099)).toBe(false);
    // The window starting at 100 ends exactly at 1100.
    expect(r.remaining(1100)).toBe(3);
    expect(r.below(1100)).toBe(true);
    expect(r.remaining(1100)).toBe(2);
    expect(r.windowEnd()).toBe(2100);
  });

  test("remaining counts down within a window and is burst before the first event", () => {
    const r = new RateLimit(1000, 2);
    expect(r.remaining(5)).toBe(2);
    r.below(10);
    expect(r.remaining(10)).toBe(1);
    expect(r.remaining(1009)).toBe(1);
    expect(r.remaining(1010)).toBe(2);
  });

  test("interval or burst 0 disables it", () => {
    for (const r of [new RateLimit(0, 5), new RateLimit(1000, 0)]) {
      expect(r.enabled).toBe(false);
      for (let i = 0; i < 10; i++) expect(r.below(i)).toBe(true);
      expect(r.remaining(0)).toBe(Infinity);
    }
    expect(new RateLimit(1, 1).enabled).toBe(true);
  });

  test("an event at time 0 starts a window (begin kept nonzero)", () => {
    const r = new RateLimit(1000, 1);
    expect(r.below(0)).toBe(true);
    expect(r.below(500)).toBe(false);
    expect(r.windowEnd()).toBe(1001);
    expect(r.below(1001)).toBe(true);
  });

  test("reset starts over", () => {
    const r = new RateLimit(1000, 1);
    expect(r.below(50)).toBe(true);
    expect(r.below(60)).toBe(false);
    r.reset();
    expect(r.windowEnd()).toBe(1000);
    expect(r.remaining(70)).toBe(1);
    expect(r.below(70)).toBe(true);
    expect(r.below(80)).toBe(false);
  });
});
