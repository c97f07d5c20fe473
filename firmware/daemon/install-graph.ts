/**
 * What enablement adds to the unit graph beyond the symlinks the loader reads (NAME.wants/,
 * NAME.requires/, NAME.upholds/ as LoadedUnit.dirWants/dirRequires).
 *
 * Enablement is systemd's: a unit is pulled in by a target because a link says so, made by
 * `bunit enable` or `bunit preset-all` (firmware/install/), not because its [Install] section
 * names the target. Before presets were ever applied to the configuration directory (no
 * marker: a first boot, a fresh test directory), the graph is what preset-all would make of
 * it, computed here without writing anything: with no preset files, every unit with install
 * rules is enabled, which is what bunit did before enablement existed. `bunit daemon` applies
 * the presets on disk at its first start (install/operations.ts firstBoot()).
 */
import { basename } from "node:path";
import { presetsApplied } from "../install/disk.ts";
import { installLayout } from "../install/layout.ts";
import { LinkSet, linkPlace } from "../install/links.ts";
import { presetRules } from "../install/operations.ts";
import { planPreset, type UnitFiles } from "../install/plan.ts";
import type { PresetRule } from "../install/preset.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";

/** A UnitFiles view over the manager's loaded units. */
function graphFiles(load: (n: string) => LoadedUnit): UnitFiles {
  const gone = (u: LoadedUnit) => u.loadState === "not-found" || u.loadState === "masked";
  return {
    locate: (name) => {
      const u = load(name);
      return { path: gone(u) ? null : (u.fragmentPath ?? null), masked: u.loadState === "masked", canonical: u.name, dir: null, link: false };
    },
    install: (name) => {
      const u = load(name);
      return gone(u) ? null : u.install;
    },
  };
}

/**
 * The wants/requires a first boot's presets would add: none once presets were applied to the
 * configuration directory (the first directory of searchPath). Without a search path (callers
 * that have none), the presets are "enable everything".
 */
export function installedDependencies(
  names: readonly string[],
  load: (n: string) => LoadedUnit,
  searchPath?: readonly string[],
): { wants: Map<string, string[]>; requires: Map<string, string[]> } {
  const wants = new Map<string, string[]>();
  const requires = new Map<string, string[]>();
  let rules: PresetRule[] = [];
  let dir = "/enablement";
  if (searchPath?.length) {
    const layout = installLayout(searchPath);
    if (presetsApplied(layout)) return { wants, requires };
    rules = presetRules(layout).rules;
    dir = layout.config;
  }
  const set = new LinkSet();
  planPreset(set, graphFiles(load), dir, names, rules, { unitDirs: [dir] });
  for (const c of set.changes) {
    const place = c.kind === "link" ? linkPlace(c, [dir]) : null;
    if (!place?.owner) continue;
    const m = place.suffix === "requires" ? requires : wants;
    const l = m.get(place.owner) ?? [];
    const unit = basename(c.path);
    if (!l.includes(unit)) l.push(unit);
    m.set(place.owner, l);
  }
  return { wants, requires };
}
