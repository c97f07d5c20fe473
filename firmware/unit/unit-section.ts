/** The [Unit] and [Install] sections (systemd.unit(5)). Pure. */
import { bool, list, path, string, timespan, unsigned, type SectionSchema, noEffect } from "./section-schema.ts";
import { isValidUnitName } from "./unit-name.ts";
import { ValueError } from "./values.ts";

export interface Condition {
  /** "PathExists", "KernelCommandLine", ... (without the Condition/Assert prefix). */
  kind: string;
  negate: boolean;
  /** "|": any triggering condition suffices. */
  trigger: boolean;
  value: string;
  assert: boolean;
  file: string;
  line: number;
}

export interface UnitSection {
  description?: string;
  documentation: string[];
  requires: string[];
  requisite: string[];
  wants: string[];
  bindsTo: string[];
  partOf: string[];
  upholds: string[];
  conflicts: string[];
  before: string[];
  after: string[];
  onFailure: string[];
  onSuccess: string[];
  propagatesReloadTo: string[];
  reloadPropagatedFrom: string[];
  propagatesStopTo: string[];
  stopPropagatedFrom: string[];
  joinsNamespaceOf: string[];
  requiresMountsFor: string[];
  wantsMountsFor: string[];
  defaultDependencies: boolean;
  stopWhenUnneeded: boolean;
  refuseManualStart: boolean;
  refuseManualStop: boolean;
  allowIsolate: boolean;
  ignoreOnIsolate: boolean;
  startLimitIntervalUsec?: number;
  startLimitBurst?: number;
  conditions: Condition[];
  sourcePath?: string;
  jobTimeoutUsec?: number;
  failureAction?: string;
  successAction?: string;
}

export interface InstallSection {
  wantedBy: string[];
  requiredBy: string[];
  upheldBy: string[];
  alias: string[];
  also: string[];
  defaultInstance?: string;
}

export function newUnitSection(): UnitSection {
  return {
    documentation: [],
    requires: [],
    requisite: [],
    wants: [],
    bindsTo: [],
    partOf: [],
    upholds: [],
    conflicts: [],
    before: [],
    after: [],
    onFailure: [],
    onSuccess: [],
    propagatesReloadTo: [],
    reloadPropagatedFrom: [],
    propagatesStopTo: [],
    stopPropagatedFrom: [],
    joinsNamespaceOf: [],
    requiresMountsFor: [],
    wantsMountsFor: [],
    defaultDependencies: true,
    stopWhenUnneeded: false,
    refuseManualStart: false,
    refuseManualStop: false,
    allowIsolate: false,
    ignoreOnIsolate: false,
    conditions: [],
  };
}

export function newInstallSection(): InstallSection {
  return { wantedBy: [], requiredBy: [], upheldBy: [], alias: [], also: [] };
}

function checkUnitName(w: string): void {
  if (!isValidUnitName(w)) throw new ValueError(`"${w}" is not a valid unit name`);
}

const deps = (get: (u: UnitSection) => string[]) => list(get, { check: checkUnitName });

/** The conditions whose value is a path (which must be absolute). */
const PATH_CONDITION_KINDS = [
  "PathExists",
  "PathExistsGlob",
  "PathIsDirectory",
  "PathIsSymbolicLink",
  "PathIsMountPoint",
  "PathIsReadWrite",
  "PathIsEncrypted",
  "DirectoryNotEmpty",
  "FileNotEmpty",
  "FileIsExecutable",
  "NeedsUpdate",
] as const;

export const CONDITION_KINDS = [
  ...PATH_CONDITION_KINDS,
  "FirstBoot",
  "Architecture",
  "Firmware",
  "Virtualization",
  "Host",
  "KernelCommandLine",
  "KernelVersion",
  "Version",
  "Credential",
  "Security",
  "Capability",
  "ACPower",
  "Memory",
  "CPUFeature",
  "CPUs",
  "Environment",
  "User",
  "Group",
  "ControlGroupController",
  "OSRelease",
  "MemoryPressure",
  "CPUPressure",
  "IOPressure",
  "KernelModuleLoaded",
] as const;

const PATH_CONDITIONS = new Set<string>(PATH_CONDITION_KINDS);

