import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "./diagnostics.ts";
import { parseUnitText } from "./ini-syntax.ts";
import { applySection, type SectionSchema } from "./section-schema.ts";
import { CONDITION_KINDS, INSTALL_SCHEMA, newInstallSection, newUnitSection, UNIT_SCHEMA } from "./unit-section.ts";

/** Applies `body` (from line 2 of u.service) with `schema` to `cfg`; "%n" expands to the unit name. */
function apply<C>(schema: SectionSchema<C>, cfg: C, body: string): { c: C; diags: string[] } {
  const p = parseUnitText(`[S]\n${body}\n`, "u.service");
  const ds = applySection(schema, cfg, p.assignments, { unit: "u.service", expand: (s) => s.replaceAll("%n", "u.service") });
  return { c: cfg, diags: ds.map(formatDiagnostic) };
}
const unit = (body: string) => apply(UNIT_SCHEMA, newUnitSection(), body);
const install = (body: string) => apply(INSTALL_SCHEMA, newInstallSection(), body);

describe("[Unit]", () => {
  test("defaults", () => {
    expect(newUnitSection()).toStrictEqual({
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
    });
    expect(newInstallSection()).toStrictEqual({ wantedBy: [], requiredBy: [], upheldBy: [], alias: [], also: [] });
  });

  test("every dependency directive, old spellings included, takes unit names", () => {
    const fields: [string, string][] = [
      ["Requires", "requires"],
      ["Requisite", "requisite"],
      ["Wants", "wants"],
      ["BindsTo", "bindsTo"],
      ["BindTo", "bindsTo"],
      ["PartOf", "partOf"],
      ["Upholds", "upholds"],
      ["Conflicts", "conflicts"],
      ["Before", "before"],
      ["After", "after"],
      ["OnFailure", "onFailure"],
      ["OnSuccess", "onSuccess"],
      ["PropagatesReloadTo", "propagatesReloadTo"],
      ["PropagateReloadTo", "propagatesReloadTo"],
      ["ReloadPropagatedFrom", "reloadPropagatedFrom"],
      ["PropagateReloadFrom", "reloadPropagatedFrom"],
      ["PropagatesStopTo", "propagatesStopTo"],
      ["StopPropagatedFrom", "stopPropagatedFrom"],
    ];
    for (const [key, field] of fields) {
      const r = unit(`${key}=a.service b.socket`);
      expect(r.diags).toEqual([]);
      expect((r.c as unknown as Record<string, string[]>)[field]).toEqual(["a.service", "b.socket"]);
      expect(unit(`${key}=bad`).diags).toEqual([`u.service:2: error: ${key}=: "bad" is not a valid unit name`]);
    }
  });

  test("Description, Documentation, SourcePath", () => {
    const r = unit("Description=The %n\nDocumentation=man:x(1) https://e/x http://e file:/x info:x\nSourcePath=/etc/x");
    expect(r.diags).toEqual([]);
    expect(r.c).toMatchObject({
      description: "The u.service",
      documentation: ["man:x(1)", "https://e/x", "http://e", "file:/x", "info:x"],
      sourcePath: "/etc/x",
    });
    for (const d of ["ftp://e", "xman:x", "e/man:x"]) {
      expect(unit(`Documentation=${d}`).diags).toEqual([
        `u.service:2: error: Documentation=: "${d}" is not a documentation URL (http:, https:, file:, info:, man:)`,
      ]);
    }
  });

  test("booleans and start limits", () => {
    const r = unit("DefaultDependencies=no\nStopWhenUnneeded=yes\nRefuseManualStart=yes\nRefuseManualStop=yes\nStartLimitIntervalSec=5\nStartLimitBurst=3");
    expect(r.diags).toEqual([]);
    expect(r.c).toMatchObject({
      defaultDependencies: false,
      stopWhenUnneeded: true,
      refuseManualStart: true,
      refuseManualStop: true,
      startLimitIntervalUsec: 5e6,
      startLimitBurst: 3,
    });
    expect(unit("StartLimitInterval=7").c.startLimitIntervalUsec).toBe(7e6);
    expect(unit("JobTimeoutSec=5").c.jobTimeoutUsec).toBe(5e6);
  });

  test("settings without an effect in bunit are kept and noticed", () => {
    const r = unit(
      [
        "JoinsNamespaceOf=a.service",
        "RequiresMountsFor=/a",
        "WantsMountsFor=/b",
        "AllowIsolate=yes",
        "IgnoreOnIsolate=yes",
        "JobTimeoutSec=5",
        "JobRunningTimeoutSec=6",
        "FailureAction=reboot",
        "SuccessAction=poweroff",
        "StartLimitAction=reboot",
        "JobTimeoutAction=reboot",
        "CollectMode=inactive",
        "RebootArgument=x",
      ].join("\n"),
    );
    expect(r.diags).toEqual([
      "u.service:2: notice: JoinsNamespaceOf=: bunit does not set up namespaces, ignoring",
      "u.service:3: notice: RequiresMountsFor=: bunit has no mount units, ignoring",
      "u.service:4: notice: WantsMountsFor=: bunit has no mount units, ignoring",
      "u.service:5: notice: AllowIsolate=: bunit has no isolate jobs, ignoring",
      "u.service:6: notice: IgnoreOnIsolate=: bunit has no isolate jobs, ignoring",
      "u.service:7: notice: JobTimeoutSec=: bunit has no job timeouts, ignoring",
      "u.service:8: notice: JobRunningTimeoutSec=: bunit has no job timeouts, ignoring",
      "u.service:9: notice: FailureAction=: bunit does not reboot or power off for a unit, ignoring",
      "u.service:10: notice: SuccessAction=: bunit does not reboot or power off for a unit, ignoring",
      "u.service:11: notice: StartLimitAction=: bunit does not reboot or power off for a unit, ignoring",
      "u.service:12: notice: JobTimeoutAction=: bunit has no job timeouts, ignoring",
      "u.service:13: notice: CollectMode=: bunit collects a stopped unit by its own rules, ignoring",
      "u.service:14: notice: RebootArgument=: bunit does not reboot for a unit, ignoring",
    ]);
    expect(r.c).toMatchObject({
      joinsNamespaceOf: ["a.service"],
      requiresMountsFor: ["/a"],
      wantsMountsFor: ["/b"],
      allowIsolate: true,
      ignoreOnIsolate: true,
      jobTimeoutUsec: 6e6,
      failureAction: "reboot",
      successAction: "poweroff",
    });
  });
});

