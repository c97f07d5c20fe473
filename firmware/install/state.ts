/**
 * `is-enabled`: a unit file's enablement state in systemctl's words, and systemctl's exit code.
 * Pure: the links of every unit directory and the unit files come in.
 *
 * enabled / enabled-runtime: a .wants/, .requires/, .upholds/ or alias link to the unit in the
 *   configuration (runtime) directory; only in a vendor directory: static, as systemd says.
 * linked / linked-runtime: the name is a link in the configuration (runtime) directory to a file
 *   outside the unit directories.
 * alias: the name is an alias of another unit file. masked / masked-runtime: a link to /dev/null.
 * indirect: not enabled but Also= names units, or (a template) instances other than
 *   DefaultInstance= are enabled. disabled: not enabled, with install rules. static: no rules.
 * generated and transient never occur (bunit has no generators and no transient units); bad: the
 *   unit file cannot be read.
 */
import { basename, dirname } from "node:path";
import { instantiate, parseUnitName } from "../unit/unit-name.ts";
import { dirKind, isRuntimePath, type InstallLayout } from "./layout.ts";
import { linkPlace, type Link } from "./links.ts";
import { hasInstallRules, type UnitFiles } from "./plan.ts";

export const UNIT_FILE_STATES = [
  "enabled",
  "enabled-runtime",
  "linked",
  "linked-runtime",
  "alias",
  "masked",
  "masked-runtime",
  "static",
  "indirect",
  "disabled",
  "generated",
  "transient",
  "bad",
  "not-found",
] as const;
export type UnitFileState = (typeof UNIT_FILE_STATES)[number];

/** States for which is-enabled succeeds (systemctl(1)'s table). */
const ENABLED_LIKE = new Set<UnitFileState>(["enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"]);

export function unitFileState(name: string, files: UnitFiles, links: readonly Link[], layout: InstallLayout): UnitFileState {
  const id = parseUnitName(name);
  if (!id) return "bad";
  const loc = files.locate(name);
  if (loc.masked) return loc.dir && isRuntimePath(layout, loc.dir) ? "masked-runtime" : "masked";
  if (!loc.path) return "not-found";
  if (loc.canonical !== name) return "alias";
  const own = files.install(name);
  if (!own) return "bad";
  const defaultName = id.instance === "" && own.defaultInstance ? instantiate(name, own.defaultInstance) : null;
  let found: "config" | "runtime" | "vendor" | null = null;
  let otherInstances = false;
  const rank = { config: 3, runtime: 2, vendor: 1 };
  for (const l of links) {
    const place = linkPlace(l, layout.searchPath);
    if (!place || l.target === "/dev/null") continue;
    const linkName = basename(l.path);
    if (place.owner === null && linkName === name) continue; // the name's own entry (a linked file)
    let match: boolean;
    if (id.instance) match = linkName === name;
    else if (id.instance === "") {
      const toTemplate = l.target === loc.path || basename(l.target) === name;
      if (toTemplate && linkName !== name && linkName !== defaultName && parseUnitName(linkName)?.instance) {
        otherInstances = true;
        continue;
      }
      match = toTemplate;
    } else match = l.target === loc.path || basename(l.target) === name;
    if (!match) continue;
    const kind = dirKind(layout, place.dir);
    if (!found || rank[kind] > rank[found]) found = kind;
  }
  if (found === "config") return "enabled";
  if (found === "runtime") return "enabled-runtime";
  if (found === "vendor") return "static";
  if (loc.link && loc.dir) {
    const kind = dirKind(layout, loc.dir);
    if (kind !== "vendor" && !layout.searchPath.includes(dirname(loc.path))) return kind === "runtime" ? "linked-runtime" : "linked";
  }
  if (otherInstances) return "indirect";
  const inst = defaultName ? (files.install(defaultName) ?? own) : own;
  if (hasInstallRules(inst)) return "disabled";
  if (inst.also.length) return "indirect";
  return "static";
}

/** systemctl is-enabled's exit code: 0 when any unit is enabled-like, 4 when none was found, else 1. */
export function isEnabledExitCode(states: readonly UnitFileState[]): number {
  if (states.some((s) => ENABLED_LIKE.has(s))) return 0;
  if (states.length > 0 && states.every((s) => s === "not-found")) return 4;
  return 1;
}
