/**
 * `bunit clean UNIT [--what=...]` (systemctl clean): which of a unit's directories
 * (RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory=, ConfigurationDirectory=)
 * a clean removes. Pure: the daemon removes the paths, refusing while the unit runs.
 */
import { join } from "node:path";
import type { DirectoryRoots } from "../exec/exec-directories.ts";
import type { ExecContext } from "../unit/exec-context.ts";

export const CLEAN_WHAT = ["configuration", "state", "cache", "logs", "runtime", "fdstore", "all"] as const;
export type CleanWhat = (typeof CLEAN_WHAT)[number];

/** systemctl's default: the runtime and cache directories. */
export const DEFAULT_CLEAN: readonly CleanWhat[] = ["runtime", "cache"];

export function isCleanWhat(s: string): s is CleanWhat {
  return (CLEAN_WHAT as readonly string[]).includes(s);
}

/** The directories a clean of these kinds removes (fdstore: none, bunit keeps no fd store across stops). */
export function cleanPaths(e: ExecContext, roots: DirectoryRoots, what: readonly CleanWhat[]): string[] {
  const all = what.includes("all");
  const kinds: [CleanWhat, string[], string][] = [
    ["runtime", e.runtimeDirectory, roots.runtime],
    ["state", e.stateDirectory, roots.state],
    ["cache", e.cacheDirectory, roots.cache],
    ["logs", e.logsDirectory, roots.logs],
    ["configuration", e.configurationDirectory, roots.config],
  ];
  const out: string[] = [];
  for (const [kind, names, root] of kinds) {
    if (!all && !what.includes(kind)) continue;
    for (const n of names) {
      // Directory names are relative and checked by the parser; a name leaving its root is never removed.
      if (n === "" || n.startsWith("/") || n.split("/").includes("..")) continue;
      out.push(join(root, n));
    }
  }
  return out;
}
