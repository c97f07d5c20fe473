/**
 * The notify-protocol fuzzer in CI: fixed seeds, so a failure reproduces with
 * `bun test/robustness/fuzz-notify.ts --iterations N --seed S`.
 */
import { describe, expect, test } from "bun:test";
import { FD_STORE_MAX, fuzzNotify } from "./fuzz-notify.ts";

describe("fuzzing the sd_notify protocol against a real manager", () => {
  for (const seed of [3, 2026]) {
    test(`seed ${seed}: 3000 hostile messages: no crash, no fd left behind, memory bounded`, async () => {
      const r = await fuzzNotify(3000, seed);
      expect(r.failures.slice(0, 3)).toEqual([]);
      // Only what the fd store may keep stays open.
      expect(r.stored).toBeLessThanOrEqual(FD_STORE_MAX);
      expect(r.fdsAfter).toBeLessThanOrEqual(r.fdsBefore + r.stored);
      expect(r.rssAfter - r.rssBefore).toBeLessThan(100);
      // The transport half did run, and the socket read what it was sent.
      expect(r.datagrams).toBeGreaterThan(300);
      expect(r.handled).toBeGreaterThan(100);
    }, 120_000);
  }
});
