/**
 * The execution environment shared by [Service] and [Socket] (systemd.exec(5)) and the kill
 * settings (systemd.kill(5)). Only what bunit applies is modelled; sandboxing directives are
 * reported as not supported by the schema machinery. Pure.
 */
import {
  bool,
  integer,
  list,
  mode,
  oneOf,
  signal,
  string,
  unsupported,
  type DirectiveContext,
  type DirectiveHandler,
  type SectionSchema,
  noEffect,
} from "./section-schema.ts";
import { parseExecLine, type ExecCommand } from "./exec-command.ts";
import { cunescape, splitWords } from "./words.ts";
import { isNormalizedAbsolutePath, parseBoolean, parseIecSize, ValueError } from "./values.ts";
import { SIGNALS } from "../sys/constants.ts";

export type StdinSpec = { kind: "null" | "tty" | "tty-force" | "tty-fail" | "data" | "socket" } | { kind: "file"; path: string } | { kind: "fd"; name: string };

export type StdoutSpec =
  | { kind: "inherit" | "null" | "tty" | "journal" | "kmsg" | "journal+console" | "kmsg+console" | "socket" }
  | { kind: "file" | "append" | "truncate"; path: string }
  | { kind: "fd"; name: string };

export interface RLimit {
  soft: number; // Infinity = RLIM_INFINITY
  hard: number;
}

export const RLIMITS: Record<string, number> = {
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
};

export interface ExecContext {
  user?: string;
  group?: string;
  supplementaryGroups: string[];
  workingDirectory?: { path: string; optional: boolean; home: boolean };
  umask?: number;
  nice?: number;
  oomScoreAdjust?: number;
  /** Environment= assignments in order (later ones win). */
  environment: [string, string][];
  environmentFiles: { path: string; optional: boolean }[];
  passEnvironment: string[];
  unsetEnvironment: string[];
  standardInput?: StdinSpec;
  standardOutput?: StdoutSpec;
  standardError?: StdoutSpec;
  stdinData?: Uint8Array;
  syslogIdentifier?: string;
  syslogLevelPrefix: boolean;
  ignoreSIGPIPE: boolean;
  /** PrivateNetwork=: a network namespace with only loopback. */
  privateNetwork: boolean;
  limits: Record<string, RLimit>;
  runtimeDirectory: string[];
  stateDirectory: string[];
  cacheDirectory: string[];
  logsDirectory: string[];
  configurationDirectory: string[];
  runtimeDirectoryMode: number;
  stateDirectoryMode: number;
  cacheDirectoryMode: number;
  logsDirectoryMode: number;
  configurationDirectoryMode: number;
  runtimeDirectoryPreserve: "no" | "yes" | "restart";
  ttyPath?: string;
}

export interface KillContext {
  killMode: "control-group" | "mixed" | "process" | "none";
  killSignal: number;
  restartKillSignal?: number;
  finalKillSignal: number;
  sendSIGKILL: boolean;
  sendSIGHUP: boolean;
  watchdogSignal: number;
}

export function newExecContext(): ExecContext {
  return {
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
  };
}

