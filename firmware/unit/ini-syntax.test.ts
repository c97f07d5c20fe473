import { describe, expect, test } from "bun:test";
import { parseUnitText } from "./ini-syntax.ts";

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
    expect(p.diagnostics.map((d) => [d.level, d.line])).toEqual([["warning", 1], ["error", 3], ["error", 4], ["error", 5]]);
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
});
