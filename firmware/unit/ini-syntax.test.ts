import { describe, expect, test } from "bun:test";
import { growth } from "../testing/growth.ts";
import { LONG_LINE_MAX, parseUnitText } from "./ini-syntax.ts";

describe("unit file syntax", () => {
  test("sections, assignments, comments and whitespace", () => {
    const p = parseUnitText("# c\n[Unit]\n; c\nDescription = Hello world \n\n[Socket]\nListenStream=80\n", "/u/x.socket");
    expect(p.sections).toEqual(["Unit", "Socket"]);
    expect(p.assignments.map((a) => [a.section, a.key, a.value, a.line])).toEqual([
      ["Unit", "Description", "Hello world", 4],
      ["Socket", "ListenStream", "80", 7],
    ]);
    expect(p.diagnostics).toEqual([]);
  });

  test("continuation lines join with a space and skip comment lines; the line is where it starts", () => {
    const p = parseUnitText("[Service]\nExecStart=/bin/echo a \\\n# comment inside\n  b \\\n  c\nX=1\n", "f");
    expect(p.assignments[0]).toMatchObject({ key: "ExecStart", value: "/bin/echo a    b    c", line: 2 });
    expect(p.assignments[1]).toMatchObject({ key: "X", line: 6 });
  });

  test("an escaped backslash at the end does not continue", () => {
    const p = parseUnitText("[S]\nA=x\\\\\nB=y\n", "f");
    expect(p.assignments.map((a) => a.key)).toEqual(["A", "B"]);
    expect(p.assignments[0]!.value).toBe("x\\\\");
  });

  test("errors name file and line", () => {
    const p = parseUnitText("Key=outside\n[Unit]\nnoequals\n=novalue\n[Bad\n", "/etc/x.service");
    expect(p.diagnostics.map((d) => [d.level, d.line])).toEqual([
      ["warning", 1],
      ["error", 3],
      ["error", 4],
      ["error", 5],
    ]);
    expect(p.diagnostics[0]!.message).toBe("Assignment outside of section. Ignoring.");
    expect(p.diagnostics[1]!.message).toStartWith("Missing '=', ignoring line: noequals");
    expect(p.diagnostics[2]!.message).toStartWith("Missing key name before '='");
    expect(p.diagnostics[3]!.message).toStartWith("Invalid section header '[Bad'");
    expect(p.diagnostics.every((d) => d.file === "/etc/x.service")).toBe(true);
  });

  test("BOM and CRLF are tolerated", () => {
    const p = parseUnitText("\uFEFF[Unit]\r\nDescription=x\r\n", "f");
    expect(p.assignments[0]!.value).toBe("x");
  });

  test("a continuation ending the file, and a line of backslashes: odd count continues, even does not", () => {
    expect(parseUnitText("[S]\nA=a \\", "f").assignments[0]).toMatchObject({ key: "A", value: "a" });
    const p = parseUnitText("[S]\nA=\\\\\\\nb\nB=\\\\\\\\\nC=c\n", "f");
    expect(p.assignments.map((a) => [a.key, a.value, a.line])).toEqual([
      ["A", "\\\\ b", 2],
      ["B", "\\\\\\\\", 4],
      ["C", "c", 5],
    ]);
  });

  test("LONG_LINE_MAX is systemd's 1 MiB; a longer line is an error naming file and line, and parsing stops there", () => {
    expect(LONG_LINE_MAX).toBe(1024 * 1024);
    const p = parseUnitText(`[Service]\nA=1\nB=${"x".repeat(LONG_LINE_MAX)}\nC=3\n`, "/u/x.service");
    expect(p.assignments.map((a) => a.key)).toEqual(["A"]);
    expect(p.diagnostics).toEqual([expect.objectContaining({ level: "error", file: "/u/x.service", line: 3 })]);
    expect(p.diagnostics[0]!.message).toStartWith("Line too long (more than 1048576 bytes");
    // Exactly at the limit is fine.
    const ok = parseUnitText(`[S]\n${"A=".padEnd(LONG_LINE_MAX, "y")}\n`, "f");
    expect(ok.diagnostics).toEqual([]);
    expect(ok.assignments[0]!.value.length).toBe(LONG_LINE_MAX - 2);
  });

  test("a continuation longer than LONG_LINE_MAX is an error at the line where it starts", () => {
    const p = parseUnitText(`[S]\nA=1\nB=x \\\n${"y \\\n".repeat(LONG_LINE_MAX / 2)}z\n`, "f");
    expect(p.assignments.map((a) => a.key)).toEqual(["A"]);
    expect(p.diagnostics.map((d) => [d.line, d.message.split(" (")[0]])).toEqual([[3, "Continuation line too long"]]);
  });

  test("linear: 50 000 continuation lines (was 12 s, quadratic); ten times the lines, about ten times the time", () => {
    const text = (n: number) => `[Service]\nExecStart=/bin/true \\\n${"x \\\n".repeat(n)}y\n`;
    const p = parseUnitText(text(50_000), "f");
    expect(growth((n) => parseUnitText(text(n), "f"), 5_000)).toBeLessThan(35);
    expect(p.assignments[0]!.value.length).toBe("/bin/true  ".length + 50_000 * "x  ".length + 1);
  });
});
