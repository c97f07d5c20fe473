import { describe, expect, test } from "bun:test";
import { LONG_LINE_MAX, parseUnitText } from "./ini-syntax.ts";

const parse = (text: string) => parseUnitText(text, "u.service");
const kv = (text: string) => parse(text).assignments.map((a) => [a.key, a.value, a.line]);
const diags = (text: string) => parse(text).diagnostics.map((d) => `${d.line} ${d.level}: ${d.message}`);

describe("section headers", () => {
  test("blanks around a header are stripped; a section seen twice is listed once", () => {
    const p = parse("  [S]  \nK=v\n[T]\n[S]\nL=w\n");
    expect(p.sections).toEqual(["S", "T"]);
    expect(kv("  [S]  \nK=v\n")).toEqual([["K", "v", 2]]);
    expect(p.diagnostics).toEqual([]);
  });

  test("invalid headers are errors, and the assignments under them are ignored without more warnings", () => {
    for (const h of ["[]", "[a]b]", "[ S]", "[S ]", "[S", "[a[b]"]) {
      expect(diags(`${h}\nK=v\n`)).toEqual([`1 error: Invalid section header '${h}'`]);
      expect(kv(`${h}\nK=v\n`)).toEqual([]);
    }
    expect(kv("[S]\n[]\nK=v\n[T]\nL=w\n")).toEqual([["L", "w", 5]]);
  });

  test("assignments before any section are warned about", () => {
    expect(diags("K=v\n[S]\n")).toEqual(["1 warning: Assignment outside of section. Ignoring."]);
  });

  test(".include is warned about and skipped", () => {
    expect(diags("[S]\n.include /etc/x\nK=v\n")).toEqual([
      "2 warning: .include directives are not supported (removed in systemd v250), ignoring: .include /etc/x",
    ]);
    expect(kv("[S]\n.include /etc/x\nK=v\n")).toEqual([["K", "v", 3]]);
  });
});

describe("lines", () => {
  test("a text starting with an empty line counts it", () => {
    expect(kv("\n[S]\nK=v")).toEqual([["K", "v", 3]]);
  });

  test("a byte-order mark only at the very start is skipped", () => {
    expect(kv("\uFEFF[S]\nK=v")).toEqual([["K", "v", 2]]);
    // The mark is not part of the first line: a first line of exactly LONG_LINE_MAX bytes after it is fine.
    expect(diags(`\uFEFF${"#".padEnd(LONG_LINE_MAX, "c")}\n[S]\nK=v`)).toEqual([]);
    const p = parse("[S]\nK=v\uFEFF");
    expect(p.sections).toEqual(["S"]);
    expect(p.diagnostics).toEqual([]);
  });

  test("indented comments; CRLF before a continuation", () => {
    expect(kv("[S]\n   # note\n\t; note\nK=v\n")).toEqual([["K", "v", 4]]);
    expect(diags("[S]\n   # note\n")).toEqual([]);
    expect(kv("[S]\r\nK=a\\\r\nb\r\n")).toEqual([["K", "a b", 2]]);
  });

  test("a line of one backslash continues", () => {
    expect(kv("[S]\nK=a\\\n\\\nb\n")).toEqual([["K", "a  b", 2]]);
  });

  test("a continuation of exactly LONG_LINE_MAX bytes is read; one byte more is not", () => {
    const first = "K=x\\";
    const ok = parse(`[S]\n${first}\n${"y".repeat(LONG_LINE_MAX - first.length)}\n`);
    expect(ok.diagnostics).toEqual([]);
    expect(ok.assignments[0]!.value.length).toBe(LONG_LINE_MAX - first.length + 2);
    const over = parse(`[S]\n${first}\n${"y".repeat(LONG_LINE_MAX - first.length + 1)}\n`);
    expect(over.diagnostics.map((d) => [d.line, d.message])).toEqual([
      [2, `Continuation line too long (more than ${LONG_LINE_MAX} bytes, systemd's LONG_LINE_MAX), ignoring the rest of the file`],
    ]);
    const full = parse(`[S]\n${first}\n${"y".repeat(LONG_LINE_MAX)}\n`);
    expect(full.diagnostics.map((d) => d.line)).toEqual([2]);
  });
});
