/**
 * From parsed files (the fragment and its drop-ins, in order) to a typed unit. Pure.
 */
import type { Diagnostic } from "./diagnostics.ts";
import type { ParsedFile, Assignment } from "./ini-syntax.ts";
import { applySection } from "./section-schema.ts";
import { expandSpecifiers, type HostFacts } from "./specifiers.ts";
import { parseUnitName, type UnitName } from "./unit-name.ts";
import { INSTALL_SCHEMA, newInstallSection, newUnitSection, UNIT_SCHEMA, type InstallSection, type UnitSection } from "./unit-section.ts";
import { newSocketConfig, SOCKET_SCHEMA, type SocketConfig } from "./socket-config.ts";
import { newServiceConfig, SERVICE_SCHEMA, type ServiceConfig } from "./service-config.ts";

export type LoadState = "loaded" | "not-found" | "bad-setting" | "masked";

export interface LoadedUnit {
  /** The unit's name (an instance name for instances of templates). */
  name: string;
  id: UnitName;
  fragmentPath?: string;
  dropinPaths: string[];
  /** Other names that resolve to this unit (symlinks in the search path). */
  aliases: string[];
  loadState: LoadState;
  unit: UnitSection;
  install: InstallSection;
  socket?: SocketConfig;
  service?: ServiceConfig;
  diagnostics: Diagnostic[];
  /** Where each directive was last assigned (file and line), for messages about the whole unit. */
  keyLines: Record<string, { file: string; line: number }>;
  /** "Wants" and "Requires" from NAME.wants/ and NAME.requires/ directories. */
  dirWants: string[];
  dirRequires: string[];
}

/** Sections each unit type reads besides [Unit] and [Install]. */
const TYPE_SECTION: Partial<Record<UnitName["type"], string>> = { socket: "Socket", service: "Service" };

/** [Service] spellings that systemd still accepts for settings that moved to [Unit]. */
const MOVED_TO_UNIT = new Set(["StartLimitInterval", "StartLimitBurst", "StartLimitAction", "FailureAction", "RebootArgument"]);

/** Directives bunit has no use for and does not need to mention (documentation, accounting...). */
const QUIET = new Set(["CPUAccounting", "MemoryAccounting", "IOAccounting", "TasksAccounting", "IPAccounting", "BlockIOAccounting", "Slice"]);

export interface BuildInput {
  name: string;
  fragment: ParsedFile | null;
  dropins: ParsedFile[];
  fragmentPath?: string;
  aliases?: string[];
  dirWants?: string[];
  dirRequires?: string[];
  masked?: boolean;
  host: HostFacts;
}

export function buildUnit(input: BuildInput): LoadedUnit {
  const id = parseUnitName(input.name);
  if (!id) throw new Error(`invalid unit name ${input.name}`);
  const out: LoadedUnit = {
    name: input.name,
    id,
    fragmentPath: input.fragmentPath,
    dropinPaths: input.dropins.map((d) => d.file),
    aliases: input.aliases ?? [],
    loadState: "loaded",
    unit: newUnitSection(),
    install: newInstallSection(),
    diagnostics: [],
    keyLines: {},
    dirWants: input.dirWants ?? [],
    dirRequires: input.dirRequires ?? [],
  };
  if (id.type === "socket") out.socket = newSocketConfig();
  if (id.type === "service") out.service = newServiceConfig();
  if (input.masked) {
    out.loadState = "masked";
    return shareEmptyLists(out);
  }
  if (!input.fragment && input.dropins.length === 0) {
    out.loadState = "not-found";
    return shareEmptyLists(out);
  }
  const files = [...(input.fragment ? [input.fragment] : []), ...input.dropins];
  const expand = (s: string) => expandSpecifiers(s, { unit: input.name, fragmentPath: input.fragmentPath, host: input.host });
  const typeSection = TYPE_SECTION[id.type];
  const bySection = new Map<string, Assignment[]>();
  for (const f of files) {
    out.diagnostics.push(...f.diagnostics);
    for (const s of f.sections) {
      if (s === "Unit" || s === "Install" || s === typeSection || s.startsWith("X-")) continue;
      out.diagnostics.push({ level: "warning", file: f.file, message: `Unknown section '${s}'. Ignoring.` });
    }
    for (const raw of f.assignments) {
      const a = raw.section === "Service" && MOVED_TO_UNIT.has(raw.key) ? { ...raw, section: "Unit" } : raw;
      const list = bySection.get(a.section) ?? [];
      list.push(a);
      out.keyLines[a.key] = { file: f.file, line: a.line };
      bySection.set(a.section, list);
    }
  }
  const opts = { unit: input.name, expand, quiet: QUIET };
  out.diagnostics.push(...applySection(UNIT_SCHEMA, out.unit, bySection.get("Unit") ?? [], opts));
  out.diagnostics.push(...applySection(INSTALL_SCHEMA, out.install, bySection.get("Install") ?? [], opts));
  if (out.socket) out.diagnostics.push(...applySection(SOCKET_SCHEMA, out.socket, bySection.get("Socket") ?? [], opts));
  if (out.service) out.diagnostics.push(...applySection(SERVICE_SCHEMA, out.service, bySection.get("Service") ?? [], opts));
  if (out.diagnostics.some((d) => d.level === "error")) out.loadState = "bad-setting";
  return shareEmptyLists(out);
}

/** The one empty list every configuration and every unit's deps share (frozen: nothing may add to it). */
export const EMPTY_LIST: string[] = Object.freeze([]) as unknown as string[];

/**
 * Replaces the empty lists of a built configuration with EMPTY_LIST: a socket or service has about
 * fifty list-valued settings and uses a few, and every unit (each Accept=yes instance too)
 * would otherwise keep its own fifty empty arrays. Configurations are read-only once built.
 */
function shareEmptyLists(u: LoadedUnit): LoadedUnit {
  const walk = (o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (Array.isArray(v)) {
        if (v.length === 0) o[k] = EMPTY_LIST;
      } else if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) walk(v as Record<string, unknown>);
    }
  };
  for (const section of [u.unit, u.install, u.socket, u.service]) if (section) walk(section as unknown as Record<string, unknown>);
  return u;
}
