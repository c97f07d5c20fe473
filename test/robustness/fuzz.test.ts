/**
 * The fuzzer in CI: fixed seeds, so a failure reproduces with
 * `bun test/robustness/fuzz.ts --iterations N --seed S`. Longer runs use the same command.
 */
import { describe, expect, test } from "bun:test";
import { fuzz } from "./fuzz.ts";

describe("fuzzing the unit parser and the USB descriptor compiler", () => {
  for (const seed of [1, 7, 2026]) {
    test(`seed ${seed}: 20000 mutated unit files and specs, no crash, every rejection says where`, () => {
      const r = fuzz(20_000, seed);
      expect(r.units.failures.slice(0, 3)).toEqual([]);
      expect(r.specs.failures.slice(0, 3)).toEqual([]);
      // The mutations must exercise both outcomes, or the fuzzer tests nothing.
      for (const s of [r.units, r.specs]) {
        expect(s.accepted).toBeGreaterThan(100);
        expect(s.rejected).toBeGreaterThan(100);
      }
    }, 120_000);
  }
});
