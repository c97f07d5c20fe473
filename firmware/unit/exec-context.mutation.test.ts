import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "./diagnostics.ts";
import {
  type ExecContext,
  execContextSchema,
  execLines,
  type KillContext,
  killContextSchema,
  newExecContext,
  newKillContext,
  RLIMITS,
} from "./exec-context.ts";
import type { ExecCommand } from "./exec-command.ts";
import { parseUnitText } from "./ini-syntax.ts";
import { applySection, type SectionSchema } from "./section-schema.ts";

type Holder = { exec: ExecContext; kill: KillContext; cmds: ExecCommand[] };
const SCHEMA: SectionSchema<Holder> = { ...execContextSchema<Holder>(), ...killContextSchema<Holder>(), Run: execLines<Holder>((h) => h.cmds) };

/** Applies `body` (line 2 onwards of u.service); "%n" expands to "u". */
function apply(body: string): { h: Holder; diags: string[] } {
  const p = parseUnitText(`[Service]\n${body}\n`, "u.service");
  const h: Holder = { exec: newExecContext(), kill: newKillContext(), cmds: [] };
  const ds = applySection(SCHEMA, h, p.assignments, { unit: "u.service", expand: (s) => s.replaceAll("%n", "u") });
  return { h, diags: ds.map(formatDiagnostic) };
}
const ok = (body: string) => {
  const r = apply(body);
  expect(r.diags).toEqual([]);
  return r.h;
};
const err = (key: string, value: string, message: string) => expect(apply(`${key}=${value}`).diags).toEqual([`u.service:2: error: ${key}=: ${message}`]);

describe("defaults", () => {
  test("as systemd's exec_context_init() and kill_context_init()", () => {
    expect(newExecContext()).toStrictEqual({
      supplementaryGroups: [],
      environment: [],
      environmentFiles: [],
      passEnvironment: [],
      unsetEnvironment: [],
      syslogLevelPrefix: true,
      ignoreSIGPIPE: true,
      privateNetwork: false,
      limits: {},
      runtimeDirectory: [],
      stateDirectory: [],
      cacheDirectory: [],
      logsDirectory: [],
      configurationDirectory: [],
      runtimeDirectoryMode: 0o755,
      stateDirectoryMode: 0o755,
      cacheDirectoryMode: 0o755,
      logsDirectoryMode: 0o755,
      configurationDirectoryMode: 0o755,
      runtimeDirectoryPreserve: "no",
    });
    expect(newKillContext()).toStrictEqual({
      killMode: "control-group",
      killSignal: 15,
      finalKillSignal: 9,
      sendSIGKILL: true,
      sendSIGHUP: false,
      watchdogSignal: 6,
    });
  });

  test("an empty assignment restores the default", () => {
    const h = ok(
      [
        "User=a",
        "User=",
        "WorkingDirectory=/a",
        "WorkingDirectory=",
        "Environment=A=1",
        "Environment=",
        "EnvironmentFile=/e",
        "EnvironmentFile=",
        "StandardInput=null",
        "StandardInput=",
        "StandardOutput=null",
        "StandardOutput=",
        "StandardError=null",
        "StandardError=",
        "StandardInputText=x",
        "StandardInputText=",
        "RuntimeDirectory=a",
        "RuntimeDirectory=",
        "RuntimeDirectoryMode=0700",
        "RuntimeDirectoryMode=",
        "StateDirectoryMode=0700",
        "StateDirectoryMode=",
        "CacheDirectoryMode=0700",
        "CacheDirectoryMode=",
        "LogsDirectoryMode=0700",
        "LogsDirectoryMode=",
        "ConfigurationDirectoryMode=0700",
        "ConfigurationDirectoryMode=",
        "RuntimeDirectoryPreserve=yes",
        "RuntimeDirectoryPreserve=",
        "LimitNOFILE=5",
        "LimitNOFILE=",
        "KillMode=mixed",
        "KillMode=",
        "KillSignal=HUP",
        "KillSignal=",
        "FinalKillSignal=HUP",
        "FinalKillSignal=",
        "WatchdogSignal=HUP",
        "WatchdogSignal=",
        "Run=/bin/true",
        "Run=",
      ].join("\n"),
    );
    expect(h).toEqual({ exec: newExecContext(), kill: newKillContext(), cmds: [] });
    expect(ok("StandardInputData=YQ==\nStandardInputData=").exec.stdinData).toBeUndefined();
  });
});

