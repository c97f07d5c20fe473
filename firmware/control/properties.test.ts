import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnitLoader } from "../unit/unit-loader.ts";
import { TEST_HOST } from "../../test/support/host.ts";
import { escapeControl, formatExecCommand, formatTimespan, formatTimestamp, octal } from "./systemd-format.ts";
import { propertyValue, renderShow, showLines, splitPropertyArgs } from "./show-select.ts";
import { notFoundProperties, unitFileStateOf, unitProperties, type Property, type PropertyContext } from "./unit-properties.ts";
import { unitPatternRegExp } from "../unit/fnmatch.ts";
import { expandNames, jobNameProblem, mangleName } from "./unit-names.ts";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";

describe("systemctl's value formats", () => {
  test("time spans as format_timespan() with accuracy 0", () => {
    expect(formatTimespan(0)).toBe("0");
    expect(formatTimespan(Infinity)).toBe("infinity");
    expect(formatTimespan(90e6)).toBe("1min 30s");
    expect(formatTimespan(2e6)).toBe("2s");
    expect(formatTimespan(100e3)).toBe("100ms");
    expect(formatTimespan(1.5e6)).toBe("1.500000s");
    expect(formatTimespan(1500)).toBe("1.500ms");
    expect(formatTimespan(7)).toBe("7us");
    expect(formatTimespan(90.5e6)).toBe("1min 30.500000s"); // the remainder below a minute: dot notation, as systemd
    expect(formatTimespan(86_400e6 + 3_600e6)).toBe("1d 1h");
  });
  test("timestamps, modes, commands", () => {
    const old = process.env.TZ;
    process.env.TZ = "UTC";
    try {
      expect(formatTimestamp(Date.UTC(2026, 11, 2, 2, 13, 5))).toBe("Wed 2026-12-02 02:13:05 UTC");
    } finally {
      if (old === undefined) delete process.env.TZ;
      else process.env.TZ = old;
    }
    expect(formatTimestamp(0)).toBe("");
    expect(formatTimestamp(null)).toBe("");
    expect(octal(0o666)).toBe("0666");
    expect(octal(0o755)).toBe("0755");
    expect(octal(0o1777)).toBe("1777");
    const cmd = { path: "/bin/echo", argv: ["echo", "a b"], ignoreFailure: true, noEnvExpand: false, privileged: false, ambient: "" as const, viaShell: false };
    expect(formatExecCommand(cmd)).toBe(
      "{ path=/bin/echo ; argv[]=echo a b ; ignore_errors=yes ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
    );
  });
  test("control characters are escaped, printable text (tabs, UTF-8) is kept", () => {
    expect(escapeControl("a\tb é ✓")).toBe("a\tb é ✓");
    expect(escapeControl("\x1b[2J\r\x00\x7f\x85")).toBe("\\x1b[2J\\x0d\\x00\\x7f\\x85");
    expect(escapeControl("line\nforged")).toBe("line\\x0aforged");
  });
});

describe("show's selection rules", () => {
  const props: Property[] = [
    ["Id", "a.service"],
    ["PIDFile", ""],
    ["Listen", "/x (Stream)"],
    ["Listen", "[::]:80 (Stream)"],
    ["MainPID", "0"],
    ["StatusText", "a\nb"],
  ];
  test("empty values only with --all or -p; -p in the unit's order; --value", () => {
    expect(showLines(props, { properties: null, all: false, value: false })).toEqual([
      "Id=a.service",
      "Listen=/x (Stream)",
      "Listen=[::]:80 (Stream)",
      "MainPID=0",
      "StatusText=[unprintable]",
    ]);
    expect(showLines(props, { properties: null, all: true, value: false })).toContain("PIDFile=");
    expect(showLines(props, { properties: ["MainPID", "PIDFile", "Nope"], all: false, value: false })).toEqual(["PIDFile=", "MainPID=0"]);
    expect(showLines(props, { properties: ["Listen"], all: false, value: true })).toEqual(["/x (Stream)", "[::]:80 (Stream)"]);
    expect(splitPropertyArgs(["Id,MainPID", " Listen ", ""])).toEqual(["Id", "MainPID", "Listen"]);
    expect(renderShow([[["Id", "a"]], [["Id", "b"]]], { properties: null, all: false, value: false })).toBe("Id=a\n\nId=b\n");
    expect(propertyValue(props, "Listen")).toBe("/x (Stream)");
    expect(propertyValue(props, "Nope")).toBeNull();
  });
});

