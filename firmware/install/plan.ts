/**
 * What `enable`, `disable` and `preset` do to the enablement symlinks (systemctl(1), the
 * [Install] section of systemd.unit(5)), computed on a LinkSet. Pure: unit files come from a
 * UnitFiles view, the resulting changes are carried out by disk.ts.
 *
 * enable UNIT: for WantedBy=T, RequiredBy=T, UpheldBy=T a link T.wants/NAME, T.requires/NAME,
 * T.upholds/NAME; for Alias=A a link A, all in the chosen directory and pointing to the unit
 * file; Also= units are enabled with it. A template is enabled as its DefaultInstance= (or the
 * instances a preset names): links named foo@inst.service point to foo@.service; a template
 * target (WantedBy=bar@.target) takes the unit's instance.
 * disable UNIT: every link in the directory to the unit file or named after the unit (an
 * instance: only links with its name), with its Also= units; masks stay. A unit file that is
 * itself a link in the directory ("linked") is not removed (systemd would remove it).
 */
import { basename, join } from "node:path";
import type { InstallSection } from "../unit/unit-section.ts";
import { instantiate, parseUnitName } from "../unit/unit-name.ts";
import { linkPlace, type LinkSet } from "./links.ts";
import { presetFor, type PresetRule } from "./preset.ts";

export interface UnitLocation {
  /** The unit file (the template's for instances); null when not found or masked. */
  path: string | null;
  masked: boolean;
  /** The unit's real name (an alias resolves to the file's own name). */
  canonical: string;
  /** The unit directory the name was found in, and whether the entry there is a symlink. */
  dir: string | null;
  link: boolean;
}

export interface UnitFiles {
  locate(name: string): UnitLocation;
  /** The [Install] section of a unit, or of an instance of a template; null when unreadable. */
  install(name: string): InstallSection | null;
}

export interface PlanReport {
  errors: string[];
  warnings: string[];
}

export const NO_INSTALL_WARNING =
  "The unit files have no installation config (WantedBy=, RequiredBy=, UpheldBy=, Also=, or Alias= settings in the [Install] section, and DefaultInstance= for template units). This means they are not meant to be enabled or disabled using bunit.";

export function hasInstallRules(i: InstallSection): boolean {
  return i.wantedBy.length + i.requiredBy.length + i.upheldBy.length + i.alias.length > 0;
}

export function hasInstallInfo(i: InstallSection | null): boolean {
  return !!i && (hasInstallRules(i) || i.also.length > 0);
}

interface Ctx {
  set: LinkSet;
  files: UnitFiles;
  dir: string;
  force: boolean;
  report: PlanReport;
  done: Set<string>;
  unitDirs: readonly string[];
}

/** A unit name the user gave, resolved: its real name and file, or an error. */
function resolveName(ctx: Ctx, name: string): { real: string; path: string } | null {
  const loc = ctx.files.locate(name);
  if (loc.masked) {
    ctx.report.errors.push(`Unit file ${name} is masked.`);
    return null;
  }
  if (!loc.path) {
    ctx.report.errors.push(`Unit file ${name} does not exist.`);
    return null;
  }
  return { real: loc.canonical, path: loc.path };
}

function linkOrConflict(ctx: Ctx, path: string, target: string): void {
  if (!ctx.set.link(path, target, ctx.force))
    ctx.report.errors.push(`Failed to enable unit: File ${path} already exists and is a symlink to ${ctx.set.get(path)}.`);
}

/** Enables one unit (and its Also=); instances override DefaultInstance= for a template. Returns whether it had install info. */
function enableOne(ctx: Ctx, name: string, instances?: readonly string[]): boolean {
  const r = resolveName(ctx, name);
  if (!r) return true;
  const id = parseUnitName(r.real);
  if (!id) return true;
  const key = `${r.real} ${instances?.join(" ") ?? ""}`;
  if (ctx.done.has(key)) return true;
  ctx.done.add(key);
  let targets: string[] = [r.real];
  if (id.instance === "") {
    const tplInstall = ctx.files.install(r.real);
    const insts = instances?.length ? instances : tplInstall?.defaultInstance ? [tplInstall.defaultInstance] : [];
    targets = insts.map((i) => instantiate(r.real, i));
    if (!targets.length) {
      // No instance to enable: only the template's Alias= (as templates) and Also= apply.
      const inst = tplInstall;
      if (!inst) return false;
      for (const a of inst.alias) addAlias(ctx, r, a, null);
      for (const a of inst.also) enableOne(ctx, a);
      if (inst.wantedBy.length + inst.requiredBy.length + inst.upheldBy.length)
        ctx.report.warnings.push(`${r.real} is a template without DefaultInstance=: name an instance (${id.prefix}@INSTANCE.${id.type}) to enable it.`);
      return hasInstallInfo(inst);
    }
  }
  let info = false;
  for (const unit of targets) {
    const inst = ctx.files.install(unit);
    if (!inst) continue;
    info ||= hasInstallInfo(inst);
    const uid = parseUnitName(unit)!;
    const deps: [string[], string][] = [
      [inst.wantedBy, "wants"],
      [inst.requiredBy, "requires"],
      [inst.upheldBy, "upholds"],
    ];
    for (const [list, suffix] of deps) {
      for (const t of list) {
        const tid = parseUnitName(t);
        if (!tid) continue;
        let target = t;
        if (tid.instance === "") {
          if (!uid.instance) {
            ctx.report.warnings.push(`${unit}: cannot pull in ${t} without an instance; ignoring.`);
            continue;
          }
          target = instantiate(t, uid.instance);
        }
        linkOrConflict(ctx, join(ctx.dir, `${target}.${suffix}`, unit), r.path);
      }
    }
    for (const a of inst.alias) addAlias(ctx, r, a, uid.instance);
    for (const a of inst.also) enableOne(ctx, a);
  }
  return info;
}

