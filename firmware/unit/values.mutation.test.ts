import { describe, expect, test } from "bun:test";
import {
  formatTimespan,
  isNormalizedAbsolutePath,
  normalizePath,
  parseBoolean,
  parseExitStatusSet,
  parseIecSize,
  parseInteger,
  parseMode,
  parseSignal,
  parseTimespan,
  parseTristate,
  parseUnsigned,
  ValueError,
} from "./values.ts";

/** The ValueError `f()` throws (fails the test when it returns). */
function valueError(f: () => unknown): ValueError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValueError);
    return e as ValueError;
  }
  throw new Error("no ValueError thrown");
}
const message = (f: () => unknown) => valueError(f).message;

describe("booleans and tristates", () => {
  test("the error names the value and the accepted words", () => {
    const e = valueError(() => parseBoolean("maybe"));
    expect(e.name).toBe("ValueError");
    expect(e.message).toBe('"maybe" is not a boolean (use yes/no, true/false, on/off, 1/0)');
  });

  test("an empty tristate is unset, anything else is a boolean", () => {
    expect(parseTristate("")).toBeNull();
    expect(parseTristate("yes")).toBe(true);
    expect(parseTristate("off")).toBe(false);
    expect(message(() => parseTristate("x"))).toBe('"x" is not a boolean (use yes/no, true/false, on/off, 1/0)');
  });
});

describe("time spans", () => {
  test("every unit name systemd.time(7) lists", () => {
    const units: [string[], number][] = [
      [["us", "usec", "µs", "μs"], 1],
      [["ms", "msec"], 1e3],
      [["s", "sec", "second", "seconds"], 1e6],
      [["m", "min", "minute", "minutes"], 60e6],
      [["h", "hr", "hour", "hours"], 3600e6],
      [["d", "day", "days"], 86400e6],
      [["w", "week", "weeks"], 604800e6],
      [["M", "month", "months"], 2629800e6],
      [["y", "year", "years"], 31557600e6],
    ];
    for (const [names, usec] of units) for (const n of names) expect(parseTimespan(`2${n}`)).toBe(2 * usec);
    expect(parseTimespan("2000ns")).toBe(2);
    expect(parseTimespan("3000nsec")).toBe(3);
  });

  test("blanks around and between components", () => {
    expect(parseTimespan(" infinity ")).toBe(Infinity);
    expect(parseTimespan("1min   30s")).toBe(90e6);
    // A bare number between components takes the default unit.
    expect(parseTimespan("10 20")).toBe(30e6);
    expect(parseTimespan("1s2 3s")).toBe(6e6);
    expect(parseTimespan("5", 1e3)).toBe(5e3);
  });

  test("fractions", () => {
    expect(parseTimespan("1.25s")).toBe(1.25e6);
    expect(parseTimespan("1.5ms")).toBe(1500);
    expect(parseTimespan(".25s")).toBe(250e3);
  });

  test("errors name the value", () => {
    expect(message(() => parseTimespan(""))).toBe("empty time span");
    expect(message(() => parseTimespan("   "))).toBe("empty time span");
    expect(message(() => parseTimespan("abc"))).toBe('"abc" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)');
    expect(message(() => parseTimespan("ab5s"))).toBe('"ab5s" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)');
    expect(message(() => parseTimespan("x5s"))).toBe('"x5s" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)');
    expect(message(() => parseTimespan("5s -1s"))).toBe('"5s -1s" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)');
    expect(message(() => parseTimespan("5 parsecs"))).toBe('"5 parsecs": unknown time unit "parsecs"');
  });

  test("formatted with every unit, largest first", () => {
    expect(formatTimespan(Infinity)).toBe("infinity");
    expect(formatTimespan(0)).toBe("0");
    expect(formatTimespan(31557600e6 + 2629800e6 + 604800e6 + 86400e6 + 3600e6 + 60e6 + 1e6 + 1e3 + 1)).toBe("1y 1month 1w 1d 1h 1min 1s 1ms 1us");
    expect(formatTimespan(1e6)).toBe("1s");
    expect(formatTimespan(2 * 3600e6 + 5)).toBe("2h 5us");
  });
});

describe("sizes", () => {
  test("every IEC suffix", () => {
    const suffixes = ["B", "K", "M", "G", "T", "P"];
    suffixes.forEach((s, i) => expect(parseIecSize(`3${s}`)).toBe(3 * 1024 ** i));
    expect(parseIecSize("1.25K")).toBe(1280);
    expect(parseIecSize(" 7 K ")).toBe(7168);
  });

  test("bounds and errors", () => {
    expect(parseIecSize("9007199254740991")).toBe(Number.MAX_SAFE_INTEGER);
    expect(message(() => parseIecSize("8E"))).toBe('"8E" is out of range');
    expect(message(() => parseIecSize("9".repeat(400)))).toBe(`"${"9".repeat(400)}" is out of range`);
    expect(message(() => parseIecSize("x64K"))).toBe('"x64K" is not a size (examples: 4096, 64K, 8M)');
  });
});

