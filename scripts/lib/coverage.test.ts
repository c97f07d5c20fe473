import { describe, expect, test } from "bun:test";
import { coverageReport, executableLines, folderOf, formatCoverage, parseLcov, percent } from "./coverage.ts";

describe("parseLcov", () => {
  test("LF/LH per file; counted from DA lines when a record has no LF/LH", () => {
    const text = [
      "TN:",
      "SF:firmware/a.ts",
      "FNF:1",
      "DA:1,1",
      "DA:2,0",
      "DA:3,4",
      "LF:3",
      "LH:2",
      "end_of_record",
      "TN:",
      "SF:firmware/core/b.ts",
      "DA:5,0",
      "DA:6,2",
      "end_of_record",
      "",
    ].join("\n");
    expect([...parseLcov(text)]).toEqual([
      ["firmware/a.ts", { found: 3, hit: 2 }],
      ["firmware/core/b.ts", { found: 2, hit: 1 }],
    ]);
  });
});

describe("executableLines", () => {
  const lines = (src: string) => executableLines(src.replace(/^\n/, ""));

  test("comments, blank lines, type declarations and type-only imports do not count; value imports count once", () => {
    const src = `
/**
 * A module.
 */
import type { A } from "./a.ts";
import { type B, type C } from "./b.ts";
import {
  d,
  type E,
} from "./d.ts";
export type { F } from "./f.ts";

export interface G {
  x: number;
}
type H =
  | "a"
  | "b";
// a comment
export const K = 1;
`;
    expect(lines(src)).toEqual([6, 19]);
  });

  test("a closing brace of a block does not count; the end of an expression does", () => {
    const src = `
export function f(x: number): number {
  const o = {
    a: 1,
  };
  const g = () => {
    return x;
  };
  call(() => {
    x++;
  });
  if (x) {
    return 1;
  }
  return o.a;
}
class K {
  constructor(
    private readonly y: number,
  ) {}
}
`;
    expect(lines(src)).toEqual([1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 16, 17, 18]);
  });

  test("a file of types only has no executable line; a shebang is not code", () => {
    expect(executableLines("export interface A {\n  b: string;\n}\nexport type C = A | null;\n")).toEqual([]);
    expect(executableLines('#!/usr/bin/env bun\nimport { x } from "./x.ts";\nx();\n')).toEqual([2, 3]);
  });
});

describe("coverageReport", () => {
  const sources = new Map([
    ["cli.ts", 'import { x } from "./core/a.ts";\nx();\n'],
    ["core/a.ts", "export function x() {\n  return 1;\n}\n"],
    ["core/b.ts", "export const b = 1;\nexport const c = 2;\n"],
    ["daemon/m.ts", "export const m = 1;\n"],
  ]);
  const lcov = new Map([
    ["firmware/cli.ts", { found: 2, hit: 2 }],
    ["firmware/core/a.ts", { found: 2, hit: 1 }],
    ["scripts/lib/x.ts", { found: 10, hit: 10 }],
  ]);

  test("files no test loads count with 0 of their lines; files outside the tree are left out", () => {
    const r = coverageReport(sources, lcov, "firmware/");
    expect(r.rows).toEqual([
      { folder: ".", files: 1, loaded: 1, found: 2, hit: 2 },
      { folder: "core", files: 2, loaded: 1, found: 4, hit: 1 },
      { folder: "daemon", files: 1, loaded: 0, found: 1, hit: 0 },
    ]);
    expect(r.total).toEqual({ folder: "total", files: 4, loaded: 2, found: 7, hit: 3 });
    expect(r.loadedOnly).toEqual({ found: 4, hit: 3 });
    expect(r.unloaded).toEqual([
      { file: "core/b.ts", found: 2 },
      { file: "daemon/m.ts", found: 1 },
    ]);
    const text = formatCoverage(r, "firmware/");
    expect(text).toContain("total       4       2      7        3         42.9 %");
    expect(text).toContain("over the 2 files the tests load (what bun reports): 75.0 % of 4 lines");
    expect(text).toContain("not loaded by any test (2, lines counted): core/b.ts 2, daemon/m.ts 1");
  });

  test("folders and percentages", () => {
    expect(folderOf("cli.ts")).toBe(".");
    expect(folderOf("usb/x/y.ts")).toBe("usb");
    expect(percent(1, 3)).toBe("33.3 %");
    expect(percent(0, 0)).toBe("-");
  });
});
