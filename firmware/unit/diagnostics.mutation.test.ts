import { describe, expect, test } from "bun:test";
import { formatDiagnostic, hasErrors, UnitLoadError } from "./diagnostics.ts";

describe("diagnostics", () => {
  test("file:line, level, directive and message", () => {
    expect(formatDiagnostic({ level: "error", file: "a.socket", line: 3, key: "Backlog", message: "bad" })).toBe("a.socket:3: error: Backlog=: bad");
    expect(formatDiagnostic({ level: "warning", file: "a.socket", message: "odd" })).toBe("a.socket: warning: odd");
  });

  test("only errors count as errors", () => {
    expect(
      hasErrors([
        { level: "warning", file: "f", message: "w" },
        { level: "notice", file: "f", message: "n" },
      ]),
    ).toBe(false);
    expect(
      hasErrors([
        { level: "notice", file: "f", message: "n" },
        { level: "error", file: "f", message: "e" },
      ]),
    ).toBe(true);
    expect(hasErrors([])).toBe(false);
  });

  test("a load error lists the errors, or says the unit failed to load", () => {
    const ds = [
      { level: "error" as const, file: "a.socket", line: 2, key: "A", message: "one" },
      { level: "warning" as const, file: "a.socket", line: 3, message: "skip" },
      { level: "error" as const, file: "a.socket", line: 4, message: "two" },
    ];
    const e = new UnitLoadError("a.socket", ds);
    expect(e.name).toBe("UnitLoadError");
    expect(e.message).toBe("a.socket: a.socket:2: error: A=: one\na.socket:4: error: two");
    expect(e.diagnostics).toBe(ds);
    expect(new UnitLoadError("b.socket", [ds[1]!]).message).toBe("b.socket: failed to load");
  });
});