export const UNIT_SCHEMA: SectionSchema<UnitSection> = {
  Description: string((u, v) => (u.description = v)),
  Documentation: list((u) => u.documentation, {
    check: (w) => {
      if (!/^(https?|file|info|man):/.test(w)) throw new ValueError(`"${w}" is not a documentation URL (http:, https:, file:, info:, man:)`);
    },
  }),
  SourcePath: path((u, v) => (u.sourcePath = v)),
  Requires: deps((u) => u.requires),
  Requisite: deps((u) => u.requisite),
  Wants: deps((u) => u.wants),
  BindsTo: deps((u) => u.bindsTo),
  BindTo: deps((u) => u.bindsTo),
  PartOf: deps((u) => u.partOf),
  Upholds: deps((u) => u.upholds),
  Conflicts: deps((u) => u.conflicts),
  Before: deps((u) => u.before),
  After: deps((u) => u.after),
  OnFailure: deps((u) => u.onFailure),
  OnSuccess: deps((u) => u.onSuccess),
  PropagatesReloadTo: deps((u) => u.propagatesReloadTo),
  PropagateReloadTo: deps((u) => u.propagatesReloadTo),
  ReloadPropagatedFrom: deps((u) => u.reloadPropagatedFrom),
  PropagateReloadFrom: deps((u) => u.reloadPropagatedFrom),
  PropagatesStopTo: deps((u) => u.propagatesStopTo),
  StopPropagatedFrom: deps((u) => u.stopPropagatedFrom),
  JoinsNamespaceOf: noEffect(
    "bunit does not set up namespaces",
    deps((u) => u.joinsNamespaceOf),
  ),
  RequiresMountsFor: noEffect(
    "bunit has no mount units",
    list((u) => u.requiresMountsFor),
  ),
  WantsMountsFor: noEffect(
    "bunit has no mount units",
    list((u) => u.wantsMountsFor),
  ),
  DefaultDependencies: bool((u, v) => (u.defaultDependencies = v)),
  StopWhenUnneeded: bool((u, v) => (u.stopWhenUnneeded = v)),
  RefuseManualStart: bool((u, v) => (u.refuseManualStart = v)),
  RefuseManualStop: bool((u, v) => (u.refuseManualStop = v)),
  AllowIsolate: noEffect(
    "bunit has no isolate jobs",
    bool((u, v) => (u.allowIsolate = v)),
  ),
  IgnoreOnIsolate: noEffect(
    "bunit has no isolate jobs",
    bool((u, v) => (u.ignoreOnIsolate = v)),
  ),
  StartLimitIntervalSec: timespan((u, v) => (u.startLimitIntervalUsec = v)),
  StartLimitInterval: timespan((u, v) => (u.startLimitIntervalUsec = v)),
  StartLimitBurst: unsigned((u, v) => (u.startLimitBurst = v)),
  JobTimeoutSec: noEffect(
    "bunit has no job timeouts",
    timespan((u, v) => (u.jobTimeoutUsec = v)),
  ),
  JobRunningTimeoutSec: noEffect(
    "bunit has no job timeouts",
    timespan((u, v) => (u.jobTimeoutUsec = v)),
  ),
  FailureAction: noEffect(
    "bunit does not reboot or power off for a unit",
    string((u, v) => (u.failureAction = v)),
  ),
  SuccessAction: noEffect(
    "bunit does not reboot or power off for a unit",
    string((u, v) => (u.successAction = v)),
  ),
  StartLimitAction: noEffect("bunit does not reboot or power off for a unit"),
  JobTimeoutAction: noEffect("bunit has no job timeouts"),
  CollectMode: noEffect("bunit collects a stopped unit by its own rules"),
  RebootArgument: noEffect("bunit does not reboot for a unit"),
};

for (const kind of CONDITION_KINDS) {
  for (const assert of [false, true]) {
    UNIT_SCHEMA[(assert ? "Assert" : "Condition") + kind] = (u, v, ctx) => {
      if (v === "") {
        u.conditions = u.conditions.filter((c) => c.assert !== assert);
        return;
      }
      let rest = v;
      let trigger = false,
        negate = false;
      if (rest.startsWith("|")) {
        trigger = true;
        rest = rest.slice(1).trimStart();
      }
      if (rest.startsWith("!")) {
        negate = true;
        rest = rest.slice(1).trimStart();
      }
      const value = ctx.expand(rest);
      if (PATH_CONDITIONS.has(kind) && !value.startsWith("/")) throw new ValueError(`path "${value}" is not absolute`);
      u.conditions.push({ kind, negate, trigger, value, assert, file: ctx.file, line: ctx.line });
    };
  }
}

export const INSTALL_SCHEMA: SectionSchema<InstallSection> = {
  WantedBy: list((i) => i.wantedBy, { check: checkUnitName }),
  RequiredBy: list((i) => i.requiredBy, { check: checkUnitName }),
  UpheldBy: list((i) => i.upheldBy, { check: checkUnitName }),
  Alias: list((i) => i.alias, { check: checkUnitName }),
  Also: list((i) => i.also, { check: checkUnitName }),
  DefaultInstance: string((i, v) => (i.defaultInstance = v)),
};
