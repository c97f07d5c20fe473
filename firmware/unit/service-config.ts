/** The [Service] section (systemd.service(5)), parsed into ServiceConfig. Pure. */
import { bool, oneOf, path, signal, string, timespan, timespanFix0, unsigned, type DirectiveHandler, type SectionSchema, noEffect } from "./section-schema.ts";
import { execContextSchema, execLines, killContextSchema, newExecContext, newKillContext, type ExecContext, type KillContext } from "./exec-context.ts";
import type { ExecCommand } from "./exec-command.ts";
import { parseUnitName } from "./unit-name.ts";
import { parseExitStatusSet, ValueError } from "./values.ts";
import { splitWords } from "./words.ts";

export const SERVICE_TYPES = ["simple", "exec", "forking", "oneshot", "dbus", "notify", "notify-reload", "idle"] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];
export const RESTART_MODES = ["no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"] as const;
export type RestartMode = (typeof RESTART_MODES)[number];

export interface ExitStatusSet {
  codes: number[];
  signals: number[];
}

export interface ServiceConfig {
  type?: ServiceType;
  execCondition: ExecCommand[];
  execStartPre: ExecCommand[];
  execStart: ExecCommand[];
  execStartPost: ExecCommand[];
  execReload: ExecCommand[];
  execStop: ExecCommand[];
  execStopPost: ExecCommand[];
  restart: RestartMode;
  restartUsec: number;
  restartSteps: number;
  restartMaxDelayUsec?: number;
  timeoutStartUsec: number;
  timeoutStopUsec: number;
  timeoutAbortUsec?: number;
  runtimeMaxUsec: number;
  watchdogUsec: number;
  remainAfterExit: boolean;
  guessMainPID: boolean;
  pidFile?: string;
  successExitStatus: ExitStatusSet;
  restartPreventExitStatus: ExitStatusSet;
  restartForceExitStatus: ExitStatusSet;
  nonBlocking: boolean;
  notifyAccess?: "none" | "main" | "exec" | "all";
  sockets: string[];
  fileDescriptorStoreMax: number;
  fileDescriptorStorePreserve: "no" | "yes" | "restart";
  usbFunctionDescriptors?: string;
  usbFunctionStrings?: string;
  busName?: string;
  exitType: "main" | "cgroup";
  oomPolicy?: string;
  reloadSignal?: number;
  /** OpenFile=: opened by the daemon, passed to the main process after the socket fds. */
  openFiles: OpenFileSpec[];
  exec: ExecContext;
  kill: KillContext;
}

/** One OpenFile= entry: PATH[:FDNAME[:OPTIONS]], OPTIONS from read-only, append, truncate, graceful. */
export interface OpenFileSpec {
  path: string;
  name: string;
  mode: "read-write" | "read-only" | "append" | "truncate";
  graceful: boolean;
}

/** systemd's open_file_parse(). */
export function parseOpenFile(v: string): OpenFileSpec {
  const [path = "", name0, opts] = v.split(":");
  if (v.split(":").length > 3) throw new ValueError(`"${v}": expected PATH[:FDNAME[:OPTIONS]]`);
  if (!path.startsWith("/")) throw new ValueError(`"${path}" is not an absolute path`);
  const name = name0 || path.slice(path.lastIndexOf("/") + 1);
  if (!/^[\x21-\x39\x3b-\x7e]{1,255}$/.test(name)) throw new ValueError(`"${name}" is not a valid file descriptor name`);
  const spec: OpenFileSpec = { path, name, mode: "read-write", graceful: false };
  for (const o of (opts ?? "").split(",").filter(Boolean)) {
    if (o === "graceful") spec.graceful = true;
    else if (o === "read-only" || o === "append" || o === "truncate") {
      if (spec.mode !== "read-write") throw new ValueError(`"${v}": read-only, append and truncate exclude each other`);
      spec.mode = o;
    } else throw new ValueError(`"${o}" is not an OpenFile= option (read-only, append, truncate, graceful)`);
  }
  return spec;
}

export function newServiceConfig(): ServiceConfig {
  return {
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
  };
}

/** The effective type: systemd defaults to simple, or oneshot when there is no ExecStart=. */
export function effectiveType(c: ServiceConfig): ServiceType {
  return c.type ?? (c.execStart.length === 0 ? "oneshot" : "simple");
}

const exec = execLines<ServiceConfig>;

const statusSet =
  (get: (c: ServiceConfig) => ExitStatusSet): DirectiveHandler<ServiceConfig> =>
  (c, v) => {
    const s = get(c);
    if (v === "") {
      s.codes = [];
      s.signals = [];
      return;
    }
    const p = parseExitStatusSet(v);
    s.codes.push(...p.codes);
    s.signals.push(...p.signals);
  };

