/**
 * systemd.preset(5): `enable PATTERN [INSTANCE...]`, `disable PATTERN`, `ignore PATTERN`, one
 * per line, `#`/`;` comments; files named *.preset from several directories, sorted by file name
 * across all of them (a file in an earlier directory hides one of the same name later, a link
 * to /dev/null hides it altogether), the first matching line wins; with no matching line (no
 * preset files at all, say) a unit is enabled. Pure: files come in as text.
 */
import { unitPatternRegExp } from "../unit/fnmatch.ts";
import { isValidUnitName, parseUnitName } from "../unit/unit-name.ts";

export type PresetAction = "enable" | "disable" | "ignore";

export interface PresetRule {
  action: PresetAction;
  pattern: string;
  /** Instances to enable for a template (`enable foo@.service a b`), instead of DefaultInstance=. */
  instances: string[];
  file: string;
  line: number;
}

export interface PresetFile {
  /** The file's name (used for ordering) and where it was found. */
  name: string;
  path: string;
  /** null: a link to /dev/null (hides files of the same name in later directories). */
  text: string | null;
}

export interface PresetProblem {
  file: string;
  line: number;
  message: string;
}

/** The files that count, in order: one per file name (the first directory's), by name. */
export function orderPresetFiles(byDir: readonly (readonly PresetFile[])[]): PresetFile[] {
  const chosen = new Map<string, PresetFile>();
  for (const files of byDir) for (const f of files) if (f.name.endsWith(".preset") && !chosen.has(f.name)) chosen.set(f.name, f);
  return [...chosen.values()].filter((f) => f.text !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function parsePresetFile(f: PresetFile): { rules: PresetRule[]; problems: PresetProblem[] } {
  const rules: PresetRule[] = [];
  const problems: PresetProblem[] = [];
  const lines = (f.text ?? "").split("\n");
  lines.forEach((raw, i) => {
    const l = raw.trim();
    if (l === "" || l.startsWith("#") || l.startsWith(";")) return;
    const [word, pattern, ...instances] = l.split(/\s+/);
    const problem = (message: string) => problems.push({ file: f.path, line: i + 1, message });
    if (word !== "enable" && word !== "disable" && word !== "ignore") return void problem(`unknown directive "${word}"`);
    if (!pattern) return void problem(`"${word}" needs a unit name`);
    if (instances.length && word !== "enable") return void problem(`instances are only allowed with "enable"`);
    if (instances.length) {
      const u = parseUnitName(pattern);
      if (!u || u.instance !== "") return void problem(`instances need a template name, not "${pattern}"`);
      const bad = instances.find((x) => !isValidUnitName(`${u.prefix}@${x}.${u.type}`));
      if (bad !== undefined) return void problem(`"${bad}" is not a valid instance name`);
    }
    rules.push({ action: word, pattern, instances, file: f.path, line: i + 1 });
  });
  return { rules, problems };
}

export function parsePresets(files: readonly PresetFile[]): { rules: PresetRule[]; problems: PresetProblem[] } {
  const rules: PresetRule[] = [];
  const problems: PresetProblem[] = [];
  for (const f of files) {
    const r = parsePresetFile(f);
    rules.push(...r.rules);
    problems.push(...r.problems);
  }
  return { rules, problems };
}

export interface PresetDecision {
  action: PresetAction;
  instances: string[];
  /** The deciding rule; null: no rule matched (enable, the default). */
  rule: PresetRule | null;
}

/** The first rule whose pattern matches the unit name (a real name: aliases do not count). */
export function presetFor(rules: readonly PresetRule[], name: string): PresetDecision {
  for (const r of rules) {
    if (unitPatternRegExp(r.pattern).test(name)) return { action: r.action, instances: r.instances, rule: r };
  }
  return { action: "enable", instances: [], rule: null };
}

/** Preset lines from a board config (`presets = ["enable x.socket", "disable *"]`), as one file. */
export function presetFileFromLines(name: string, lines: readonly string[]): PresetFile {
  return { name, path: name, text: lines.join("\n") + "\n" };
}
