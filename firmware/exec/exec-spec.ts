/**
 * From a unit's command and [Service]/[Socket] execution settings to a SpawnSpec: user and
 * groups, environment (files read through an injected reader), fds and their names, stdio.
 */
import type { ExecCommand } from "../unit/exec-command.ts";
import { expandEnvironment } from "../unit/exec-command.ts";
import type { ExecContext, StdoutSpec } from "../unit/exec-context.ts";
import { buildEnvironment, DEFAULT_PATH, EnvFileError, parseEnvFile } from "./environment.ts";
import type { Credentials, SpawnSpec, StdioTarget } from "./spawn.ts";

export interface SystemLookups {
  user(name: string): { uid: number; gid: number; home: string; shell: string } | null;
  userById(uid: number): { name: string; home: string; gid: number } | null;
  group(name: string): number | null;
  readFile(path: string): string | null;
}

export class ExecSetupError extends Error {
  constructor(
    message: string,
    /** systemd's exit status for this failure (216 GROUP, 217 USER, 206..., 200 CHDIR). */
    readonly status: number,
  ) {
    super(message);
    this.name = "ExecSetupError";
  }
}

export function resolveCredentials(exec: ExecContext, lk: SystemLookups): Credentials | undefined {
  if (!exec.user && !exec.group && exec.supplementaryGroups.length === 0) return undefined;
  let uid = 0,
    gid = 0,
    home = "/",
    shell = "/bin/sh",
    name = "root";
  if (exec.user) {
    if (/^\d+$/.test(exec.user)) {
      uid = Number(exec.user);
      const pw = lk.userById(uid);
      gid = pw?.gid ?? uid;
      home = pw?.home ?? "/";
      name = pw?.name ?? exec.user;
    } else {
      const pw = lk.user(exec.user);
      if (!pw) throw new ExecSetupError(`User "${exec.user}" not found`, 217);
      ({ uid, gid, home, shell } = pw);
      name = exec.user;
    }
  }
  if (exec.group) {
    if (/^\d+$/.test(exec.group)) gid = Number(exec.group);
    else {
      const g = lk.group(exec.group);
      if (g === null) throw new ExecSetupError(`Group "${exec.group}" not found`, 216);
      gid = g;
    }
  }
  const groups: number[] = [];
  for (const g of exec.supplementaryGroups) {
    const id = /^\d+$/.test(g) ? Number(g) : lk.group(g);
    if (id === null) throw new ExecSetupError(`Supplementary group "${g}" not found`, 216);
    groups.push(id);
  }
  return { uid, gid, groups, user: name, home, shell };
}

export function readEnvironmentFiles(exec: ExecContext, lk: SystemLookups): [string, string][] {
  const out: [string, string][] = [];
  for (const f of exec.environmentFiles) {
    const text = lk.readFile(f.path);
    if (text === null) {
      if (f.optional) continue;
      throw new ExecSetupError(`Failed to load environment file ${f.path}: not found`, 1);
    }
    try {
      out.push(...parseEnvFile(text, f.path));
    } catch (e) {
      if (e instanceof EnvFileError) throw new ExecSetupError(`Invalid environment file: ${e.message}`, 1);
      throw e;
    }
  }
  return out;
}

export interface ExecRequest {
  command: ExecCommand;
  exec: ExecContext;
  /** Socket fds for $LISTEN_FDS (placed at 3..), with their names. */
  fds: number[];
  fdNames: string[];
  /** A connection for StandardInput=socket (Accept=yes with an inetd-style service). */
  connectionFd?: number;
  /** bunit's own variables (REMOTE_ADDR, INVOCATION_ID, MAINPID...). */
  own: Record<string, string>;
  nonBlocking: boolean;
  /** The daemon's environment (PassEnvironment= reads it). */
  daemonEnv: Readonly<Record<string, string | undefined>>;
  /** The manager environment every process starts from. */
  managerEnv?: Record<string, string>;
  /** Apply User=/Group= (false for "+" commands). */
  cgroup?: string;
}