function addAlias(ctx: Ctx, r: { real: string; path: string }, alias: string, instance: string | null): void {
  const aid = parseUnitName(alias);
  const rid = parseUnitName(r.real)!;
  if (!aid || aid.type !== rid.type || (aid.instance === null) !== (rid.instance === null)) {
    ctx.report.errors.push(
      `Failed to enable unit: invalid unit alias "${alias}" for ${r.real}: ${aid && aid.type !== rid.type ? "the type differs" : "a template's alias must be a template"}.`,
    );
    return;
  }
  const name = aid.instance === "" && instance ? instantiate(alias, instance) : alias;
  if (name === r.real) return;
  linkOrConflict(ctx, join(ctx.dir, name), r.path);
}

function context(set: LinkSet, files: UnitFiles, dir: string, unitDirs: readonly string[], force: boolean): Ctx {
  return { set, files, dir, force, unitDirs, report: { errors: [], warnings: [] }, done: new Set() };
}

export interface EnableOptions {
  force?: boolean;
  /** All unit directories (links elsewhere are not touched or counted). */
  unitDirs: readonly string[];
}

export function planEnable(set: LinkSet, files: UnitFiles, dir: string, names: readonly string[], opts: EnableOptions): PlanReport {
  const ctx = context(set, files, dir, opts.unitDirs, opts.force ?? false);
  let anyInfo = false;
  for (const n of names) anyInfo = enableOne(ctx, n) || anyInfo;
  if (!anyInfo && !ctx.report.errors.length) ctx.report.warnings.push(NO_INSTALL_WARNING);
  return ctx.report;
}

/** The names a disable reaches: the units and, through Also=, theirs. */
function withAlso(files: UnitFiles, names: readonly string[]): string[] {
  const out: string[] = [];
  const queue = [...names];
  while (queue.length) {
    const n = queue.shift()!;
    if (out.includes(n)) continue;
    out.push(n);
    const loc = files.locate(n);
    const id = parseUnitName(loc.canonical);
    if (!loc.path || !id) continue;
    const own = files.install(loc.canonical);
    const inst = id.instance === "" && own?.defaultInstance ? files.install(instantiate(loc.canonical, own.defaultInstance)) : own;
    for (const a of inst?.also ?? []) queue.push(a);
  }
  return out;
}

export function planDisable(set: LinkSet, files: UnitFiles, dir: string, names: readonly string[], opts: { unitDirs: readonly string[] }): PlanReport {
  const report: PlanReport = { errors: [], warnings: [] };
  for (const n of withAlso(files, names)) {
    const id = parseUnitName(n);
    if (!id) {
      report.errors.push(`Invalid unit name "${n}".`);
      continue;
    }
    const loc = files.locate(n);
    const real = loc.canonical;
    const instance = !!id.instance;
    for (const l of set.all()) {
      const place = linkPlace(l, opts.unitDirs);
      if (!place || place.dir !== dir || l.target === "/dev/null") continue;
      const linkName = basename(l.path);
      // The name's own entry at the top of the directory is the unit file itself ("linked").
      if (place.owner === null && (linkName === real || linkName === n)) continue;
      const match = instance ? linkName === real : (loc.path !== null && l.target === loc.path) || basename(l.target) === real || linkName === real;
      if (match) set.unlink(l.path);
    }
  }
  return report;
}

export type PresetMode = "full" | "enable-only" | "disable-only";

export interface PresetOptions extends EnableOptions {
  mode?: PresetMode;
}

/**
 * `preset UNIT...` (or `preset-all` with every unit file's name): disables first, then enables,
 * as systemd does. Aliases, masked units and units without install information are skipped.
 */
export function planPreset(
  set: LinkSet,
  files: UnitFiles,
  dir: string,
  names: readonly string[],
  rules: readonly PresetRule[],
  opts: PresetOptions,
): PlanReport {
  const mode = opts.mode ?? "full";
  const report: PlanReport = { errors: [], warnings: [] };
  const enable: { name: string; instances: string[] }[] = [];
  const disable: string[] = [];
  for (const n of names) {
    const loc = files.locate(n);
    if (!loc.path) {
      if (!loc.masked) report.errors.push(`Unit file ${n} does not exist.`);
      continue;
    }
    if (loc.canonical !== n) continue;
    const id = parseUnitName(n);
    if (!id) continue;
    const own = files.install(n);
    const inst = id.instance === "" && own?.defaultInstance ? files.install(instantiate(n, own.defaultInstance)) : own;
    if (!hasInstallInfo(inst) && !hasInstallInfo(own)) continue;
    const d = presetFor(rules, n);
    if (d.action === "enable" && mode !== "disable-only") enable.push({ name: n, instances: d.instances });
    else if (d.action === "disable" && mode !== "enable-only") disable.push(n);
  }
  const dis = planDisable(set, files, dir, disable, opts);
  const ctx = context(set, files, dir, opts.unitDirs, opts.force ?? false);
  for (const e of enable) enableOne(ctx, e.name, e.instances.length ? e.instances : undefined);
  return { errors: [...report.errors, ...dis.errors, ...ctx.report.errors], warnings: [...dis.warnings, ...ctx.report.warnings] };
}
