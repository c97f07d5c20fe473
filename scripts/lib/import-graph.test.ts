import { describe, expect, test } from "bun:test";
import {
  analyse,
  backArrows,
  buildGraph,
  CHECK_LINES,
  findCycles,
  folderArrows,
  formatReport,
  layerOf,
  lineCount,
  resolveImport,
  scanImports,
  stronglyConnected,
} from "./import-graph.ts";

const specs = (src: string) => scanImports(src).map((r) => `${r.specifier}${r.typeOnly ? " type" : ""}${r.dynamic ? " dynamic" : ""}`);

describe("scanImports", () => {
  test("every form of static import and re-export, type-only ones marked", () => {
    const src = [
      "#!/usr/bin/env bun",
      'import a from "./a.ts";',
      'import * as b from "./b.ts";',
      'import { c, type C } from "./c.ts";',
      'import type { D } from "./d.ts";',
      'import { type E, type F as G } from "./e.ts";',
      'import "./side-effect.ts";',
      "import {",
      "  h,",
      "  i,",
      '} from "./multi-line.ts"',
      'export { j } from "./j.ts";',
      'export type { K } from "./k.ts";',
      'export * from "./l.ts";',
      'export * as m from "./m.ts";',
      "export { local };",
      "import n, { type N } from './single-quoted.ts';",
      'import { from } from "./named-from.ts";',
      'import type from "./default-named-type.ts";',
    ].join("\n");
    expect(specs(src)).toEqual([
      "./a.ts",
      "./b.ts",
      "./c.ts",
      "./d.ts type",
      "./e.ts type",
      "./side-effect.ts",
      "./multi-line.ts",
      "./j.ts",
      "./k.ts type",
      "./l.ts",
      "./m.ts",
      "./single-quoted.ts",
      "./named-from.ts",
      "./default-named-type.ts",
    ]);
  });

  test("imports inside comments, strings, templates and regular expressions are not imports", () => {
    const src = [
      '// import x from "./line-comment.ts";',
      '/* import x from "./block-comment.ts"; */',
      'const s = "import x from \\"./string.ts\\"";',
      'const t = `import x from "./template.ts" ${`nested ${"}"} import y from "./nested.ts"`}`;',
      'const r = /import x from "\\.\\/regex.ts"/;',
      "const q = a / b; const z = c / d; // two divisions, not a regular expression",
      "const u = import.meta.dir;",
      'const lazy = await import("./lazy.ts");',
      'import real from "./real.ts";',
    ].join("\n");
    expect(specs(src)).toEqual(["./lazy.ts dynamic", "./real.ts"]);
  });

  test("line numbers of declarations after multi-line comments and templates", () => {
    const src = '/*\n\n*/\nconst t = `\n${1}\n`;\nimport x from "./x.ts";\n';
    expect(scanImports(src)[0]!.line).toBe(7);
  });
});

describe("resolveImport", () => {
  const files = new Set(["core/clock.ts", "exec/spawn.ts", "exec/index.ts", "cli.ts"]);
  test("relative paths, with or without the extension, .js for .ts, folder index", () => {
    expect(resolveImport("exec/spawn.ts", "../core/clock.ts", files)).toBe("core/clock.ts");
    expect(resolveImport("exec/spawn.ts", "../core/clock", files)).toBe("core/clock.ts");
    expect(resolveImport("exec/spawn.ts", "../core/clock.js", files)).toBe("core/clock.ts");
    expect(resolveImport("cli.ts", "./exec", files)).toBe("exec/index.ts");
    expect(resolveImport("cli.ts", "./exec/./spawn.ts", files)).toBe("exec/spawn.ts");
  });
  test("packages, built-ins and files outside the set resolve to nothing", () => {
    expect(resolveImport("cli.ts", "node:fs", files)).toBeNull();
    expect(resolveImport("cli.ts", "zx", files)).toBeNull();
    expect(resolveImport("cli.ts", "./missing.ts", files)).toBeNull();
    expect(resolveImport("cli.ts", "../scripts/x.ts", files)).toBeNull();
  });
});