function outputTarget(spec: StdoutSpec | undefined, fallback: StdioTarget, connection: number | undefined, ttyPath: string): StdioTarget {
  if (!spec) return fallback;
  switch (spec.kind) {
    case "inherit":
      return fallback;
    case "null":
      return { kind: "null" };
    case "socket":
      return connection !== undefined ? { kind: "fd", fd: connection } : { kind: "log" };
    case "tty":
      return { kind: "path", path: ttyPath, flags: "a" };
    case "kmsg":
      return { kind: "path", path: "/dev/kmsg", flags: "a" };
    case "file":
      return { kind: "path", path: spec.path, flags: "w" };
    case "append":
      return { kind: "path", path: spec.path, flags: "a" };
    case "truncate":
      return { kind: "path", path: spec.path, flags: "truncate" };
    default:
      return { kind: "log" };
  }
}

export function buildSpawnSpec(req: ExecRequest, lk: SystemLookups): SpawnSpec {
  const { command: cmd, exec } = req;
  const creds = cmd.privileged || cmd.ambient === "!" ? undefined : resolveCredentials(exec, lk);
  const own: Record<string, string> = { ...req.own };
  const inetd = req.connectionFd !== undefined && exec.standardInput?.kind === "socket";
  if (!inetd && req.fds.length > 0) {
    own.LISTEN_FDS = String(req.fds.length);
    own.LISTEN_FDNAMES = req.fdNames.join(":");
  }
  if (creds) {
    own.USER = creds.user;
    own.LOGNAME = creds.user;
    own.HOME = creds.home;
    own.SHELL = creds.shell;
  }
  const env = buildEnvironment({
    manager: req.managerEnv ?? { PATH: DEFAULT_PATH },
    own,
    pass: exec.passEnvironment,
    daemonEnv: req.daemonEnv,
    unit: exec.environment,
    files: readEnvironmentFiles(exec, lk),
    unset: exec.unsetEnvironment,
  });
  const argv = cmd.noEnvExpand ? cmd.argv : expandEnvironment(cmd.argv, env);
  // stdin: socket (inetd), data, or /dev/null; stdout: the log unless configured;
  // "inherit" means "like stdin" for stdout (socket/tty) and "like stdout" for stderr.
  const tty = exec.ttyPath ?? "/dev/console";
  let stdin: StdioTarget = { kind: "null" };
  const si = exec.standardInput;
  if (inetd) stdin = { kind: "fd", fd: req.connectionFd! };
  else if (si?.kind === "data" && exec.stdinData) stdin = { kind: "data", data: exec.stdinData };
  else if (si?.kind === "file") stdin = { kind: "path", path: si.path, flags: "r" };
  else if (si?.kind === "tty" || si?.kind === "tty-force" || si?.kind === "tty-fail") stdin = { kind: "path", path: tty, flags: "r" };
  // stdout "inherit" (the default with a socket or tty on stdin) means the same as stdin.
  const stdinIsStream = inetd || (stdin.kind === "path" && stdin.path === tty);
  const likeStdin: StdioTarget = inetd ? stdin : stdinIsStream ? { kind: "path", path: tty, flags: "a" } : { kind: "log" };
  const stdout = !exec.standardOutput
    ? stdinIsStream
      ? likeStdin
      : { kind: "log" as const }
    : outputTarget(exec.standardOutput, likeStdin, req.connectionFd, tty);
  const stderr = outputTarget(exec.standardError, stdout, req.connectionFd, tty);
  let workingDirectory: SpawnSpec["workingDirectory"];
  if (exec.workingDirectory) {
    const path = exec.workingDirectory.home ? (creds?.home ?? env.HOME ?? "/") : exec.workingDirectory.path;
    workingDirectory = { path, optional: exec.workingDirectory.optional };
  }
  return {
    path: cmd.path,
    argv,
    env,
    fds: inetd ? [] : req.fds,
    stdin,
    stdout,
    stderr,
    credentials: creds,
    workingDirectory,
    umask: exec.umask,
    nice: exec.nice,
    oomScoreAdjust: exec.oomScoreAdjust,
    nonBlocking: req.nonBlocking,
    ignoreSIGPIPE: exec.ignoreSIGPIPE,
    privateNetwork: exec.privateNetwork,
    limits: exec.limits,
    inetd,
    cgroup: req.cgroup,
  };
}
