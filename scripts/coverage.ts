#!/usr/bin/env bun
/**
 * Line coverage of the unit tier counted over every source file under firmware/: runs
 * `bun test --coverage` (lcov, into a temporary directory) over firmware/ and scripts/, then
 * adds each source file no test loads with 0 of its lines covered, and prints a table per folder.
 *
 *   bun scripts/coverage.ts [--json] [--quiet] [TEST PATHS...]    (npm run coverage)
 *
 *   --quiet  no test output unless a test fails
 *   --json   the report as JSON
 *
 * Exits 1 when a test fails (the report is printed all the same). No coverage threshold yet.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTree } from "./import-graph.ts";
import { type CoverageReport, coverageReport, formatCoverage, parseLcov } from "./lib/coverage.ts";
import { repoRoot } from "./lib/paths.ts";

export const UNIT_TIER = ["firmware", "scripts"];

export interface CoverageRun {
  testsPassed: boolean;
  report: CoverageReport;
  text: string;
}

/** Runs the tests with coverage and counts it over every firmware/ source file. */
export async function runCoverage(paths: string[] = UNIT_TIER, quiet = false): Promise<CoverageRun> {
  const dir = mkdtempSync(join(tmpdir(), "bunit-coverage-"));
  try {
    const proc = Bun.spawn([process.execPath, "test", "--coverage", "--coverage-reporter=lcov", `--coverage-dir=${dir}`, ...paths], {
      cwd: repoRoot,
      stdout: quiet ? "pipe" : "inherit",
      stderr: quiet ? "pipe" : "inherit",
    });
    const [out, err] = quiet ? await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]) : ["", ""];
    const testsPassed = (await proc.exited) === 0;
    if (quiet && !testsPassed) process.stderr.write(out + err);
    let lcovText = "";
    try {
      lcovText = readFileSync(join(dir, "lcov.info"), "utf8");
    } catch {
      throw new Error(`bun test --coverage wrote no ${join(dir, "lcov.info")}`);
    }
    const report = coverageReport(readTree(join(repoRoot, "firmware")), parseLcov(lcovText), "firmware/");
    return { testsPassed, report, text: formatCoverage(report, "firmware/") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const quiet = args.includes("--quiet") || json;
  const paths = args.filter((a) => !a.startsWith("--"));
  const run = await runCoverage(paths.length ? paths : UNIT_TIER, quiet);
  console.log(json ? JSON.stringify({ testsPassed: run.testsPassed, ...run.report }, null, 2) : `\n${run.text}`);
  if (!run.testsPassed) console.error("\nsome tests failed (coverage above is of that run)");
  process.exit(run.testsPassed ? 0 : 1);
}