describe("credentials and working directory", () => {
  test("User=, Group=, SupplementaryGroups=, DynamicUser=", () => {
    expect(ok("User=%n\nGroup=g\nSupplementaryGroups=a b\nSupplementaryGroups=c").exec).toMatchObject({
      user: "u",
      group: "g",
      supplementaryGroups: ["a", "b", "c"],
    });
    expect(apply("DynamicUser=yes").diags).toEqual([
      "u.service:2: notice: DynamicUser=: DynamicUser= is not supported by bunit; the service runs with User=/Group= as given",
    ]);
    expect(apply("DynamicUser=").diags).toEqual([]);
    expect(apply("DynamicUser=a\\\\").diags).toEqual(["u.service:2: error: DynamicUser=: trailing backslash"]);
  });

  test("WorkingDirectory=: absolute, ~, optional with '-'", () => {
    expect(ok("WorkingDirectory=/srv/%n").exec.workingDirectory).toEqual({ path: "/srv/u", optional: false, home: false });
    expect(ok("WorkingDirectory=-/srv").exec.workingDirectory).toEqual({ path: "/srv", optional: true, home: false });
    expect(ok("WorkingDirectory=~").exec.workingDirectory).toEqual({ path: "~", optional: false, home: true });
    expect(ok("WorkingDirectory=-~").exec.workingDirectory).toEqual({ path: "~", optional: true, home: true });
    err("WorkingDirectory", "srv", '"srv" is not an absolute, normalized path (or ~)');
    err("WorkingDirectory", "/a/../b", '"/a/../b" is not an absolute, normalized path (or ~)');
  });

  test("UMask=, Nice=, OOMScoreAdjust= with their ranges", () => {
    expect(ok("UMask=0027\nNice=-20\nOOMScoreAdjust=-1000").exec).toMatchObject({ umask: 0o27, nice: -20, oomScoreAdjust: -1000 });
    expect(ok("Nice=19\nOOMScoreAdjust=1000").exec).toMatchObject({ nice: 19, oomScoreAdjust: 1000 });
    err("Nice", "20", "20 is out of range (-20..19)");
    err("OOMScoreAdjust", "-1001", "-1001 is out of range (-1000..1000)");
  });
});

describe("environment", () => {
  test("Environment=: quoted words, C escapes, specifiers; invalid ones warned and skipped", () => {
    const r = apply('Environment=A=1 "B=two words" C=\\x41 D= =x 1X=y E-F=z G GH H=%n');
    expect(r.h.exec.environment).toEqual([
      ["A", "1"],
      ["B", "two words"],
      ["C", "A"],
      ["D", ""],
      ["H", "u"],
    ]);
    expect(r.diags).toEqual([
      "u.service:2: warning: Environment=: Invalid environment assignment, ignoring: =x",
      "u.service:2: warning: Environment=: Invalid environment assignment, ignoring: 1X=y",
      "u.service:2: warning: Environment=: Invalid environment assignment, ignoring: E-F=z",
      "u.service:2: warning: Environment=: Invalid environment assignment, ignoring: G",
      "u.service:2: warning: Environment=: Invalid environment assignment, ignoring: GH",
    ]);
    expect(ok('Environment="A=1\nEnvironment=B=2').exec.environment).toEqual([
      ["A", "1"],
      ["B", "2"],
    ]);
  });

  test("EnvironmentFile=, PassEnvironment=, UnsetEnvironment=", () => {
    expect(ok("EnvironmentFile=/e/%n\nEnvironmentFile=-/opt").exec.environmentFiles).toEqual([
      { path: "/e/u", optional: false },
      { path: "/opt", optional: true },
    ]);
    err("EnvironmentFile", "rel", '"rel" is not an absolute path');
    err("EnvironmentFile", "-rel", '"rel" is not an absolute path');
    expect(ok("PassEnvironment=A _b\nUnsetEnvironment=X=1 Y").exec).toMatchObject({ passEnvironment: ["A", "_b"], unsetEnvironment: ["X=1", "Y"] });
    for (const w of ["1A", "A-B", "xA=1"]) err("PassEnvironment", w, `"${w}" is not a variable name`);
  });
});