export const SERVICE_SCHEMA: SectionSchema<ServiceConfig> = {
  Type: oneOf(SERVICE_TYPES, (c, v) => (c.type = v)),
  ExecCondition: exec((c) => c.execCondition),
  ExecStartPre: exec((c) => c.execStartPre),
  ExecStart: exec((c) => c.execStart),
  ExecStartPost: exec((c) => c.execStartPost),
  ExecReload: exec((c) => c.execReload),
  ExecStop: exec((c) => c.execStop),
  ExecStopPost: exec((c) => c.execStopPost),
  Restart: oneOf(RESTART_MODES, (c, v) => (c.restart = v ?? "no")),
  RestartSec: timespan((c, v) => (c.restartUsec = v ?? 100e3)),
  RestartSteps: unsigned((c, v) => (c.restartSteps = v ?? 0)),
  RestartMaxDelaySec: timespan((c, v) => (c.restartMaxDelayUsec = v)),
  TimeoutSec: timespanFix0((c, v) => {
    c.timeoutStartUsec = v ?? 90e6;
    c.timeoutStopUsec = v ?? 90e6;
  }),
  TimeoutStartSec: timespanFix0((c, v) => (c.timeoutStartUsec = v ?? 90e6)),
  TimeoutStopSec: timespanFix0((c, v) => (c.timeoutStopUsec = v ?? 90e6)),
  TimeoutAbortSec: timespanFix0((c, v) => (c.timeoutAbortUsec = v)),
  RuntimeMaxSec: timespan((c, v) => (c.runtimeMaxUsec = v === undefined || v === 0 ? Infinity : v)),
  WatchdogSec: timespan((c, v) => (c.watchdogUsec = v ?? 0)),
  RemainAfterExit: bool((c, v) => (c.remainAfterExit = v)),
  GuessMainPID: bool((c, v) => (c.guessMainPID = v)),
  PIDFile: path((c, v) => (c.pidFile = v)),
  SuccessExitStatus: statusSet((c) => c.successExitStatus),
  RestartPreventExitStatus: statusSet((c) => c.restartPreventExitStatus),
  RestartForceExitStatus: statusSet((c) => c.restartForceExitStatus),
  NonBlocking: bool((c, v) => (c.nonBlocking = v)),
  NotifyAccess: oneOf(["none", "main", "exec", "all"] as const, (c, v) => (c.notifyAccess = v)),
  Sockets: (c, v, ctx) => {
    if (v === "") return void (c.sockets = []);
    for (const w of splitWords(v, { unquote: true })) {
      const n = ctx.expand(w);
      const u = parseUnitName(n);
      if (!u || u.type !== "socket") throw new ValueError(`"${n}" is not a socket unit name`);
      c.sockets.push(n);
    }
  },
  FileDescriptorStoreMax: unsigned((c, v) => (c.fileDescriptorStoreMax = v ?? 0)),
  FileDescriptorStorePreserve: (c, v) => {
    if (v === "" || v === "no") c.fileDescriptorStorePreserve = "no";
    else if (v === "yes" || v === "restart") c.fileDescriptorStorePreserve = v;
    else throw new ValueError(`"${v}" is not no, yes or restart`);
  },
  USBFunctionDescriptors: path((c, v) => (c.usbFunctionDescriptors = v)),
  USBFunctionStrings: path((c, v) => (c.usbFunctionStrings = v)),
  BusName: noEffect(
    "bunit has no D-Bus",
    string((c, v) => (c.busName = v)),
  ),
  ExitType: oneOf(["main", "cgroup"] as const, (c, v) => (c.exitType = v ?? "main")),
  OOMPolicy: noEffect(
    "bunit does not watch for OOM kills",
    oneOf(["continue", "stop", "kill"] as const, (c, v) => (c.oomPolicy = v)),
  ),
  ReloadSignal: signal((c, v) => (c.reloadSignal = v)),
  PermissionsStartOnly: noEffect('PermissionsStartOnly= is deprecated (use the "+" prefix)'),
  RootDirectoryStartOnly: noEffect("bunit has no RootDirectory="),
  TimeoutStartFailureMode: noEffect("bunit always terminates on a start timeout"),
  TimeoutStopFailureMode: noEffect("bunit always terminates on a stop timeout"),
  OpenFile: (c, v, ctx) => {
    if (v === "") c.openFiles = [];
    else c.openFiles.push(parseOpenFile(ctx.expand(v)));
  },
  ...execContextSchema<ServiceConfig>(),
  ...killContextSchema<ServiceConfig>(),
};
