import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "./diagnostics.ts";
import { newExecContext, newKillContext } from "./exec-context.ts";
import { parseUnitText } from "./ini-syntax.ts";
import { applySection } from "./section-schema.ts";
import { effectiveType, newServiceConfig, parseOpenFile, RESTART_MODES, SERVICE_SCHEMA, SERVICE_TYPES, type ServiceConfig } from "./service-config.ts";
import { ValueError } from "./values.ts";

/** Applies a [Service] body (line 2 onwards of u.service) to the defaults; "%n" expands to the unit name. */
function apply(body: string): { c: ServiceConfig; diags: string[] } {
  const p = parseUnitText(`[Service]\n${body}\n`, "u.service");
  const c = newServiceConfig();
  const ds = applySection(SERVICE_SCHEMA, c, p.assignments, { unit: "u.service", expand: (s) => s.replaceAll("%n", "u") });
  return { c, diags: ds.map(formatDiagnostic) };
}
const ok = (body: string) => {
  const r = apply(body);
  expect(r.diags).toEqual([]);
  return r.c;
};
const err = (key: string, value: string, message: string) => expect(apply(`${key}=${value}`).diags).toEqual([`u.service:2: error: ${key}=: ${message}`]);

describe("defaults", () => {
  test("every field as systemd's service_init()", () => {
    expect(newServiceConfig()).toStrictEqual({
      execCondition: [],
      execStartPre: [],
      execStart: [],
      execStartPost: [],
      execReload: [],
      execStop: [],
      execStopPost: [],
      restart: "no",
      restartUsec: 100e3,
      restartSteps: 0,
      timeoutStartUsec: 90e6,
      timeoutStopUsec: 90e6,
      runtimeMaxUsec: Infinity,
      watchdogUsec: 0,
      remainAfterExit: false,
      guessMainPID: true,
      successExitStatus: { codes: [], signals: [] },
      restartPreventExitStatus: { codes: [], signals: [] },
      restartForceExitStatus: { codes: [], signals: [] },
      nonBlocking: false,
      sockets: [],
      fileDescriptorStoreMax: 0,
      fileDescriptorStorePreserve: "no",
      exitType: "main",
      openFiles: [],
      exec: newExecContext(),
      kill: newKillContext(),
    });
  });

  test("an empty assignment restores the default", () => {
    const c = ok(
      [
        "Restart=always",
        "Restart=",
        "RestartSec=5",
        "RestartSec=",
        "RestartSteps=3",
        "RestartSteps=",
        "TimeoutSec=5",
        "TimeoutSec=",
        "TimeoutStartSec=5",
        "TimeoutStartSec=",
        "TimeoutStopSec=5",
        "TimeoutStopSec=",
        "RuntimeMaxSec=5",
        "RuntimeMaxSec=",
        "WatchdogSec=5",
        "WatchdogSec=",
        "SuccessExitStatus=1 TERM",
        "SuccessExitStatus=",
        "Sockets=a.socket",
        "Sockets=",
        "FileDescriptorStoreMax=4",
        "FileDescriptorStoreMax=",
        "FileDescriptorStorePreserve=yes",
        "FileDescriptorStorePreserve=",
        "ExitType=cgroup",
        "ExitType=",
        "OpenFile=/a",
        "OpenFile=",
      ].join("\n"),
    );
    expect(c).toStrictEqual(newServiceConfig());
  });

  test("the effective type: simple with ExecStart=, oneshot without, or as set", () => {
    expect(effectiveType(ok(""))).toBe("oneshot");
    expect(effectiveType(ok("ExecStart=/bin/true"))).toBe("simple");
    expect(effectiveType(ok("Type=notify"))).toBe("notify");
  });
});

