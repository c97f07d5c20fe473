/**
 * Finds and loads units from a search path (systemd.unit(5) "Unit File Load Path"):
 * the first directory holding NAME wins; instances fall back to their template; a symlink to
 * /dev/null masks; a symlink to another unit file makes an alias; drop-ins come from NAME.d/, the template's, the prefixes'
 * ("foo-.service.d") and the type's ("service.d") directories, sorted by file name across all
 * of them, a file in an earlier directory hiding one of the same name later.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, type Stats, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseUnitText, type ParsedFile } from "./ini-syntax.ts";
import { buildUnit, type LoadedUnit } from "./unit-file.ts";
import type { HostFacts } from "./specifiers.ts";
import { isValidUnitName, parseUnitName, templateOf } from "./unit-name.ts";

export interface FragmentLocation {
  path: string | null;
  masked: boolean;
  /** The name the unit is known by (the target of an alias symlink). */
  canonical: string;
  /** The search-path directory the name (or its template) was found in, and whether that entry is a symlink. */
  dir: string | null;
  link: boolean;
}

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

export class UnitLoader {
  private cache = new Map<string, LoadedUnit>();
  private parsed = new Map<string, ParsedFile>();

  constructor(
    readonly searchPath: readonly string[],
    private readonly host: HostFacts,
  ) {}

  /**
   * Directory listings (drop-in, .wants/.requires and search-path directories) and the alias
   * symlinks found in them, kept until clear() like the parsed files: each Accept=yes
   * connection loads a new instance, which would otherwise read every directory again and
   * lstat every unit file to find aliases.
   */
  private listings = new Map<string, string[]>();
  private links = new Map<string, { name: string; target: string }[]>();

  /** Forgets one unit (Accept=yes instances are loaded once and never again). */
  forget(name: string): void {
    this.cache.delete(name);
  }

  /** Loads a unit without keeping it in the cache when it was not there (look-ups of any name must not cost memory). */
  peek(name: string): LoadedUnit {
    const had = this.cache.has(name);
    const u = this.load(name);
    if (!had) this.cache.delete(name);
    return u;
  }

  /** Forget everything read so far (daemon-reload). */
  clear(): void {
    this.cache.clear();
    this.parsed.clear();
    this.listings.clear();
    this.links.clear();
  }

  private listDir(dir: string): string[] {
    let l = this.listings.get(dir);
    if (!l) this.listings.set(dir, (l = readDir(dir)));
    return l;
  }

  /** The listing of dir/sub, without reading it when dir's listing has no such entry. */
  private listSubdir(dir: string, sub: string): string[] {
    return this.listDir(dir).includes(sub) ? this.listDir(join(dir, sub)) : [];
  }

  /** The unit-name symlinks in a search-path directory, with their resolved targets. */
  private symlinksIn(dir: string): { name: string; target: string }[] {
    let l = this.links.get(dir);
    if (!l) {
      l = [];
      for (const f of this.listDir(dir)) {
        if (!isValidUnitName(f)) continue;
        const p = join(dir, f);
        try {
          if (lstatSync(p).isSymbolicLink()) l.push({ name: f, target: realpathSync(p) });
        } catch {
          /* dangling */
        }
      }
      this.links.set(dir, l);
    }
    return l;
  }

  /** Keeps answering with this configuration for name (a rejected reload keeps the old one). */
  pin(name: string, cfg: LoadedUnit): void {
    this.cache.set(name, cfg);
  }

  private parseFile(path: string): ParsedFile {
    let p = this.parsed.get(path);
    if (!p) {
      p = parseUnitText(readFileSync(path, "utf8"), path);
      this.parsed.set(path, p);
    }
    return p;
  }

  /** Where NAME's fragment is, following alias symlinks and detecting masks. */
  locate(name: string): FragmentLocation {
    const tryName = (n: string): FragmentLocation | null => {
      for (const dir of this.searchPath) {
        const p = join(dir, n);
        // No throw for a missing name (the usual case, e.g. every Accept=yes instance): exceptions are costly.
        let st: Stats | undefined;
        try {
          st = lstatSync(p, { throwIfNoEntry: false });
        } catch {
          continue;
        }
        if (!st) continue;
        if (st.isSymbolicLink()) {
          const target = readlinkSync(p);
          if (target === "/dev/null") return { path: null, masked: true, canonical: n, dir, link: true };
          let real: string;
          try {
            real = realpathSync(p);
          } catch {
            continue; // dangling link
          }
          if (real === "/dev/null") return { path: null, masked: true, canonical: n, dir, link: true };
          const tb = basename(target);
          const canonical = isValidUnitName(tb) && tb !== n && parseUnitName(tb)?.type === parseUnitName(n)?.type ? tb : n;
          return { path: real, masked: false, canonical, dir, link: true };
        }
        if (st.isFile()) return { path: p, masked: false, canonical: n, dir, link: false };
        if (st.isCharacterDevice() && p === "/dev/null") return { path: null, masked: true, canonical: n, dir, link: false };
      }
      return null;
    };
    const direct = tryName(name);
    if (direct) return direct;
    const tpl = templateOf(name);
    if (tpl) {
      const t = tryName(tpl);
      if (t) return { ...t, canonical: name };
    }
    return { path: null, masked: false, canonical: name, dir: null, link: false };
  }