describe("unit names", () => {
  test("mangling, globs, templates", () => {
    expect(mangleName("web")).toBe("web.service");
    expect(mangleName("web.socket")).toBe("web.socket");
    expect(mangleName("a b")).toBeNull();
    expect(mangleName("web*")).toBe("web*");
    expect(unitPatternRegExp("web@?.service").test("web@1.service")).toBe(true);
    expect(unitPatternRegExp("web@?.service").test("web@12.service")).toBe(false);
    expect(unitPatternRegExp("[ab].socket").test("b.socket")).toBe(true);
    expect(unitPatternRegExp("[!ab].socket").test("b.socket")).toBe(false);
    expect(unitPatternRegExp("a.service").test("aXservice")).toBe(false);
    expect(unitPatternRegExp("x[").test("x[")).toBe(true);
    const known = () => ["a.service", "ab.service", "b.socket"];
    expect(expandNames(["a*", "b.socket", "a.service", "zz", "no good"], known)).toEqual({
      names: ["a.service", "ab.service", "b.socket", "zz.service"],
      invalid: ['Invalid unit name "no good".'],
    });
    expect(jobNameProblem("web@.service")).toBe("Unit name web@.service is missing the instance name.");
    expect(jobNameProblem("web@1.service")).toBeNull();
  });
});