describe("standard input and output", () => {
  test("inputs", () => {
    for (const k of ["null", "tty", "tty-force", "tty-fail", "data", "socket"] as const)
      expect(ok(`StandardInput=${k}`).exec.standardInput).toEqual({ kind: k });
    expect(ok("StandardInput=file:/dev/%n").exec.standardInput).toEqual({ kind: "file", path: "/dev/u" });
    expect(ok("StandardInput=fd:%n").exec.standardInput).toEqual({ kind: "fd", name: "u" });
    expect(ok("StandardInput=fd:").exec.standardInput).toEqual({ kind: "fd", name: "stdin" });
    err("StandardInput", "file:rel", '"rel" is not an absolute path');
    err("StandardInput", "journal", '"journal" is not a valid input (null, tty, tty-force, tty-fail, data, socket, file:PATH, fd:NAME)');
  });

  test("outputs, for StandardOutput= and StandardError=", () => {
    for (const key of ["StandardOutput", "StandardError"] as const) {
      const get = (v: string) => {
        const e = ok(`${key}=${v}`).exec;
        return key === "StandardOutput" ? e.standardOutput : e.standardError;
      };
      for (const k of ["inherit", "null", "tty", "journal", "kmsg", "journal+console", "kmsg+console", "socket"] as const) expect(get(k)).toEqual({ kind: k });
      expect(get("syslog")).toEqual({ kind: "journal" });
      expect(get("syslog+console")).toEqual({ kind: "journal+console" });
      for (const k of ["file", "append", "truncate"] as const) expect(get(`${k}:/log/%n`)).toEqual({ kind: k, path: "/log/u" });
      expect(get("fd:%n")).toEqual({ kind: "fd", name: "u" });
      expect(get("fd:")).toEqual({ kind: "fd", name: "stdout" });
      for (const k of ["file", "append", "truncate"]) err(key, `${k}:rel`, '"rel" is not an absolute path');
      err(
        key,
        "files",
        '"files" is not a valid output (inherit, null, tty, journal, kmsg, journal+console, kmsg+console, socket, file:, append:, truncate:, fd:)',
      );
      err(
        key,
        "data",
        '"data" is not a valid output (inherit, null, tty, journal, kmsg, journal+console, kmsg+console, socket, file:, append:, truncate:, fd:)',
      );
    }
  });

  test("StandardInputText= and StandardInputData= append, each text line ending in a newline", () => {
    const h = ok("StandardInputText=a\\tb %n\nStandardInputData=YW Jj\nStandardInputText=z");
    expect(new TextDecoder().decode(h.exec.stdinData)).toBe("a\tb u\nabcz\n");
    expect([...ok("StandardInputData=AAE=").exec.stdinData!]).toEqual([0, 1]);
    expect([...(ok("StandardInputData=").exec.stdinData ?? [])]).toEqual([]);
    err("StandardInputData", "a*b", "not valid base64");
    err("StandardInputData", "YQ===", "not valid base64");
  });
});

describe("logging settings without an effect", () => {
  test("validated, kept where there is a field, and noticed", () => {
    const r = apply("SyslogIdentifier=%n\nSyslogLevelPrefix=no\nSyslogFacility=local7\nSyslogLevel=debug");
    expect(r.diags).toEqual([
      "u.service:2: notice: SyslogIdentifier=: the log ring names output by its unit, ignoring",
      "u.service:3: notice: SyslogLevelPrefix=: bunit does not read <N> level prefixes from output, ignoring",
      "u.service:4: notice: SyslogFacility=: the log ring keeps no facility, ignoring",
      "u.service:5: notice: SyslogLevel=: service output is logged at info (stdout) and warning (stderr), ignoring",
    ]);
    expect(r.h.exec).toMatchObject({ syslogIdentifier: "u", syslogLevelPrefix: false });
    const facilities = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"];
    for (const f of [...facilities, ...[0, 1, 2, 3, 4, 5, 6, 7].map((n) => `local${n}`)]) expect(apply(`SyslogFacility=${f}`).diags[0]).toContain("notice");
    for (const l of ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]) expect(apply(`SyslogLevel=${l}`).diags[0]).toContain("notice");
    expect(apply("SyslogFacility=local8").diags).toEqual([
      'u.service:2: error: SyslogFacility=: "local8" is not one of: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, local5, local6, local7',
    ]);
    expect(apply("SyslogLevel=trace").diags).toEqual([
      'u.service:2: error: SyslogLevel=: "trace" is not one of: emerg, alert, crit, err, warning, notice, info, debug',
    ]);
  });

  test("IgnoreSIGPIPE=, PrivateNetwork=, TTYPath=", () => {
    expect(ok("IgnoreSIGPIPE=no\nPrivateNetwork=yes\nTTYPath=/dev/%n").exec).toMatchObject({ ignoreSIGPIPE: false, privateNetwork: true, ttyPath: "/dev/u" });
  });
});

describe("directories", () => {
  test("relative names without '..', the part after ':' dropped", () => {
    expect(ok('RuntimeDirectory="a b" c').exec.runtimeDirectory).toEqual(["a b", "c"]);
    const e = ok("RuntimeDirectory=a b/c\nStateDirectory=s:x\nCacheDirectory=%n\nLogsDirectory=l\nConfigurationDirectory=k").exec;
    expect([e.runtimeDirectory, e.stateDirectory, e.cacheDirectory, e.logsDirectory, e.configurationDirectory]).toEqual([
      ["a", "b/c"],
      ["s"],
      ["u"],
      ["l"],
      ["k"],
    ]);
    for (const k of ["RuntimeDirectory", "StateDirectory", "CacheDirectory", "LogsDirectory", "ConfigurationDirectory"]) {
      for (const x of ["/abs", "a/../b", "a//b", "..", "a/"]) err(k, x, `"${x}" must be a relative path without ".."`);
    }
  });

  test("modes and RuntimeDirectoryPreserve=", () => {
    const e = ok("RuntimeDirectoryMode=0700\nStateDirectoryMode=0701\nCacheDirectoryMode=0702\nLogsDirectoryMode=0703\nConfigurationDirectoryMode=0704").exec;
    expect([e.runtimeDirectoryMode, e.stateDirectoryMode, e.cacheDirectoryMode, e.logsDirectoryMode, e.configurationDirectoryMode]).toEqual([
      0o700, 0o701, 0o702, 0o703, 0o704,
    ]);
    expect(["restart", "yes", "no", ""].map((v) => ok(`RuntimeDirectoryPreserve=${v}`).exec.runtimeDirectoryPreserve)).toEqual(["restart", "yes", "no", "no"]);
    err("RuntimeDirectoryPreserve", "maybe", '"maybe" is not a boolean (use yes/no, true/false, on/off, 1/0)');
  });
});