  private dropinNames(name: string, aliases: string[]): string[] {
    const u = parseUnitName(name)!;
    const names: string[] = [u.type];
    const parts = u.prefix.split("-");
    for (let i = 1; i < parts.length; i++) names.push(`${parts.slice(0, i).join("-")}-.${u.type}`);
    const tpl = templateOf(name);
    if (tpl) names.push(tpl);
    names.push(...aliases, name);
    return names;
  }

  private findDropins(name: string, aliases: string[]): string[] {
    const byBase = new Map<string, string>();
    // Most specific names first so that their files hide same-named ones of broader names.
    const names = this.dropinNames(name, aliases).reverse();
    for (const dir of this.searchPath) {
      for (const n of names) {
        const d = join(dir, `${n}.d`);
        for (const f of this.listSubdir(dir, `${n}.d`)) {
          if (!f.endsWith(".conf") || byBase.has(f)) continue;
          const p = join(d, f);
          if (isFile(p)) byBase.set(f, p);
        }
      }
    }
    return [...byBase.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
  }

  /**
   * Units named in NAME.wants/ (and NAME.upholds/, which bunit treats as wants: Upholds= is not
   * implemented) or NAME.requires/ directories, the template's included, in every search-path
   * directory: the enablement symlinks (firmware/install/).
   */
  private dirDeps(name: string, suffixes: readonly ("wants" | "requires" | "upholds")[]): string[] {
    const out = new Set<string>();
    const names = [name];
    const tpl = templateOf(name);
    if (tpl) names.push(tpl);
    for (const dir of this.searchPath) {
      for (const n of names) {
        for (const suffix of suffixes) for (const f of this.listSubdir(dir, `${n}.${suffix}`)) if (isValidUnitName(f)) out.add(f);
      }
    }
    return [...out];
  }

  /** Loads a unit by name (cached). Never throws for unit content: see loadState/diagnostics. */
  load(name: string): LoadedUnit {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const loc = this.locate(name);
    if (loc.canonical !== name) {
      const real = this.load(loc.canonical);
      if (!real.aliases.includes(name)) real.aliases.push(name);
      this.cache.set(name, real);
      return real;
    }
    const aliases = this.aliasesOf(name, loc.path);
    const unit = buildUnit({
      name,
      fragment: loc.path ? this.parseFile(loc.path) : null,
      fragmentPath: loc.path ?? undefined,
      dropins: loc.masked ? [] : this.findDropins(name, aliases).map((p) => this.parseFile(p)),
      aliases,
      dirWants: this.dirDeps(name, ["wants", "upholds"]),
      dirRequires: this.dirDeps(name, ["requires"]),
      masked: loc.masked,
      host: this.host,
    });
    this.cache.set(name, unit);
    return unit;
  }

  /** Names in the search path that are symlinks to this unit's fragment. */
  private aliasesOf(name: string, fragment: string | null): string[] {
    if (!fragment) return [];
    const out: string[] = [];
    for (const dir of this.searchPath) {
      for (const l of this.symlinksIn(dir)) if (l.name !== name && l.target === fragment) out.push(l.name);
    }
    return out;
  }

  /** Units that have dependency directories (NAME.wants/, .requires/, .upholds/): devices and targets enabled units hang on. */
  namesWithDependencyDirs(): string[] {
    const out = new Set<string>();
    for (const dir of this.searchPath) {
      for (const f of readDir(dir)) {
        const m = /^(.+)\.(wants|requires|upholds)$/.exec(f);
        if (m && isValidUnitName(m[1]!)) out.add(m[1]!);
      }
    }
    return [...out].sort();
  }

  /** Every unit file name in the search path (templates included, drop-in dirs excluded). */
  listNames(): string[] {
    const out = new Set<string>();
    // Read afresh: this is what is on disk now, not what instances were resolved against.
    for (const dir of this.searchPath) for (const f of readDir(dir)) if (isValidUnitName(f)) out.add(f);
    return [...out].sort();
  }
}

/** Adds the directory of each given unit file to the front of the search path (for verify FILE). */
export function searchPathFor(paths: readonly string[], base: readonly string[]): string[] {
  const dirs: string[] = [];
  for (const p of paths) {
    if (p.includes("/") && existsSync(p)) {
      const d = dirname(resolve(p));
      if (!dirs.includes(d)) dirs.push(d);
    }
  }
  return [...dirs, ...base.filter((b) => !dirs.includes(b))];
}
