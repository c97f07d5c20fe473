/**
 * The daemon and CLI as shipped: firmware/cli.ts and everything it imports bundled into one
 * CommonJS file, with JavaScriptCore's bytecode for it beside it (bunit.js.jsc), which Bun
 * uses instead of parsing and compiling the source when its JSC build matches (a mismatch, e.g.
 * another Bun version, falls back to the source silently). Loading one pre-compiled file instead
 * of ~130 TypeScript modules is most of the daemon's start-up time (measured in test/bench/:
 * `npm run bench startup`). Images install it as /usr/lib/bunit/bunit.js; the sources stay
 * beside it for the libraries services import (firmware/lib/, firmware/usb/).
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot } from "./paths.ts";

/** Builds the bundle at outFile (and outFile + ".jsc"); returns outFile. */
export async function buildBundle(outFile: string): Promise<string> {
  const dir = dirname(outFile);
  mkdirSync(dir, { recursive: true });
  for (const f of [outFile, `${outFile}.jsc`]) if (existsSync(f)) rmSync(f);
  const r = await Bun.build({
    entrypoints: [join(repoRoot, "firmware/cli.ts")],
    target: "bun",
    format: "cjs",
    bytecode: true,
    // Identifiers kept: stack traces and error names stay readable.
    minify: { syntax: true, whitespace: true, identifiers: false },
    outdir: dir,
    naming: outFile.slice(dir.length + 1),
  });
  if (!r.success) throw new Error(`bundling firmware/cli.ts failed:\n${r.logs.map(String).join("\n")}`);
  if (!existsSync(outFile) || !existsSync(`${outFile}.jsc`)) throw new Error(`bundling firmware/cli.ts wrote no ${outFile}(.jsc)`);
  return outFile;
}

if (import.meta.main) {
  const out = process.argv[2] ?? join(repoRoot, "build/bundle/bunit.js");
  console.log(await buildBundle(out));
}