describe("cycles", () => {
  const arrows = (pairs: string) => pairs.split(" ").map((p) => ({ from: p.split(">")[0]!, to: p.split(">")[1]! }));

  test("strongly connected components", () => {
    const nodes = ["a", "b", "c", "d", "e"];
    expect(stronglyConnected(nodes, arrows("a>b b>c c>a c>d d>e"))).toEqual([["a", "b", "c"], ["d"], ["e"]]);
  });

  test("a cycle per component with more than one file, and a file that imports itself; one concrete path each", () => {
    const nodes = ["a", "b", "c", "d", "e", "f", "g"];
    const cycles = findCycles(nodes, arrows("a>b b>c c>a b>a d>d e>f f>g"));
    expect(cycles).toEqual([
      { files: ["a", "b", "c"], path: ["a", "b", "a"] },
      { files: ["d"], path: ["d", "d"] },
    ]);
  });

  test("the path follows real arrows around a longer cycle", () => {
    const a = arrows("a>b b>c c>d d>a b>x");
    const [cycle] = findCycles(["a", "b", "c", "d", "x"], a);
    expect(cycle!.path).toEqual(["a", "b", "c", "d", "a"]);
    for (let k = 0; k + 1 < cycle!.path.length; k++) expect(a).toContainEqual({ from: cycle!.path[k]!, to: cycle!.path[k + 1]! });
  });

  test("a deep chain does not overflow (iterative search)", () => {
    const nodes = Array.from({ length: 20000 }, (_, k) => `n${String(k).padStart(5, "0")}`);
    const chain = nodes.slice(1).map((n, k) => ({ from: nodes[k]!, to: n }));
    expect(findCycles(nodes, chain)).toEqual([]);
    expect(findCycles(nodes, [...chain, { from: nodes[nodes.length - 1]!, to: nodes[0]! }])[0]!.files.length).toBe(20000);
  });
});

describe("folders and layers", () => {
  const sources = new Map([
    ["cli.ts", 'import { x } from "./core/a.ts";'],
    ["core/a.ts", 'import type { S } from "../service/s.ts";\nimport { b } from "./b.ts";'],
    ["core/b.ts", ""],
    ["service/s.ts", 'import { a } from "../core/a.ts";\nimport { n } from "../extra/n.ts";'],
    ["extra/n.ts", ""],
  ]);

  test("a file's layer is its first folder, or its name at the top", () => {
    expect(layerOf("core/a.ts")).toBe("core");
    expect(layerOf("usb/deep/x.ts")).toBe("usb");
    expect(layerOf("cli.ts")).toBe("cli.ts");
  });

  test("arrows between folders, counted, with type-only ones; back arrows by the layer order", () => {
    const arrows = folderArrows(buildGraph(sources).edges);
    expect(arrows.map(({ edges: _, ...a }) => a)).toEqual([
      { from: "cli.ts", to: "core", imports: 1, typeOnly: 0 },
      { from: "core", to: "service", imports: 1, typeOnly: 1 },
      { from: "service", to: "core", imports: 1, typeOnly: 0 },
      { from: "service", to: "extra", imports: 1, typeOnly: 0 },
    ]);
    const back = backArrows(arrows, ["core", "service", "cli.ts"]);
    expect(back.map((a) => `${a.from}>${a.to}`)).toEqual(["core>service"]);
    expect(back[0]!.edges).toEqual([{ from: "core/a.ts", to: "service/s.ts", typeOnly: true, line: 1 }]);
  });

  test("the report: a type-only import still closes a cycle; unlisted layers are named; the check fails", () => {
    const r = analyse(sources, ["core", "service", "cli.ts"]);
    expect(r.cycles).toEqual([{ files: ["core/a.ts", "service/s.ts"], path: ["core/a.ts", "service/s.ts", "core/a.ts"] }]);
    expect(r.unlayered).toEqual(["extra"]);
    expect(r.folderCycles).toEqual([["core", "service"]]);
    expect(r.check.ok).toBe(false);
    expect(r.check.problems).toEqual(["cycle: core/a.ts -> service/s.ts -> core/a.ts"]);
    const text = formatReport(r, "firmware/");
    expect(text).toContain("cycles (file level): 1");
    expect(text).toContain("e.g. core/a.ts -> service/s.ts -> core/a.ts");
    expect(text).toContain("core/a.ts:1 -> service/s.ts (type)");
  });

  test("largest files, flagged over 500 lines; the check fails over 550", () => {
    const big = new Map([
      ["a.ts", "x\n".repeat(501)],
      ["b.ts", "x\n".repeat(CHECK_LINES)],
      ["c.ts", "x\n".repeat(CHECK_LINES + 1)],
      ["d.ts", "x"],
    ]);
    const r = analyse(big, [], 3);
    expect(r.largest).toEqual([
      { file: "c.ts", lines: 551, flagged: true },
      { file: "b.ts", lines: 550, flagged: true },
      { file: "a.ts", lines: 501, flagged: true },
    ]);
    expect(r.check.problems).toEqual(["c.ts: 551 lines (limit 550)"]);
    expect(analyse(new Map([["d.ts", "x"]])).check).toEqual({ ok: true, problems: [] });
  });

  test("line counts as wc -l would give them, a last line without newline included", () => {
    expect(lineCount("")).toBe(0);
    expect(lineCount("a")).toBe(1);
    expect(lineCount("a\nb\n")).toBe(2);
    expect(lineCount("a\n\nb")).toBe(3);
  });
});
