/**
 * The architecture rules of firmware/, checked on every test run: no import cycle between its
 * files (`import type` included) and no source file over 550 lines (the guide's ~500), which is
 * what `bun scripts/import-graph.ts --check` checks; the script prints the whole graph.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { readTree } from "./import-graph.ts";
import { analyse, CHECK_LINES } from "./lib/import-graph.ts";
import { repoRoot } from "./lib/paths.ts";

const report = analyse(readTree(join(repoRoot, "firmware")));

test("firmware/ has no import cycle between files (import type included)", () => {
  expect(report.files).toBeGreaterThan(50);
  expect(report.cycles.map((c) => c.path.join(" -> "))).toEqual([]);
});

test(`no firmware/ source file is over ${CHECK_LINES} lines`, () => {
  expect(report.largest.filter((f) => f.lines > CHECK_LINES).map((f) => `${f.file}: ${f.lines}`)).toEqual([]);
});

test("bun scripts/import-graph.ts --check agrees (exit 0)", () => {
  const r = Bun.spawnSync([process.execPath, join(repoRoot, "scripts/import-graph.ts"), "--check"], { cwd: repoRoot });
  expect(r.stdout.toString()).toContain("check: ok");
  expect(r.exitCode).toBe(0);
});
