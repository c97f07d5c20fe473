import { describe, expect, test } from "bun:test";
import { LogRing } from "./log-ring.ts";
import { formatSyslog } from "./syslog.ts";
import type { LogRecord } from "./log.ts";

const rec = (i: number, unit?: string): LogRecord => ({ timeMs: 1000 + i, level: "info", source: "stdout", message: `line ${i}`, ...(unit ? { unit } : {}) });

describe("log ring", () => {
  test("keeps the newest records within the count bound, in order", () => {
    const r = new LogRing(3);
    for (let i = 0; i < 5; i++) r.push(rec(i));
    expect(r.query().map((x) => x.message)).toEqual(["line 2", "line 3", "line 4"]);
    expect(r.dropped).toBe(2);
  });
  test("the byte budget drops old records too", () => {
    const r = new LogRing(1000, 1000);
    for (let i = 0; i < 50; i++) r.push({ ...rec(i), message: "x".repeat(100) });
    expect(r.size).toBeLessThan(10);
    expect(r.size).toBeGreaterThan(0);
  });
  test("filters by unit, time and line count; followers see new records until they stop", () => {
    const r = new LogRing(100);
    for (let i = 0; i < 10; i++) r.push(rec(i, i % 2 ? "a.service" : "b.service"));
    expect(r.query({ unit: "a.service" }).length).toBe(5);
    expect(r.query({ unit: "a.service", lines: 2 }).map((x) => x.message)).toEqual(["line 7", "line 9"]);
    expect(r.query({ sinceMs: 1008 }).length).toBe(2);
    const seen: string[] = [];
    const stop = r.follow((x) => seen.push(x.message));
    r.push(rec(10));
    stop();
    r.push(rec(11));
    expect(seen).toEqual(["line 10"]);
  });
});

describe("syslog format", () => {
  test("RFC 3164 with facility daemon; services tagged by unit, the daemon as bunit", () => {
    const t = new Date(2026, 0, 5, 7, 8, 9).getTime();
    expect(formatSyslog({ timeMs: t, level: "warning", source: "stderr", unit: "web.service", pid: 42, message: "oops" }, 1)).toBe(
      "<28>Jan  5 07:08:09 web[42]: oops",
    );
    expect(formatSyslog({ timeMs: t, level: "error", source: "daemon", unit: "x.socket", message: "bad" }, 7)).toBe(
      "<27>Jan  5 07:08:09 bunit[7]: x.socket: bad",
    );
  });
});
