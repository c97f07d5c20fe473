/**
 * Where enablement lives (systemctl's "unit configuration directory", systemd.preset(5)'s
 * preset directories), derived from the unit search path. Pure.
 *
 * - The configuration directory is the first directory of the search path (/etc/bunit/units by
 *   default, the first `--units DIR` otherwise), as /etc/systemd/system is for systemd: `enable`
 *   writes its NAME.wants/, NAME.requires/ and alias symlinks there.
 * - The runtime configuration directory (`--runtime`, "enabled-runtime") is the search path's
 *   directory under /run, when there is one besides the configuration directory.
 * - Every other directory of the search path is a vendor directory: symlinks there enable units
 *   too (the loader reads them), but `disable` leaves them alone and `is-enabled` calls such
 *   units "static", as systemd does for /usr/lib/systemd/system.
 * - Preset files are read from `system-preset/` beside each unit directory (/etc/bunit/units ->
 *   /etc/bunit/system-preset, /run/bunit/system-preset, /usr/lib/bunit/system-preset).
 * - The first-boot marker (PRESET_MARKER) in the configuration directory says that presets were
 *   applied: without it, the configuration is treated as a first boot (see first-boot.ts).
 *
 * With a root directory (`--root DIR`, image builds), every path is under it; the symlinks
 * written are relative, so they resolve the same in the image and on the build host.
 */
import { dirname, join } from "node:path";

export const PRESET_MARKER = ".bunit-presets-applied";

export interface InstallLayout {
  /** A directory every path is under ("" for the running system). */
  root: string;
  /** The unit search path, root included. */
  searchPath: string[];
  config: string;
  runtime: string | null;
  presetDirs: string[];
}

function under(root: string, p: string): string {
  return root ? join(root, p) : p;
}

/** The layout for a search path given as it is seen from inside root (or with no root). */
export function installLayout(searchPath: readonly string[], root = ""): InstallLayout {
  if (searchPath.length === 0) throw new Error("empty unit search path");
  const dirs = searchPath.map((d) => under(root, d));
  const runtimeIndex = searchPath.findIndex((d, i) => i > 0 && (d === "/run" || d.startsWith("/run/")));
  const presetDirs: string[] = [];
  for (const d of dirs) {
    const p = join(dirname(d), "system-preset");
    if (!presetDirs.includes(p)) presetDirs.push(p);
  }
  return { root, searchPath: dirs, config: dirs[0]!, runtime: runtimeIndex > 0 ? dirs[runtimeIndex]! : null, presetDirs };
}

export type DirKind = "config" | "runtime" | "vendor";

export function dirKind(layout: InstallLayout, dir: string): DirKind {
  if (dir === layout.config) return "config";
  if (dir === layout.runtime) return "runtime";
  return "vendor";
}

/** Whether a path (root included) is under /run inside the root. */
export function isRuntimePath(layout: InstallLayout, path: string): boolean {
  const inner = layout.root ? path.slice(layout.root.length) : path;
  return inner === "/run" || inner.startsWith("/run/");
}
