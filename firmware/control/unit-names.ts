/**
 * Unit names on the command line as systemctl takes them: a name without a unit type gets
 * ".service", shell globs (`'foo*'`, `'web@?.service'`, `[ab]`) match the units the daemon
 * knows, an invalid name or a template without an instance is refused with a clear message. Pure.
 */
import { unitPatternRegExp } from "../unit/fnmatch.ts";
import { parseUnitName } from "../unit/unit-name.ts";

export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** Names as systemctl mangles them: "foo" -> "foo.service"; null when no valid unit name results. */
export function mangleName(s: string): string | null {
  if (isGlob(s)) return s;
  if (parseUnitName(s)) return s;
  const withSuffix = `${s}.service`;
  return parseUnitName(withSuffix) ? withSuffix : null;
}

export interface Expanded {
  names: string[];
  /** Messages for names that are no unit names at all. */
  invalid: string[];
}

/** Mangles each argument; globs become the known names they match (sorted, no duplicates). */
export function expandNames(args: readonly string[], known: () => readonly string[]): Expanded {
  const names: string[] = [];
  const invalid: string[] = [];
  let knownList: readonly string[] | null = null;
  for (const a of args) {
    const m = mangleName(a);
    if (m === null) {
      invalid.push(`Invalid unit name "${a}".`);
      continue;
    }
    if (!isGlob(m)) {
      if (!names.includes(m)) names.push(m);
      continue;
    }
    knownList ??= known();
    const re = unitPatternRegExp(m);
    for (const k of knownList) if (re.test(k) && !names.includes(k)) names.push(k);
  }
  return { names, invalid };
}

/** Why a job cannot be queued for this name (a template without an instance), or null. */
export function jobNameProblem(name: string): string | null {
  const id = parseUnitName(name);
  if (!id) return `Invalid unit name "${name}".`;
  if (id.instance === "") return `Unit name ${name} is missing the instance name.`;
  return null;
}
