/**
 * enable, disable, reenable, preset, preset-all and is-enabled on a unit search path (or an
 * image's, with a root), and the first-boot rule: a configuration directory without the
 * marker gets preset-all (no preset files: every unit with install rules enabled) before
 * anything else changes it. Plans come from plan.ts, the disk work from disk.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostFacts } from "../unit/specifiers.ts";
import { UnitLoader } from "../unit/unit-loader.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { applyChanges, loaderFiles, markPresetsApplied, presetsApplied, readPresetFiles, scanLinks } from "./disk.ts";
import type { InstallLayout } from "./layout.ts";
import { LinkSet } from "./links.ts";
import { planDisable, planEnable, planPreset, type PlanReport, type PresetMode, type UnitFiles } from "./plan.ts";
import { orderPresetFiles, parsePresets, type PresetRule } from "./preset.ts";
import { unitFileState, type UnitFileState } from "./state.ts";

export interface InstallOptions {
  /** Change the runtime directory (/run/...) instead of the configuration directory. */
  runtime?: boolean;
  force?: boolean;
  mode?: PresetMode;
  host?: HostFacts;
}

export interface InstallResult {
  /** What was done, a line per symlink ("Created symlink ...", "Removed ..."). */
  lines: string[];
  errors: string[];
  warnings: string[];
}

export type InstallVerb = "enable" | "disable" | "reenable" | "preset" | "preset-all";

export function presetRules(layout: InstallLayout): { rules: PresetRule[]; problems: string[] } {
  const { rules, problems } = parsePresets(orderPresetFiles(readPresetFiles(layout)));
  return { rules, problems: problems.map((p) => `${p.file}:${p.line}: ${p.message}`) };
}

function filesOf(layout: InstallLayout, opts: InstallOptions): UnitFiles {
  return loaderFiles(new UnitLoader(layout.searchPath, opts.host ?? hostFacts()));
}

/** Every unit file name in the search path (what preset-all goes through). */
export function unitFileNames(layout: InstallLayout, opts: InstallOptions = {}): string[] {
  return new UnitLoader(layout.searchPath, opts.host ?? hostFacts()).listNames();
}

function targetDir(layout: InstallLayout, opts: InstallOptions): string {
  if (!opts.runtime) return layout.config;
  if (!layout.runtime) throw new Error("--runtime: the unit search path has no directory under /run");
  return layout.runtime;
}

/** Plans on the directory's links, then carries the changes out (nothing when the plan has errors). */
function run(layout: InstallLayout, opts: InstallOptions, plan: (set: LinkSet, files: UnitFiles, dir: string) => PlanReport): InstallResult {
  const dir = targetDir(layout, opts);
  const set = new LinkSet(scanLinks(layout, [dir]));
  const report = plan(set, filesOf(layout, opts), dir);
  if (report.errors.length) return { lines: [], ...report };
  return { lines: applyChanges(set.changes), ...report };
}

function merge(a: InstallResult, b: InstallResult): InstallResult {
  return { lines: [...a.lines, ...b.lines], errors: [...a.errors, ...b.errors], warnings: [...a.warnings, ...b.warnings] };
}

/**
 * First boot: when the configuration directory has no marker yet, preset-all there and leave
 * the marker. Returns null when presets were applied before.
 */
export function firstBoot(layout: InstallLayout, opts: InstallOptions = {}): InstallResult | null {
  if (presetsApplied(layout)) return null;
  const r = presetAll(layout, { ...opts, runtime: false });
  if (!r.errors.length) markPresetsApplied(layout);
  return r;
}

export function presetAll(layout: InstallLayout, opts: InstallOptions = {}): InstallResult {
  const { rules, problems } = presetRules(layout);
  const names = unitFileNames(layout, opts);
  const r = run(layout, opts, (set, files, dir) =>
    planPreset(set, files, dir, names, rules, { unitDirs: layout.searchPath, force: opts.force, mode: opts.mode }),
  );
  if (!r.errors.length && !opts.runtime) markPresetsApplied(layout);
  return { ...r, warnings: [...problems, ...r.warnings] };
}

/** enable, disable, reenable, preset (preset-all: see presetAll). A first boot is completed first. */
export function changeEnablement(
  verb: Exclude<InstallVerb, "preset-all">,
  layout: InstallLayout,
  names: readonly string[],
  opts: InstallOptions = {},
): InstallResult {
  const first = opts.runtime ? null : firstBoot(layout, opts);
  if (first?.errors.length) return first;
  const unitDirs = layout.searchPath;
  const force = opts.force ?? false;
  let r: InstallResult;
  if (verb === "enable") r = run(layout, opts, (set, files, dir) => planEnable(set, files, dir, names, { unitDirs, force }));
  else if (verb === "disable") r = run(layout, opts, (set, files, dir) => planDisable(set, files, dir, names, { unitDirs }));
  else if (verb === "reenable")
    r = run(layout, opts, (set, files, dir) => {
      const d = planDisable(set, files, dir, names, { unitDirs });
      const e = planEnable(set, files, dir, names, { unitDirs, force });
      return { errors: [...d.errors, ...e.errors], warnings: [...d.warnings, ...e.warnings] };
    });
  else {
    const { rules, problems } = presetRules(layout);
    r = run(layout, opts, (set, files, dir) => planPreset(set, files, dir, names, rules, { unitDirs, force, mode: opts.mode }));
    r = { ...r, warnings: [...problems, ...r.warnings] };
  }
  if (!r.errors.length && !opts.runtime) markPresetsApplied(layout);
  return first ? merge(first, r) : r;
}

/** is-enabled: read-only; before a first boot, the state the first boot would give. */
export function enablementStates(layout: InstallLayout, names: readonly string[], opts: InstallOptions = {}): UnitFileState[] {
  const files = filesOf(layout, opts);
  const set = new LinkSet(scanLinks(layout));
  if (!presetsApplied(layout)) {
    const { rules } = presetRules(layout);
    planPreset(set, files, layout.config, unitFileNames(layout, opts), rules, { unitDirs: layout.searchPath });
  }
  const links = set.all();
  return names.map((n) => unitFileState(n, files, links, layout));
}

/**
 * For image builds: the board's preset lines become ROOT/etc/bunit/system-preset/50-board.preset
 * (ahead of any vendor file named later), then preset-all runs on the image's configuration.
 */
export function presetImage(layout: InstallLayout, boardPresets: readonly string[], opts: InstallOptions = {}): InstallResult {
  if (boardPresets.length) {
    const dir = layout.presetDirs[0]!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "50-board.preset"), `# From the board configuration's presets.\n${boardPresets.join("\n")}\n`);
  }
  return presetAll(layout, opts);
}
