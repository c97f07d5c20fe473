/**
 * The file-system side of enablement: reading the links of the unit directories and the preset
 * files, carrying out planned changes (relative symlinks), the first-boot marker, and a
 * UnitFiles view over a UnitLoader.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { errorCode } from "../core/errors.ts";
import type { UnitLoader } from "../unit/unit-loader.ts";
import { isValidUnitName } from "../unit/unit-name.ts";
import { PRESET_MARKER, type InstallLayout } from "./layout.ts";
import type { Change, Link } from "./links.ts";
import type { UnitFiles } from "./plan.ts";
import type { PresetFile } from "./preset.ts";

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A path with its symlinks resolved when it exists, as written otherwise. */
export function canonicalPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Where a symlink leads: absolute targets are inside the layout's root. */
export function linkTarget(layout: InstallLayout, path: string): string | null {
  let dest: string;
  try {
    dest = readlinkSync(path);
  } catch {
    return null;
  }
  if (dest === "/dev/null") return dest;
  const lexical = isAbsolute(dest) ? (layout.root ? join(layout.root, dest) : dest) : resolve(dirname(path), dest);
  return canonicalPath(lexical);
}

/** Every unit-name symlink at the top of the given directories and in their T.wants/, T.requires/, T.upholds/. */
export function scanLinks(layout: InstallLayout, dirs: readonly string[] = layout.searchPath): Link[] {
  const out: Link[] = [];
  const add = (p: string) => {
    const target = linkTarget(layout, p);
    if (target !== null) out.push({ path: p, target });
  };
  for (const dir of dirs) {
    for (const f of list(dir)) {
      const p = join(dir, f);
      if (/\.(wants|requires|upholds)$/.test(f)) {
        for (const g of list(p)) if (isValidUnitName(g) && isLink(join(p, g))) add(join(p, g));
      } else if (isValidUnitName(f) && isLink(p)) add(p);
    }
  }
  return out;
}

/** The *.preset files of each preset directory (a link to /dev/null: text null). */
export function readPresetFiles(layout: InstallLayout): PresetFile[][] {
  return layout.presetDirs.map((dir) =>
    list(dir)
      .filter((f) => f.endsWith(".preset"))
      .map((f) => {
        const path = join(dir, f);
        if (linkTarget(layout, path) === "/dev/null") return { name: f, path, text: null };
        try {
          return { name: f, path, text: readFileSync(path, "utf8") };
        } catch {
          return { name: f, path, text: null };
        }
      }),
  );
}

/** Carries out changes in order; returns a line per change in systemctl's words, or throws on the first failure. */
export function applyChanges(changes: readonly Change[]): string[] {
  const out: string[] = [];
  for (const c of changes) {
    if (c.kind === "unlink") {
      try {
        unlinkSync(c.path);
      } catch (e) {
        if (errorCode(e) !== "ENOENT") throw e;
      }
      out.push(`Removed '${c.path}'.`);
      continue;
    }
    mkdirSync(dirname(c.path), { recursive: true });
    const dest = c.target === "/dev/null" ? c.target : relative(dirname(c.path), c.target);
    if (c.replaces !== undefined) {
      unlinkSync(c.path);
      out.push(`Removed '${c.path}'.`);
    }
    symlinkSync(dest, c.path);
    out.push(`Created symlink '${c.path}' → '${c.target}'.`);
  }
  return out;
}

export function presetsApplied(layout: InstallLayout): boolean {
  return existsSync(join(layout.config, PRESET_MARKER));
}

export function markPresetsApplied(layout: InstallLayout, when: Date = new Date()): void {
  mkdirSync(layout.config, { recursive: true });
  writeFileSync(
    join(layout.config, PRESET_MARKER),
    `# Presets were applied here (bunit preset-all, ${when.toISOString()}): enablement comes from the symlinks alone.\n`,
  );
}

/** A UnitFiles view over a loader; paths are canonical so that they compare with link targets. */
export function loaderFiles(loader: UnitLoader): UnitFiles {
  return {
    locate: (name) => {
      const l = loader.locate(name);
      return { ...l, path: l.path === null ? null : canonicalPath(l.path), dir: l.dir };
    },
    install: (name) => {
      const u = loader.load(name);
      return u.loadState === "not-found" || u.loadState === "masked" ? null : u.install;
    },
  };
}