describe("modes", () => {
  test("octal up to 07777", () => {
    expect(parseMode("7777")).toBe(0o7777);
    expect(parseMode("0")).toBe(0);
    expect(message(() => parseMode("10000"))).toBe('"10000" is not an octal access mode (example: 0660)');
    expect(message(() => parseMode("x660"))).toBe('"x660" is not an octal access mode (example: 0660)');
  });
});

describe("unsigned and signed integers", () => {
  test("decimal and hex unsigned, up to the maximum", () => {
    expect(parseUnsigned("10")).toBe(10);
    expect(parseUnsigned("0x1F")).toBe(31);
    expect(parseUnsigned("4294967295")).toBe(4294967295);
    expect(message(() => parseUnsigned("4294967296"))).toBe("4294967296 is out of range (maximum 4294967295)");
    expect(parseUnsigned("7", 7)).toBe(7);
    expect(message(() => parseUnsigned("8", 7))).toBe("8 is out of range (maximum 7)");
    for (const bad of ["10x", "0x10g", "a0x10", "x", "-1"]) expect(message(() => parseUnsigned(bad))).toBe(`"${bad}" is not an unsigned integer`);
  });

  test("signed 32-bit by default, with a sign", () => {
    expect(parseInteger("-2147483648")).toBe(-2147483648);
    expect(parseInteger("2147483647")).toBe(2147483647);
    expect(parseInteger("+5")).toBe(5);
    expect(parseInteger("-5")).toBe(-5);
    expect(parseInteger("55")).toBe(55);
    expect(message(() => parseInteger("-2147483649"))).toBe("-2147483649 is out of range (-2147483648..2147483647)");
    expect(message(() => parseInteger("2147483648"))).toBe("2147483648 is out of range (-2147483648..2147483647)");
    for (const bad of ["5x", "x5", "", "+", "--5", "ab"]) expect(message(() => parseInteger(bad))).toBe(`"${bad}" is not an integer`);
  });

  test("explicit bounds are inclusive", () => {
    expect(parseInteger("1", 1, 10)).toBe(1);
    expect(parseInteger("10", 1, 10)).toBe(10);
    expect(message(() => parseInteger("0", 1, 10))).toBe("0 is out of range (1..10)");
    expect(message(() => parseInteger("11", 1, 10))).toBe("11 is out of range (1..10)");
  });
});

describe("signals", () => {
  test("numbers 1..64", () => {
    expect(parseSignal("1")).toBe(1);
    expect(parseSignal("15")).toBe(15);
    expect(parseSignal("64")).toBe(64);
    expect(message(() => parseSignal("0"))).toBe("0 is not a valid signal number");
    expect(message(() => parseSignal("65"))).toBe("65 is not a valid signal number");
    expect(message(() => parseSignal("15x"))).toBe('"15x" is not a signal name');
  });

  test("SIGRTMIN+n and SIGRTMAX-n within 34..64", () => {
    expect(parseSignal("SIGRTMIN")).toBe(34);
    expect(parseSignal("RTMIN")).toBe(34);
    expect(parseSignal("SIGRTMIN+10")).toBe(44);
    expect(parseSignal("SIGRTMIN+30")).toBe(64);
    expect(parseSignal("SIGRTMAX")).toBe(64);
    expect(parseSignal("SIGRTMAX-2")).toBe(62);
    expect(parseSignal("RTMAX-10")).toBe(54);
    expect(parseSignal("SIGRTMAX-30")).toBe(34);
    for (const bad of ["SIGRTMIN+31", "SIGRTMAX-31", "XSIGRTMIN", "XSIGRTMAX", "SIGRTMIN+2x", "SIGRTMAX-1x", "SIGRTMIN2", "SIGRTMAX-x"])
      expect(message(() => parseSignal(bad))).toBe(`"${bad}" is not a signal name`);
  });
});

describe("exit status sets", () => {
  test("codes 0..255, names, and signals; blanks anywhere", () => {
    expect(parseExitStatusSet("  1  2 ")).toEqual({ codes: [1, 2], signals: [] });
    expect(parseExitStatusSet("255 EXEC KILL")).toEqual({ codes: [255, 203], signals: [9] });
    expect(message(() => parseExitStatusSet("256"))).toBe("exit status 256 is out of range (0..255)");
    expect(message(() => parseExitStatusSet("x5"))).toBe('"x5" is not a signal name');
    expect(message(() => parseExitStatusSet("5x"))).toBe('"5x" is not a signal name');
  });
});

describe("paths", () => {
  test("normalized absolute paths", () => {
    for (const p of ["/", "/a", "/a/b", "/a/.../b", "/.x"]) expect(isNormalizedAbsolutePath(p)).toBe(true);
    for (const p of ["", "a", "ab/c", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/b/.", "/..", "//"]) expect(isNormalizedAbsolutePath(p)).toBe(false);
  });

  test("normalizing drops empty and '.' components, refuses '..' and relative paths", () => {
    expect(normalizePath("/a//b/./c/")).toBe("/a/b/c");
    expect(normalizePath("/")).toBe("/");
    expect(normalizePath("//./")).toBe("/");
    expect(normalizePath("/a/...")).toBe("/a/...");
    expect(normalizePath("/a/../b")).toBeNull();
    expect(normalizePath("a/b")).toBeNull();
    expect(normalizePath("ab/c")).toBeNull();
  });
});