/** The conditions on a path, as systemd.unit(5) lists them first; a literal here, not the source's list. */
const PATH_KINDS: readonly (typeof CONDITION_KINDS)[number][] = [
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
];

describe("conditions and asserts", () => {
  test("every kind systemd.unit(5) lists, as Condition and Assert", () => {
    expect([...CONDITION_KINDS]).toEqual([
      ...PATH_KINDS,
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
    ]);
    for (const kind of CONDITION_KINDS) for (const prefix of ["Condition", "Assert"]) expect(Object.hasOwn(UNIT_SCHEMA, `${prefix}${kind}`)).toBe(true);
  });

  test("'|' and '!' prefixes, blanks after them, specifiers, file and line", () => {
    const r = unit("ConditionPathExists=| ! /run/%n\nAssertHost=!box\nConditionKernelCommandLine=|quiet");
    expect(r.diags).toEqual([]);
    expect(r.c.conditions).toStrictEqual([
      { kind: "PathExists", negate: true, trigger: true, value: "/run/u.service", assert: false, file: "u.service", line: 2 },
      { kind: "Host", negate: true, trigger: false, value: "box", assert: true, file: "u.service", line: 3 },
      { kind: "KernelCommandLine", negate: false, trigger: true, value: "quiet", assert: false, file: "u.service", line: 4 },
    ]);
  });

  test("path conditions need absolute paths; the others do not", () => {
    for (const kind of CONDITION_KINDS) {
      const r = unit(`Condition${kind}=!rel`);
      expect(r.diags).toEqual(PATH_KINDS.includes(kind) ? [`u.service:2: error: Condition${kind}=: path "rel" is not absolute`] : []);
    }
  });

  test("an empty value resets the conditions, or the asserts, only", () => {
    const c = unit("ConditionPathExists=/a\nAssertPathExists=/b\nConditionHost=x\nConditionUser=").c.conditions;
    expect(c.map((x) => [x.kind, x.assert])).toEqual([["PathExists", true]]);
    const a = unit("ConditionPathExists=/a\nAssertPathExists=/b\nAssertHost=").c.conditions;
    expect(a.map((x) => [x.kind, x.assert])).toEqual([["PathExists", false]]);
  });
});

describe("[Install]", () => {
  test("unit-name lists and DefaultInstance=", () => {
    const r = install("WantedBy=a.target\nRequiredBy=b.target\nUpheldBy=c.target\nAlias=d.service\nAlso=e.socket\nDefaultInstance=%n");
    expect(r.diags).toEqual([]);
    expect(r.c).toStrictEqual({
      wantedBy: ["a.target"],
      requiredBy: ["b.target"],
      upheldBy: ["c.target"],
      alias: ["d.service"],
      also: ["e.socket"],
      defaultInstance: "u.service",
    });
    for (const k of ["WantedBy", "RequiredBy", "UpheldBy", "Alias", "Also"])
      expect(install(`${k}=x`).diags).toEqual([`u.service:2: error: ${k}=: "x" is not a valid unit name`]);
  });
});
