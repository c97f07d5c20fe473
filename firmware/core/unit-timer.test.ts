import { expect, test } from "bun:test";
import { FakeClock } from "./clock.ts";
import { UnitTimer } from "./unit-timer.ts";

test("extend() moves an armed timer later, never earlier", () => {
  const clock = new FakeClock();
  const t = new UnitTimer(clock);
  let fired = 0;
  t.arm(10_000_000, () => fired++); // a 10 s timeout
  clock.advance(2_000_000);
  expect(t.extend(5_000_000)).toBe(false); // now + 5 s = 7 s: before the original 10 s
  clock.advance(6_000_000); // 8 s
  expect(t.extend(5_000_000)).toBe(true); // now 13 s
  clock.advance(4_000_000); // 12 s: the original timeout has passed
  expect(fired).toBe(0);
  clock.advance(1_000_000); // 13 s
  expect(fired).toBe(1);
  expect(t.armed).toBe(false);
  expect(t.extend(1_000_000)).toBe(false); // nothing to extend
  expect(clock.pendingTimers()).toBe(0);
});

test("a cancelled timer cannot be extended back to life", () => {
  const clock = new FakeClock();
  const t = new UnitTimer(clock);
  t.arm(1000, () => {
    throw new Error("must not fire");
  });
  t.cancel();
  expect(t.extend(5000)).toBe(false);
  clock.advance(10_000);
});
