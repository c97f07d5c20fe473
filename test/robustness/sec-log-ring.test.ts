/**
 * The log ring against one huge line (a service printing 50 MB without a newline, or a daemon
 * message quoting hostile input): before, the record was kept whole, pushed every other record
 * out and held 100 MB alone, far past the 4 MiB budget. Now a record keeps at most 48 KiB of
 * text (and at most an eighth of the budget), says how much it dropped, and the rest stays.
 */
import { describe, expect, test } from "bun:test";
import { LogRing } from "../../firmware/core/log-ring.ts";
import type { LogRecord } from "../../firmware/core/log.ts";

const rec = (message: string, i = 0): LogRecord => ({ timeMs: 1000 + i, level: "info", source: "stdout", unit: "x.service", message });

describe("a single huge line", () => {
  test("50 MB in one record: truncated with a marker, the earlier records kept, the ring within its budget", () => {
    const ring = new LogRing();
    for (let i = 0; i < 100; i++) ring.push(rec(`line ${i}`, i));
    ring.push(rec("A".repeat(50_000_000), 100));
    expect(ring.size).toBe(101);
    expect(ring.dropped).toBe(0);
    const last = ring.query({ lines: 1 })[0]!;
    expect(last.message.length).toBeLessThan(50 * 1024);
    expect(last.message).toEndWith(`… [${50_000_000 - 48 * 1024} more characters dropped]`);
    expect(ring.query()[0]!.message).toBe("line 0");
  });

  test("a small ring: no record takes more than an eighth of the budget", () => {
    const ring = new LogRing(100, 64 * 1024);
    ring.push(rec("keep"));
    ring.push(rec("B".repeat(1_000_000), 1));
    expect(ring.query().map((r) => r.message.slice(0, 4))).toEqual(["keep", "BBBB"]);
    expect(ring.query()[1]!.message.length).toBeLessThan((64 * 1024) / 8 + 64);
  });
});
