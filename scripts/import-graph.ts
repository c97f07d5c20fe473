#!/usr/bin/env bun
/**
 * The import graph of firmware/: file-level cycles, arrows between folders and those that run
 * back up the layer order (FIRMWARE_LAYERS in scripts/lib/import-graph.ts), the largest files.
 *
 *   bun scripts/import-graph.ts [--json] [--check] [--root DIR]
 *
 *   --json   the report as JSON
 *   --check  exit 1 when a file-level cycle exists or a file is over 550 lines
 *   --root   another tree to read (default: firmware/ of this checkout), e.g. an exported commit
 *
 * Test files (*.test.ts) are left out; `import type` counts as an arrow.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { analyse, formatReport } from "./lib/import-graph.ts";
import { repoRoot } from "./lib/paths.ts";

/** Every .ts file under root that is not a test, path relative to root with "/" separators. */
export function readTree(root: string): Map<string, string> {
  const sources = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".test.ts")) continue;
    const abs = join(entry.parentPath, entry.name);
    if (abs.split(sep).includes("node_modules")) continue;
    sources.set(relative(root, abs).split(sep).join("/"), readFileSync(abs, "utf8"));
  }
  return sources;
}

function main(argv: string[]): number {
  let json = false;
  let check = false;
  let root = join(repoRoot, "firmware");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--check") check = true;
    else if (a === "--root" && argv[i + 1]) root = resolve(argv[++i]!);
    else {
      console.error(`usage: bun scripts/import-graph.ts [--json] [--check] [--root DIR]  (unknown argument ${a})`);
      return 2;
    }
  }
  const report = analyse(readTree(root));
  const name = relative(repoRoot, root) || ".";
  console.log(json ? JSON.stringify(report, null, 2) : formatReport(report, `${name.startsWith("..") ? root : name}/`));
  return check && !report.check.ok ? 1 : 0;
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