describe("directives", () => {
  test("types and restart modes systemd.service(5) lists", () => {
    expect([...SERVICE_TYPES]).toEqual(["simple", "exec", "forking", "oneshot", "dbus", "notify", "notify-reload", "idle"]);
    expect([...RESTART_MODES]).toEqual(["no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"]);
    for (const t of SERVICE_TYPES) expect(ok(`Type=${t}`).type).toBe(t);
    for (const r of RESTART_MODES) expect(ok(`Restart=${r}`).restart).toBe(r);
  });

  test("every Exec*= list", () => {
    const c = ok(
      ["ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"].map((k, i) => `${k}=/bin/c${i}`).join("\n"),
    );
    const paths = [c.execCondition, c.execStartPre, c.execStart, c.execStartPost, c.execReload, c.execStop, c.execStopPost].map((l) => l.map((x) => x.path));
    expect(paths).toEqual([["/bin/c0"], ["/bin/c1"], ["/bin/c2"], ["/bin/c3"], ["/bin/c4"], ["/bin/c5"], ["/bin/c6"]]);
  });

  test("timeouts: TimeoutSec= sets both, 0 is infinity; RuntimeMaxSec=0 is infinity", () => {
    expect(ok("TimeoutSec=5")).toMatchObject({ timeoutStartUsec: 5e6, timeoutStopUsec: 5e6 });
    expect(ok("TimeoutSec=0")).toMatchObject({ timeoutStartUsec: Infinity, timeoutStopUsec: Infinity });
    expect(ok("TimeoutStartSec=3\nTimeoutStopSec=4\nTimeoutAbortSec=6")).toMatchObject({ timeoutStartUsec: 3e6, timeoutStopUsec: 4e6, timeoutAbortUsec: 6e6 });
    expect(ok("RuntimeMaxSec=7").runtimeMaxUsec).toBe(7e6);
    expect(ok("RuntimeMaxSec=0").runtimeMaxUsec).toBe(Infinity);
    expect(ok("RestartSec=2\nRestartSteps=3\nRestartMaxDelaySec=9\nWatchdogSec=8")).toMatchObject({
      restartUsec: 2e6,
      restartSteps: 3,
      restartMaxDelayUsec: 9e6,
      watchdogUsec: 8e6,
    });
  });

  test("exit status sets accumulate", () => {
    const c = ok("SuccessExitStatus=1 TERM\nSuccessExitStatus=2\nRestartPreventExitStatus=3 HUP\nRestartForceExitStatus=4");
    expect(c.successExitStatus).toEqual({ codes: [1, 2], signals: [15] });
    expect(c.restartPreventExitStatus).toEqual({ codes: [3], signals: [1] });
    expect(c.restartForceExitStatus).toEqual({ codes: [4], signals: [] });
  });

  test("Sockets=: socket unit names, expanded", () => {
    expect(ok('Sockets=a.socket "%n.socket"\nSockets=b.socket').sockets).toEqual(["a.socket", "u.socket", "b.socket"]);
    err("Sockets", "a.service", '"a.service" is not a socket unit name');
    err("Sockets", "bad", '"bad" is not a socket unit name');
  });

  test("FileDescriptorStorePreserve=", () => {
    expect(["no", "yes", "restart"].map((v) => ok(`FileDescriptorStorePreserve=${v}`).fileDescriptorStorePreserve)).toEqual(["no", "yes", "restart"]);
    err("FileDescriptorStorePreserve", "maybe", '"maybe" is not no, yes or restart');
  });

  test("plain settings land in their fields", () => {
    expect(
      ok(
        "RemainAfterExit=yes\nGuessMainPID=no\nPIDFile=/run/%n.pid\nNonBlocking=yes\nNotifyAccess=all\nFileDescriptorStoreMax=5\nUSBFunctionDescriptors=/a\nUSBFunctionStrings=/b\nExitType=cgroup\nReloadSignal=USR1",
      ),
    ).toMatchObject({
      remainAfterExit: true,
      guessMainPID: false,
      pidFile: "/run/u.pid",
      nonBlocking: true,
      notifyAccess: "all",
      fileDescriptorStoreMax: 5,
      usbFunctionDescriptors: "/a",
      usbFunctionStrings: "/b",
      exitType: "cgroup",
      reloadSignal: 10,
    });
    err("NotifyAccess", "some", '"some" is not one of: none, main, exec, all');
  });

  test("settings without an effect are kept and noticed", () => {
    const r = apply(
      "BusName=org.x\nOOMPolicy=kill\nPermissionsStartOnly=yes\nRootDirectoryStartOnly=yes\nTimeoutStartFailureMode=abort\nTimeoutStopFailureMode=abort",
    );
    expect(r.diags).toEqual([
      "u.service:2: notice: BusName=: bunit has no D-Bus, ignoring",
      "u.service:3: notice: OOMPolicy=: bunit does not watch for OOM kills, ignoring",
      'u.service:4: notice: PermissionsStartOnly=: PermissionsStartOnly= is deprecated (use the "+" prefix), ignoring',
      "u.service:5: notice: RootDirectoryStartOnly=: bunit has no RootDirectory=, ignoring",
      "u.service:6: notice: TimeoutStartFailureMode=: bunit always terminates on a start timeout, ignoring",
      "u.service:7: notice: TimeoutStopFailureMode=: bunit always terminates on a stop timeout, ignoring",
    ]);
    expect(r.c).toMatchObject({ busName: "org.x", oomPolicy: "kill" });
    err("OOMPolicy", "ignore", '"ignore" is not one of: continue, stop, kill');
  });
});

describe("OpenFile=", () => {
  const bad = (v: string) => {
    try {
      parseOpenFile(v);
    } catch (e) {
      expect(e).toBeInstanceOf(ValueError);
      return (e as Error).message;
    }
    throw new Error("no ValueError");
  };

  test("PATH[:FDNAME[:OPTIONS]]", () => {
    expect(parseOpenFile("/etc/x.conf")).toEqual({ path: "/etc/x.conf", name: "x.conf", mode: "read-write", graceful: false });
    expect(parseOpenFile("/etc/x:cfg")).toEqual({ path: "/etc/x", name: "cfg", mode: "read-write", graceful: false });
    expect(parseOpenFile("/etc/x::read-only,graceful")).toEqual({ path: "/etc/x", name: "x", mode: "read-only", graceful: true });
    for (const m of ["append", "truncate"] as const) expect(parseOpenFile(`/x:n:${m}`).mode).toBe(m);
    expect(parseOpenFile("/x:n:,graceful,").graceful).toBe(true);
    expect(ok("OpenFile=/run/%n\nOpenFile=/b:n").openFiles.map((o) => [o.path, o.name])).toEqual([
      ["/run/u", "u"],
      ["/b", "n"],
    ]);
  });

  test("errors", () => {
    expect(bad("/a:b:c:d")).toBe('"/a:b:c:d": expected PATH[:FDNAME[:OPTIONS]]');
    expect(bad("rel")).toBe('"rel" is not an absolute path');
    expect(bad("")).toBe('"" is not an absolute path');
    expect(bad("/")).toBe('"" is not a valid file descriptor name');
    expect(bad("/x:a b")).toBe('"a b" is not a valid file descriptor name');
    expect(bad(`/x:${"n".repeat(256)}`)).toBe(`"${"n".repeat(256)}" is not a valid file descriptor name`);
    expect(parseOpenFile(`/x:${"n".repeat(255)}`).name).toBe("n".repeat(255));
    expect(bad("/x:n:read-only,append")).toBe('"/x:n:read-only,append": read-only, append and truncate exclude each other');
    expect(bad("/x:n:exclusive")).toBe('"exclusive" is not an OpenFile= option (read-only, append, truncate, graceful)');
    err("OpenFile", "rel", '"rel" is not an absolute path');
  });
});
