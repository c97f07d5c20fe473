import { describe, expect, test } from "bun:test";
import { TEST_HOST } from "../../test/support/host.ts";
import { formatDiagnostic } from "./diagnostics.ts";
import { parseUnitText } from "./ini-syntax.ts";
import { newServiceConfig } from "./service-config.ts";
import { newSocketConfig } from "./socket-config.ts";
import { type BuildInput, buildUnit } from "./unit-file.ts";
import { newInstallSection, newUnitSection } from "./unit-section.ts";

const file = (name: string, text: string) => parseUnitText(text, name);
const build = (name: string, text: string | null, more: Partial<BuildInput> = {}) =>
  buildUnit({ name, fragment: text === null ? null : file(`/u/${name}`, text), dropins: [], fragmentPath: `/u/${name}`, host: TEST_HOST, ...more });
const diags = (u: ReturnType<typeof build>) => u.diagnostics.map(formatDiagnostic);

describe("building a unit", () => {
  test("an invalid name is a bug of the caller", () => {
    expect(() => build("bad", "")).toThrow("invalid unit name bad");
  });

  test("a unit without files is not found; a masked one is masked; both keep their defaults", () => {
    const nf = build("a.service", null, { aliases: ["b.service"], dirWants: ["w.service"], dirRequires: ["r.service"] });
    expect(nf).toStrictEqual({
      name: "a.service",
      id: { name: "a.service", prefix: "a", instance: null, type: "service" },
      fragmentPath: "/u/a.service",
      dropinPaths: [],
      aliases: ["b.service"],
      loadState: "not-found",
      unit: newUnitSection(),
      install: newInstallSection(),
      diagnostics: [],
      keyLines: {},
      dirWants: ["w.service"],
      dirRequires: ["r.service"],
      service: newServiceConfig(),
    });
    const m = build("a.socket", "[Socket]\nListenStream=80\n", { masked: true });
    expect(m.loadState).toBe("masked");
    expect(m.socket).toStrictEqual(newSocketConfig());
    expect(m.aliases).toEqual([]);
    expect(m.dirWants).toEqual([]);
    expect(m.dirRequires).toEqual([]);
    expect(build("a.target", "[Unit]\n")).not.toHaveProperty("socket");
    expect(build("a.target", "[Unit]\n")).not.toHaveProperty("service");
  });

  test("drop-ins alone make a unit; they apply after the fragment, in order", () => {
    const dropins = [file("/u/a.service.d/1.conf", "[Unit]\nDescription=one\n"), file("/u/a.service.d/2.conf", "[Unit]\nDescription=two\nWants=x.service\n")];
    const only = build("a.service", null, { dropins });
    expect(only.loadState).toBe("loaded");
    expect(only.dropinPaths).toEqual(["/u/a.service.d/1.conf", "/u/a.service.d/2.conf"]);
    expect(only.unit.description).toBe("two");
    const both = build("a.service", "[Unit]\nDescription=zero\nWants=y.service\n", { dropins });
    expect(both.unit.description).toBe("two");
    expect(both.unit.wants).toEqual(["y.service", "x.service"]);
    expect(both.keyLines).toEqual({ Description: { file: "/u/a.service.d/2.conf", line: 2 }, Wants: { file: "/u/a.service.d/2.conf", line: 3 } });
  });

  test("each type reads its own section; others are unknown, X- sections are not", () => {
    const s = build("a.socket", "[Unit]\nDescription=d\n[Socket]\nListenStream=80\n[Service]\nUser=x\n[X-Mine]\nK=v\n[Install]\nWantedBy=b.target\n");
    expect(diags(s)).toEqual(["/u/a.socket: warning: Unknown section 'Service'. Ignoring."]);
    expect(s.socket!.listen).toHaveLength(1);
    expect(s.install.wantedBy).toEqual(["b.target"]);
    const v = build("a.service", "[Service]\nExecStart=/bin/true\n[Socket]\nListenStream=80\n");
    expect(diags(v)).toEqual(["/u/a.service: warning: Unknown section 'Socket'. Ignoring."]);
    expect(v.service!.execStart).toHaveLength(1);
    expect(diags(build("a.target", "[Unit]\n[Socket]\n[Service]\n"))).toEqual([
      "/u/a.target: warning: Unknown section 'Socket'. Ignoring.",
      "/u/a.target: warning: Unknown section 'Service'. Ignoring.",
    ]);
  });

  test("[Service] spellings of settings that moved to [Unit] still work", () => {
    const u = build("a.service", "[Service]\nStartLimitInterval=7\nStartLimitBurst=3\nStartLimitAction=reboot\nFailureAction=reboot\nRebootArgument=x\n");
    expect(u.unit).toMatchObject({ startLimitIntervalUsec: 7e6, startLimitBurst: 3, failureAction: "reboot" });
    expect(diags(u)).toEqual([
      "/u/a.service:4: notice: StartLimitAction=: bunit does not reboot or power off for a unit, ignoring",
      "/u/a.service:5: notice: FailureAction=: bunit does not reboot or power off for a unit, ignoring",
      "/u/a.service:6: notice: RebootArgument=: bunit does not reboot for a unit, ignoring",
    ]);
    expect(diags(build("a.socket", "[Socket]\nStartLimitBurst=3\n"))).toEqual([
      "/u/a.socket:2: warning: StartLimitBurst=: Unknown key name 'StartLimitBurst' in section 'Socket', ignoring.",
    ]);
  });

  test("accounting and slice settings pass quietly; other unsupported ones are noticed", () => {
    const quiet = [
      "CPUAccounting=yes",
      "MemoryAccounting=yes",
      "IOAccounting=yes",
      "TasksAccounting=yes",
      "IPAccounting=yes",
      "BlockIOAccounting=yes",
      "Slice=a.slice",
    ];
    expect(diags(build("a.service", `[Service]\n${quiet.join("\n")}\n[Unit]\nCollectMode=inactive\nIgnoreOnIsolate=yes\n`))).toEqual([
      "/u/a.service:10: notice: CollectMode=: bunit collects a stopped unit by its own rules, ignoring",
      "/u/a.service:11: notice: IgnoreOnIsolate=: bunit has no isolate jobs, ignoring",
    ]);
    expect(diags(build("a.service", "[Service]\nMemoryMax=1G\n"))).toEqual(["/u/a.service:2: notice: MemoryMax=: not supported by bunit, ignoring"]);
  });

  test("specifiers expand with the unit's name and fragment", () => {
    const u = build("web@8080.service", "[Unit]\nDescription=%i from %y\n");
    expect(u.unit.description).toBe("8080 from /u/web@8080.service");
  });

  test("syntax diagnostics are kept; any error makes a bad setting", () => {
    const u = build("a.service", "[Unit]\nDescription\n");
    expect(diags(u)).toEqual(["/u/a.service:2: error: Missing '=', ignoring line: Description"]);
    expect(u.loadState).toBe("bad-setting");
    expect(build("a.service", "[Service]\nType=bogus\n").loadState).toBe("bad-setting");
    expect(build("a.service", "[Unit]\nBogus=1\n").loadState).toBe("loaded");
  });

  test("empty lists of a built unit are one shared frozen list; others stay its own", () => {
    const a = build("a.service", "[Service]\nExecStart=/bin/true\nEnvironment=A=1\n");
    const b = build("b.socket", "[Socket]\nListenStream=80\n");
    expect(Object.isFrozen(a.unit.requires)).toBe(true);
    expect(a.unit.requires).toBe(b.unit.wants);
    expect(a.install.wantedBy).toBe(b.unit.requires);
    // Nested tables too: the exec context, exit status sets.
    expect(a.service!.exec.supplementaryGroups).toBe(b.socket!.exec.supplementaryGroups);
    expect(a.service!.successExitStatus.codes as unknown).toBe(a.unit.after);
    expect(Object.isFrozen(a.service!.exec.runtimeDirectory)).toBe(true);
    expect(() => a.unit.wants.push("x.service")).toThrow();
    // Lists that hold something, and the unit's own bookkeeping lists, are not touched.
    expect(Object.isFrozen(a.service!.execStart)).toBe(false);
    expect(Object.isFrozen(a.service!.exec.environment)).toBe(false);
    expect(Object.isFrozen(b.socket!.listen)).toBe(false);
    expect(Object.isFrozen(a.dropinPaths)).toBe(false);
    expect(Object.isFrozen(a.aliases)).toBe(false);
    // Settings emptied back to unset (undefined) and a socket without a [Socket] section build as well.
    const u = build("u.service", "[Unit]\nDescription=\n[Service]\nExecStart=/bin/true\nUser=\n");
    expect(u.loadState).toBe("loaded");
    expect(u.unit.description).toBeUndefined();
    const s = build("s.socket", "[Unit]\nDescription=x\n");
    expect(s.loadState).toBe("loaded");
    expect(s.socket!.listen as unknown).toBe(u.unit.requires);
  });
});