describe("resource limits", () => {
  test("every Limit*= with its resource number", () => {
    expect(RLIMITS).toEqual({
      LimitCPU: 0,
      LimitFSIZE: 1,
      LimitDATA: 2,
      LimitSTACK: 3,
      LimitCORE: 4,
      LimitRSS: 5,
      LimitNPROC: 6,
      LimitNOFILE: 7,
      LimitMEMLOCK: 8,
      LimitAS: 9,
      LimitLOCKS: 10,
      LimitSIGPENDING: 11,
      LimitMSGQUEUE: 12,
      LimitNICE: 13,
      LimitRTPRIO: 14,
      LimitRTTIME: 15,
    });
    for (const name of Object.keys(RLIMITS)) expect(ok(`${name}=infinity`).exec.limits[name]).toEqual({ soft: Infinity, hard: Infinity });
  });

  test("soft:hard, sizes, time limits, nice limits", () => {
    expect(ok("LimitNOFILE=1K:4K").exec.limits.LimitNOFILE).toEqual({ soft: 1024, hard: 4096 });
    expect(ok("LimitNOFILE=5").exec.limits.LimitNOFILE).toEqual({ soft: 5, hard: 5 });
    expect(ok("LimitNOFILE=5:infinity").exec.limits.LimitNOFILE).toEqual({ soft: 5, hard: Infinity });
    expect(ok("LimitCPU=30s").exec.limits.LimitCPU).toEqual({ soft: 30, hard: 30 });
    expect(ok("LimitRTTIME=500").exec.limits.LimitRTTIME).toEqual({ soft: 500, hard: 500 });
    err("LimitCPU", "x", '"x" is not a limit value');
    err("LimitRTTIME", "1.5", '"1.5" is not a limit value');
    expect(ok("LimitNICE=5").exec.limits.LimitNICE).toEqual({ soft: 5, hard: 5 });
    expect(ok("LimitNICE=+5").exec.limits.LimitNICE).toEqual({ soft: 15, hard: 15 });
    expect(ok("LimitNICE=-20").exec.limits.LimitNICE).toEqual({ soft: 40, hard: 40 });
    expect(ok("LimitNICE=0").exec.limits.LimitNICE).toEqual({ soft: 0, hard: 0 });
    err("LimitNICE", "x", '"x" is not a nice limit');
    err("LimitNOFILE", "8:4", "soft limit 8 exceeds hard limit 4");
    expect(ok("LimitNOFILE=4:4").exec.limits.LimitNOFILE).toEqual({ soft: 4, hard: 4 });
    err("LimitNOFILE", "x", '"x" is not a size (examples: 4096, 64K, 8M)');
  });
});

describe("kill settings and command lists", () => {
  test("KillMode= and the signals", () => {
    for (const m of ["control-group", "mixed", "process", "none"] as const) expect(ok(`KillMode=${m}`).kill.killMode).toBe(m);
    expect(ok("KillSignal=INT\nFinalKillSignal=TERM\nWatchdogSignal=USR2\nSendSIGKILL=no\nSendSIGHUP=yes").kill).toStrictEqual({
      killMode: "control-group",
      killSignal: 2,
      finalKillSignal: 15,
      sendSIGKILL: false,
      sendSIGHUP: true,
      watchdogSignal: 12,
    });
    const r = apply("RestartKillSignal=HUP");
    expect(r.diags).toEqual(["u.service:2: notice: RestartKillSignal=: a restart stops with KillSignal=, ignoring"]);
    expect(r.h.kill.restartKillSignal).toBe(1);
    err("KillMode", "all", '"all" is not one of: control-group, mixed, process, none');
  });

  test("Exec lines append; specifiers expand per word", () => {
    expect(ok("Run=/bin/a %n ; /bin/b\nRun=/bin/c").cmds.map((c) => c.argv)).toEqual([["/bin/a", "u"], ["/bin/b"], ["/bin/c"]]);
  });
});
