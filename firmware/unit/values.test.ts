import { describe, expect, test } from "bun:test";
import {
  exitStatusName,
  formatTimespan,
  parseBoolean,
  parseExitStatusSet,
  parseIecSize,
  parseMode,
  parseSignal,
  parseTimespan,
  parseUnsigned,
  ValueError,
} from "./values.ts";

describe("value syntaxes", () => {
  test("booleans", () => {
    for (const t of ["1", "yes", "Y", "true", "t", "ON"]) expect(parseBoolean(t)).toBe(true);
    for (const f of ["0", "no", "n", "False", "f", "off"]) expect(parseBoolean(f)).toBe(false);
    expect(() => parseBoolean("maybe")).toThrow(ValueError);
  });

  test("time spans in microseconds", () => {
    expect(parseTimespan("5")).toBe(5e6);
    expect(parseTimespan("500ms")).toBe(500e3);
    expect(parseTimespan("1min 30s")).toBe(90e6);
    expect(parseTimespan("2h5min")).toBe(2 * 3600e6 + 300e6);
    expect(parseTimespan("1.5s")).toBe(1.5e6);
    expect(parseTimespan("10us")).toBe(10);
    expect(parseTimespan("infinity")).toBe(Infinity);
    expect(() => parseTimespan("5 parsecs")).toThrow(/unknown time unit/);
    expect(formatTimespan(90e6)).toBe("1min 30s");
  });

  test("sizes, modes, numbers, signals", () => {
    expect(parseIecSize("64K")).toBe(65536);
    expect(parseIecSize("1.5M")).toBe(1572864);
    expect(parseIecSize("4096")).toBe(4096);
    expect(() => parseIecSize("12Q")).toThrow(ValueError);
    expect(parseMode("0660")).toBe(0o660);
    expect(parseMode("02755")).toBe(0o2755);
    expect(() => parseMode("0999")).toThrow(ValueError);
    expect(() => parseMode("017777")).toThrow(ValueError);
    expect(parseUnsigned("0x10")).toBe(16);
    expect(() => parseUnsigned("-1")).toThrow(ValueError);
    expect(parseSignal("SIGTERM")).toBe(15);
    expect(parseSignal("HUP")).toBe(1);
    expect(parseSignal("SIGRTMIN+2")).toBe(36);
    expect(() => parseSignal("SIGFOO")).toThrow(ValueError);
  });

  test("exit status sets", () => {
    expect(parseExitStatusSet("0 143 SIGTERM TEMPFAIL")).toEqual({ codes: [0, 143, 75], signals: [15] });
    expect(exitStatusName(203)).toBe("EXEC");
  });
});