describe("unit properties", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunit-props-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "web.socket"),
    [
      "[Socket]",
      "ListenStream=/run/web.sock",
      "ListenDatagram=127.0.0.1:5353",
      "Accept=yes",
      "MaxConnections=10",
      "MaxConnectionsPerSource=2",
      "SocketMode=0600",
      "DirectoryMode=0700",
      "SocketUser=nobody",
      "Backlog=16",
      "FileDescriptorName=web",
      "TriggerLimitBurst=5",
      "PollLimitIntervalSec=500ms",
      "DeferTrigger=patient",
      "DeferTriggerMaxSec=10s",
      "FlushPending=yes",
      "PassFileDescriptorsToExec=yes",
      "TimeoutSec=20",
      "ExecStartPre=-/bin/true pre",
      "[Install]",
      "WantedBy=sockets.target",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "app.service"), "[Service]\nType=notify\nExitType=cgroup\nExecStart=/bin/app --x\nEnvironment=TOKEN=s3cret\nRestartSec=250ms\n");
  const loader = new UnitLoader([dir], TEST_HOST);
  const ctx = (over: Partial<PropertyContext> = {}): PropertyContext => ({
    wallMs: (m) => m / 1000,
    triggers: [],
    triggeredBy: [],
    unitFileState: "enabled",
    needDaemonReload: false,
    showEnvironment: false,
    ...over,
  });
  const get = (p: Property[], k: string) => p.filter(([n]) => n === k).map(([, v]) => v);

  test("socket properties under systemd's names and formats", () => {
    const cfg = loader.load("web.socket");
    const p = unitProperties(cfg, null, ctx());
    const one = (k: string) => get(p, k)[0];
    expect(get(p, "Listen")).toEqual(["/run/web.sock (Stream)", "127.0.0.1:5353 (Datagram)"]);
    expect([one("Accept"), one("MaxConnections"), one("MaxConnectionsPerSource"), one("NAccepted"), one("NConnections"), one("NRefused")]).toEqual([
      "yes",
      "10",
      "2",
      "0",
      "0",
      "0",
    ]);
    expect([one("SocketMode"), one("DirectoryMode"), one("SocketUser"), one("SocketGroup"), one("Backlog")]).toEqual(["0600", "0700", "nobody", "", "16"]);
    expect([one("TriggerLimitIntervalUSec"), one("TriggerLimitBurst"), one("PollLimitIntervalUSec"), one("PollLimitBurst")]).toEqual([
      "2s",
      "5",
      "500ms",
      "150",
    ]);
    expect([one("DeferTrigger"), one("DeferTriggerMaxUSec"), one("FileDescriptorName"), one("PassFileDescriptorsToExec"), one("FlushPending")]).toEqual([
      "patient",
      "10s",
      "web",
      "yes",
      "yes",
    ]);
    expect([one("TimeoutUSec"), one("ControlPID"), one("Result"), one("LoadState"), one("ActiveState"), one("SubState")]).toEqual([
      "20s",
      "0",
      "success",
      "loaded",
      "inactive",
      "dead",
    ]);
    expect(one("ExecStartPre")).toContain("path=/bin/true ; argv[]=/bin/true pre ; ignore_errors=yes");
    expect([one("ActiveEnterTimestamp"), one("InactiveEnterTimestamp"), one("NeedDaemonReload"), one("UnitFileState")]).toEqual(["", "", "no", "enabled"]);
    expect(unitFileStateOf(cfg)).toBe("enabled");
  });

  test("service properties, with runtime facts and derived timestamps; Environment= only for readers", () => {
    const cfg = loader.load("app.service");
    expect(unitFileStateOf(cfg)).toBe("static");
    const rt = {
      result: "success",
      stateChangeTime: 5_000_000,
      activeState: () => "active",
      subState: () => "running",
      facts: () => ({ service: { mainPid: 42, controlPid: null, nRestarts: 3, statusText: "ready", execMain: null, cgroup: "/x", tasks: [42], fdStore: [] } }),
    } as unknown as UnitRuntime;
    const p = unitProperties(cfg, rt, ctx());
    const one = (k: string) => get(p, k)[0];
    expect([one("Type"), one("ExitType"), one("MainPID"), one("ExecMainPID"), one("ExecMainStatus"), one("ExecMainCode"), one("NRestarts")]).toEqual([
      "notify",
      "cgroup",
      "42",
      "42",
      "0",
      "0",
      "3",
    ]);
    expect([one("RestartUSec"), one("TimeoutStartUSec"), one("TimeoutUSec")]).toEqual(["250ms", "1min 30s", undefined]);
    expect(one("ActiveEnterTimestampMonotonic")).toBe("5000000");
    expect(one("ActiveEnterTimestamp")).toBe(formatTimestamp(5000));
    expect(one("InactiveEnterTimestamp")).toBe("");
    expect(get(p, "Environment")).toEqual([]);
    expect(get(unitProperties(cfg, rt, ctx({ showEnvironment: true })), "Environment")).toEqual(["TOKEN=s3cret"]);
    const exited = {
      ...rt,
      activeState: () => "failed",
      result: "exit-code",
      facts: () => ({
        service: { mainPid: null, controlPid: null, nRestarts: 0, statusText: null, execMain: { code: 3, signal: null }, cgroup: null, tasks: [], fdStore: [] },
      }),
    } as unknown as UnitRuntime;
    const q = unitProperties(cfg, exited, ctx());
    expect([get(q, "Result")[0], get(q, "ExecMainCode")[0], get(q, "ExecMainStatus")[0], get(q, "InactiveEnterTimestampMonotonic")[0]]).toEqual([
      "exit-code",
      "1",
      "3",
      "5000000",
    ]);
  });

  test("runtime timestamps are used when the unit reports them", () => {
    const cfg = loader.load("app.service");
    const rt = {
      result: "success",
      stateChangeTime: 9,
      activeState: () => "inactive",
      subState: () => "dead",
      facts: () => ({ timestamps: { activeEnter: 1e6, activeExit: 2e6, inactiveEnter: 3e6, inactiveExit: 5e5 } }),
    } as unknown as UnitRuntime;
    const p = unitProperties(cfg, rt, ctx());
    expect(get(p, "ActiveExitTimestampMonotonic")).toEqual(["2000000"]);
    expect(get(p, "InactiveExitTimestampMonotonic")).toEqual(["500000"]);
  });

  test("an unknown unit", () => {
    const p = notFoundProperties("nope.service");
    expect(propertyValue(p, "LoadState")).toBe("not-found");
    expect(propertyValue(p, "ActiveState")).toBe("inactive");
    expect(propertyValue(p, "LoadError")).toBe('org.freedesktop.systemd1.NoSuchUnit "Unit nope.service not found."');
  });
});