export function newKillContext(): KillContext {
  return {
    killMode: "control-group",
    killSignal: SIGNALS.SIGTERM!,
    finalKillSignal: SIGNALS.SIGKILL!,
    sendSIGKILL: true,
    sendSIGHUP: false,
    watchdogSignal: SIGNALS.SIGABRT!,
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses Environment= words "KEY=VALUE" (quotes and C escapes allowed). */
export function parseEnvironmentAssignments(value: string, expand: (s: string) => string, report: DirectiveContext["report"]): [string, string][] {
  const out: [string, string][] = [];
  for (const w of splitWords(value, { unquote: true, cunescape: true, relax: true })) {
    const x = expand(w);
    const eq = x.indexOf("=");
    if (eq <= 0 || !ENV_NAME.test(x.slice(0, eq))) {
      report("warning", `Invalid environment assignment, ignoring: ${x}`);
      continue;
    }
    out.push([x.slice(0, eq), x.slice(eq + 1)]);
  }
  return out;
}

function parseStdin(v: string, ctx: DirectiveContext): StdinSpec {
  if (v.startsWith("fd:")) return { kind: "fd", name: ctx.expand(v.slice(3)) || "stdin" };
  if (v.startsWith("file:")) {
    const p = ctx.expand(v.slice(5));
    if (!p.startsWith("/")) throw new ValueError(`"${p}" is not an absolute path`);
    return { kind: "file", path: p };
  }
  const kinds = ["null", "tty", "tty-force", "tty-fail", "data", "socket"] as const;
  if ((kinds as readonly string[]).includes(v)) return { kind: v as (typeof kinds)[number] };
  throw new ValueError(`"${v}" is not a valid input (null, tty, tty-force, tty-fail, data, socket, file:PATH, fd:NAME)`);
}

function parseStdout(v: string, ctx: DirectiveContext): StdoutSpec {
  for (const k of ["file", "append", "truncate"] as const) {
    if (v.startsWith(k + ":")) {
      const p = ctx.expand(v.slice(k.length + 1));
      if (!p.startsWith("/")) throw new ValueError(`"${p}" is not an absolute path`);
      return { kind: k, path: p };
    }
  }
  if (v.startsWith("fd:")) return { kind: "fd", name: ctx.expand(v.slice(3)) || "stdout" };
  if (v === "syslog") return { kind: "journal" };
  if (v === "syslog+console") return { kind: "journal+console" };
  const kinds = ["inherit", "null", "tty", "journal", "kmsg", "journal+console", "kmsg+console", "socket"] as const;
  if ((kinds as readonly string[]).includes(v)) return { kind: v as (typeof kinds)[number] };
  throw new ValueError(
    `"${v}" is not a valid output (inherit, null, tty, journal, kmsg, journal+console, kmsg+console, socket, file:, append:, truncate:, fd:)`,
  );
}

function parseRlimitValue(v: string, name: string): number {
  if (v === "infinity") return Infinity;
  if (name === "LimitCPU" || name === "LimitRTTIME") {
    // Seconds (CPU) or microseconds (RTTIME) as time spans.
    const m = /^(\d+)(\w*)$/.exec(v);
    if (!m) throw new ValueError(`"${v}" is not a limit value`);
    return Number(m[1]);
  }
  if (name === "LimitNICE") {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new ValueError(`"${v}" is not a nice limit`);
    return n < 0 || v.startsWith("+") ? 20 - n : n;
  }
  return parseIecSize(v);
}

function concatBytes(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  if (!a) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function dirList<C>(get: (c: C) => string[]) {
  return (c: C, v: string, ctx: DirectiveContext) => {
    const target = get(c);
    if (v === "") {
      target.length = 0;
      return;
    }
    for (const w of splitWords(v, { unquote: true })) {
      const x = ctx.expand(w).split(":")[0]!;
      if (x.startsWith("/") || x.split("/").some((p) => p === ".." || p === "")) throw new ValueError(`"${x}" must be a relative path without ".."`);
      target.push(x);
    }
  };
}

type ExecHolder = { exec: ExecContext };
type KillHolder = { kill: KillContext };

export function execContextSchema<C extends ExecHolder>(): SectionSchema<C> {
  const s: SectionSchema<C> = {
    User: string((c, v) => (c.exec.user = v)),
    Group: string((c, v) => (c.exec.group = v)),
    SupplementaryGroups: list((c) => c.exec.supplementaryGroups),
    DynamicUser: unsupported("DynamicUser= is not supported by bunit; the service runs with User=/Group= as given", (v) => {
      if (v !== "") splitWords(v);
    }),
    WorkingDirectory: (c, v, ctx) => {
      if (v === "") return void (c.exec.workingDirectory = undefined);
      const optional = v.startsWith("-");
      const p = ctx.expand(optional ? v.slice(1) : v);
      if (p === "~") return void (c.exec.workingDirectory = { path: "~", optional, home: true });
      if (!isNormalizedAbsolutePath(p)) throw new ValueError(`"${p}" is not an absolute, normalized path (or ~)`);
      c.exec.workingDirectory = { path: p, optional, home: false };
    },
    UMask: mode((c, v) => (c.exec.umask = v)),
    Nice: integer((c, v) => (c.exec.nice = v), -20, 19),
    OOMScoreAdjust: integer((c, v) => (c.exec.oomScoreAdjust = v), -1000, 1000),
    Environment: (c, v, ctx) => {
      if (v === "") return void (c.exec.environment = []);
      c.exec.environment.push(...parseEnvironmentAssignments(v, ctx.expand, ctx.report));
    },
    EnvironmentFile: (c, v, ctx) => {
      if (v === "") return void (c.exec.environmentFiles = []);
      const optional = v.startsWith("-");
      const p = ctx.expand(optional ? v.slice(1) : v);
      if (!p.startsWith("/")) throw new ValueError(`"${p}" is not an absolute path`);
      c.exec.environmentFiles.push({ path: p, optional });
    },
    PassEnvironment: list((c) => c.exec.passEnvironment, {
      check: (w) => {
        if (!ENV_NAME.test(w)) throw new ValueError(`"${w}" is not a variable name`);
      },
    }),
    UnsetEnvironment: list((c) => c.exec.unsetEnvironment),
    StandardInput: (c, v, ctx) => void (c.exec.standardInput = v === "" ? undefined : parseStdin(v, ctx)),
    StandardOutput: (c, v, ctx) => void (c.exec.standardOutput = v === "" ? undefined : parseStdout(v, ctx)),
    StandardError: (c, v, ctx) => void (c.exec.standardError = v === "" ? undefined : parseStdout(v, ctx)),
    StandardInputText: (c, v, ctx) => {
      if (v === "") return void (c.exec.stdinData = undefined);
      c.exec.stdinData = concatBytes(c.exec.stdinData, new TextEncoder().encode(ctx.expand(cunescape(v)) + "\n"));
    },
    StandardInputData: (c, v) => {
      if (v === "") return void (c.exec.stdinData = undefined);
      const clean = v.replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new ValueError("not valid base64");
      c.exec.stdinData = concatBytes(c.exec.stdinData, new Uint8Array(Buffer.from(clean, "base64")));
    },
    SyslogIdentifier: noEffect(
      "the log ring names output by its unit",
      string((c, v) => (c.exec.syslogIdentifier = v)),
    ),
    SyslogLevelPrefix: noEffect(
      "bunit does not read <N> level prefixes from output",
      bool((c, v) => (c.exec.syslogLevelPrefix = v)),
    ),
    SyslogFacility: noEffect(
      "the log ring keeps no facility",
      oneOf(
        [
          "kern",
          "user",
          "mail",
          "daemon",
          "auth",
          "syslog",
          "lpr",
          "news",
          "uucp",
          "cron",
          "authpriv",
          "ftp",
          "local0",
          "local1",
          "local2",
          "local3",
          "local4",
          "local5",
          "local6",
          "local7",
        ],
        () => {},
      ),
    ),
    SyslogLevel: noEffect(
      "service output is logged at info (stdout) and warning (stderr)",
      oneOf(["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"], () => {}),
    ),
    IgnoreSIGPIPE: bool((c, v) => (c.exec.ignoreSIGPIPE = v)),
    PrivateNetwork: bool((c, v) => (c.exec.privateNetwork = v)),
    TTYPath: string((c, v) => (c.exec.ttyPath = v)),
    RuntimeDirectory: dirList((c) => c.exec.runtimeDirectory),
    StateDirectory: dirList((c) => c.exec.stateDirectory),
    CacheDirectory: dirList((c) => c.exec.cacheDirectory),
    LogsDirectory: dirList((c) => c.exec.logsDirectory),
    ConfigurationDirectory: dirList((c) => c.exec.configurationDirectory),
    RuntimeDirectoryMode: mode((c, v) => (c.exec.runtimeDirectoryMode = v ?? 0o755)),
    StateDirectoryMode: mode((c, v) => (c.exec.stateDirectoryMode = v ?? 0o755)),
    CacheDirectoryMode: mode((c, v) => (c.exec.cacheDirectoryMode = v ?? 0o755)),
    LogsDirectoryMode: mode((c, v) => (c.exec.logsDirectoryMode = v ?? 0o755)),
    ConfigurationDirectoryMode: mode((c, v) => (c.exec.configurationDirectoryMode = v ?? 0o755)),
    RuntimeDirectoryPreserve: (c, v) => {
      if (v === "restart") c.exec.runtimeDirectoryPreserve = "restart";
      else c.exec.runtimeDirectoryPreserve = v !== "" && parseBoolean(v) ? "yes" : "no";
    },
  };
  for (const name of Object.keys(RLIMITS)) {
    s[name] = (c, v) => {
      if (v === "") return void delete c.exec.limits[name];
      const [soft, hard] = v.split(":");
      const sv = parseRlimitValue(soft!, name);
      const hv = hard === undefined ? sv : parseRlimitValue(hard, name);
      if (sv > hv) throw new ValueError(`soft limit ${soft} exceeds hard limit ${hard}`);
      c.exec.limits[name] = { soft: sv, hard: hv };
    };
  }
  return s;
}

export function killContextSchema<C extends KillHolder>(): SectionSchema<C> {
  return {
    KillMode: oneOf(["control-group", "mixed", "process", "none"] as const, (c, v) => (c.kill.killMode = v ?? "control-group")),
    KillSignal: signal((c, v) => (c.kill.killSignal = v ?? SIGNALS.SIGTERM!)),
    RestartKillSignal: noEffect(
      "a restart stops with KillSignal=",
      signal((c, v) => (c.kill.restartKillSignal = v)),
    ),
    FinalKillSignal: signal((c, v) => (c.kill.finalKillSignal = v ?? SIGNALS.SIGKILL!)),
    WatchdogSignal: signal((c, v) => (c.kill.watchdogSignal = v ?? SIGNALS.SIGABRT!)),
    SendSIGKILL: bool((c, v) => (c.kill.sendSIGKILL = v)),
    SendSIGHUP: bool((c, v) => (c.kill.sendSIGHUP = v)),
  };
}

/** An Exec*= directive of any section: each assignment appends its command lines, an empty one resets the list. */
export function execLines<C>(get: (c: C) => ExecCommand[]): DirectiveHandler<C> {
  return (c, v, ctx) => {
    const target = get(c);
    if (v === "") {
      target.length = 0;
      return;
    }
    target.push(...parseExecLine(v, ctx.expand));
  };
}
