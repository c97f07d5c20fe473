/**
 * Starting a program the way a unit describes it: credentials, directory, environment, fds at
 * 3.., stdio. The exec plan (what the child does between clone3() and execve()) is pure;
 * ProgramSpawner performs it: a native clone3() child, born in the unit's cgroup, puts the fds
 * in place, applies the plan, sets LISTEN_PID to its own pid and execs the program, the first
 * and only exec (as posix_spawn). The exit is seen on a pidfd.
 */
import { accessSync, constants as fsc, openSync } from "node:fs";
import * as n from "../native.ts";
import { DEFAULT_PATH } from "./environment.ts";
import type { ProcessWatcher } from "./process-watch.ts";
import { RLIMITS } from "../unit/exec-context.ts";
import { EPOLLERR, EPOLLOUT, F_GETFL, F_SETFL, O_NONBLOCK, SIGNALS } from "../sys/constants.ts";
import { exitStatusName } from "../unit/values.ts";

export interface Credentials {
  uid: number;
  gid: number;
  groups: number[];
  user: string;
  home: string;
  shell: string;
}

export type StdioTarget =
  | { kind: "fd"; fd: number }
  | { kind: "null" }
  /** Captured line by line into the daemon's log. */
  | { kind: "log" }
  /** Fed from a buffer (StandardInput=data). */
  | { kind: "data"; data: Uint8Array }
  /** The daemon's own stdio (tests and foreground runs). */
  | { kind: "inherit" }
  /** A file: StandardInput=file:, StandardOutput=file:/append:/truncate:, tty, kmsg. */
  | { kind: "path"; path: string; flags: "r" | "w" | "a" | "truncate" };

export interface SpawnSpec {
  /** Absolute path, or a bare name searched in PATH. */
  path: string;
  argv: string[];
  env: Record<string, string>;
  fds: number[];
  stdin: StdioTarget;
  stdout: StdioTarget;
  stderr: StdioTarget;
  credentials?: Credentials;
  workingDirectory?: { path: string; optional: boolean };
  umask?: number;
  nice?: number;
  oomScoreAdjust?: number;
  nonBlocking: boolean;
  ignoreSIGPIPE: boolean;
  /** PrivateNetwork=: the program runs in a network namespace of its own with only loopback. */
  privateNetwork?: boolean;
  limits: Record<string, { soft: number; hard: number }>;
  /** fds 0/1 are the connection (StandardInput=socket): no LISTEN_* variables. */
  inetd: boolean;
  /** cgroup v2 directory the process is born in (clone3 CLONE_INTO_CGROUP). */
  cgroup?: string;
  /** Report whether execve() succeeded (Type=exec). */
  execStatus?: boolean;
}

export type { ExitInfo, SpawnedProcess } from "./process.ts";
import type { SpawnedProcess } from "./process.ts";

/** Output lines of a captured process. */
export type OutputHandler = (stream: "stdout" | "stderr", line: string, pid: number) => void;

export interface ProcessSpawner {
  spawn(spec: SpawnSpec, onOutput: OutputHandler): SpawnedProcess;
}

/** Finds a bare command name in the fixed search path (systemd resolves at load time). */
export function resolveExecutable(name: string, searchPath = DEFAULT_PATH): string | null {
  if (name.startsWith("/")) return name;
  for (const dir of searchPath.split(":")) {
    const p = `${dir}/${name}`;
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** What the child does before it execs the program, and the environment it passes (pure). */
export function execPlan(spec: SpawnSpec): { plan: n.ExecPlan; env: Record<string, string> } {
  const listenFds = spec.inetd ? 0 : spec.fds.length;
  const env = { ...spec.env };
  const pidVariables: string[] = [];
  // The $LISTEN_FDS protocol: LISTEN_PID is the program's pid; without fds no LISTEN_* at all.
  if (listenFds > 0) pidVariables.push("LISTEN_PID");
  else for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) delete env[k];
  // sd_watchdog_enabled() checks WATCHDOG_PID against getpid().
  if (env.WATCHDOG_USEC !== undefined) pidVariables.push("WATCHDOG_PID");
  const c = spec.credentials;
  const plan: n.ExecPlan = {
    listenFds,
    nonBlocking: spec.nonBlocking,
    inetd: spec.inetd,
    ignoreSIGPIPE: spec.ignoreSIGPIPE,
    privateNetwork: !!spec.privateNetwork,
    execStatus: !!spec.execStatus,
    ...(c ? { credentials: { uid: c.uid, gid: c.gid, groups: c.groups } } : {}),
    ...(spec.workingDirectory ? { workingDirectory: spec.workingDirectory } : {}),
    ...(spec.umask !== undefined ? { umask: spec.umask } : {}),
    ...(spec.nice !== undefined ? { nice: spec.nice } : {}),
    ...(spec.oomScoreAdjust !== undefined ? { oomScoreAdjust: spec.oomScoreAdjust } : {}),
    limits: Object.entries(spec.limits).map(([name, l]) => ({ resource: RLIMITS[name]!, soft: l.soft, hard: l.hard })),
    // Without a cgroup nothing finds the service again once the daemon is gone: it dies with it.
    parentDeathSignal: spec.cgroup ? 0 : SIGNALS.SIGKILL!,
    pidVariables,
  };
  return { plan, env };
}

/** systemd's line for a failed step: "Failed at step CHDIR spawning /usr/bin/foo: No such file or directory". */
export function failedStepLine(failure: n.SpawnFailure, path: string): string {
  return `Failed at step ${exitStatusName(failure.code) ?? failure.code} spawning ${path}: ${n.strerror(failure.errno)}`;
}

/** Reads a captured output pipe line by line until EOF, then closes it. */
export async function pumpPipe(fd: number, onLine: (l: string) => void): Promise<void> {
  try {
    await pumpLines(Bun.file(fd).stream() as ReadableStream<Uint8Array>, onLine);
  } catch {
    /* closed under us */
  } finally {
    try {
      n.close(fd);
    } catch {
      /* already closed */
    }
  }
}

async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ""));
      buf = buf.slice(nl + 1);
    }
    if (buf.length > 64 * 1024) {
      onLine(buf);
      buf = "";
    }
  }
  buf += dec.decode();
  if (buf.length) onLine(buf);
}

/** Performs a spawn: one native clone3() whose child applies the exec plan and execs the program. */
export class ProgramSpawner implements ProcessSpawner {
  constructor(private readonly processes: ProcessWatcher) {}

  spawn(spec: SpawnSpec, onOutput: OutputHandler): SpawnedProcess {
    // An unknown program is still spawned: its execve() fails with 203/EXEC, as in systemd.
    const path = resolveExecutable(spec.path, spec.env.PATH ?? DEFAULT_PATH) ?? spec.path;
    const { plan, env } = execPlan(spec);
    /** Our copies of what the child gets: closed once it is started. */
    const childEnds: number[] = [];
    /** Ends we keep (log pipes, the exec status pipe, stdin data): closed on failure. */
    const ours: number[] = [];
    const openPath = (path: string, flags: string | number): number => {
      const fd = openSync(path, flags, 0o644);
      childEnds.push(fd);
      return fd;
    };
    const pipe = (childReads: boolean): number => {
      const [r, w] = n.pipe();
      childEnds.push(childReads ? r : w);
      ours.push(childReads ? w : r);
      return childReads ? r : w;
    };
    const target = (t: StdioTarget, std: 0 | 1 | 2): number => {
      const input = std === 0;
      switch (t.kind) {
        case "fd":
          return t.fd;
        case "null":
          return openPath("/dev/null", input ? "r" : "w");
        // Our own pipe: its read end can be handed to a new daemon (reexec).
        case "log":
          return pipe(false);
        case "data":
          return input ? pipe(true) : openPath("/dev/null", "w");
        case "inherit":
          return std;
        case "path":
          // file: writes from the start without truncating; append: and truncate: as named.
          return openPath(t.path, { r: "r", a: "a", truncate: "w", w: fsc.O_WRONLY | fsc.O_CREAT }[t.flags]);
      }
    };
    const sameAsStdout = spec.stderr.kind === "path" && spec.stdout.kind === "path" && spec.stderr.path === spec.stdout.path;
    let started: { pid: number; pidfd: number; failure?: n.SpawnFailure };
    let stdinData: number | undefined, outFd: number | undefined, errFd: number | undefined, status: number | undefined;
    try {
      const stdin = target(spec.stdin, 0);
      if (spec.stdin.kind === "data") stdinData = ours.at(-1);
      const stdout = target(spec.stdout, 1);
      if (spec.stdout.kind === "log") outFd = ours.at(-1);
      const stderr = sameAsStdout ? stdout : target(spec.stderr, 2);
      if (spec.stderr.kind === "log") errFd = ours.at(-1);
      const extra = plan.listenFds ? [...spec.fds] : [];
      if (spec.execStatus) {
        extra.push(pipe(false));
        status = ours.at(-1);
      }
      // Born in its cgroup (CLONE_INTO_CGROUP): no migration afterwards.
      if (spec.cgroup) childEnds.push(n.open(spec.cgroup, fsc.O_RDONLY | fsc.O_DIRECTORY));
      started = n.spawn(path, spec.argv, env, [stdin, stdout, stderr, ...extra], spec.cgroup ? childEnds.at(-1)! : -1, plan);
    } catch (e) {
      for (const fd of ours) n.close(fd);
      throw e;
    } finally {
      for (const fd of childEnds) n.close(fd);
    }
    const pid = started.pid;
    const watched = this.processes.watchPidfd(pid, started.pidfd);
    const execResult = status !== undefined ? readExecStatus(status) : undefined;
    if (started.failure) onOutput("stderr", failedStepLine(started.failure, path), pid);
    const pumps: Promise<void>[] = [];
    if (stdinData !== undefined && spec.stdin.kind === "data") void feed(stdinData, spec.stdin.data);
    if (outFd !== undefined) pumps.push(pumpPipe(outFd, (l) => onOutput("stdout", l, pid)));
    if (errFd !== undefined) pumps.push(pumpPipe(errFd, (l) => onOutput("stderr", l, pid)));
    const exited = watched.exited.then(async (info) => {
      // Give the pipes a moment to drain so the last lines are logged before the exit.
      await Promise.race([Promise.allSettled(pumps), Bun.sleep(50)]);
      return info;
    });
    const logFds = { ...(outFd !== undefined ? { stdout: outFd } : {}), ...(errFd !== undefined ? { stderr: errFd } : {}) };
    return { pid, exited, ...(execResult ? { execResult } : {}), ...(outFd !== undefined || errFd !== undefined ? { logFds } : {}) };
  }
}

/** Writes StandardInput=data into the child's stdin pipe, then closes it (EPIPE ends it early). */
async function feed(fd: number, data: Uint8Array): Promise<void> {
  try {
    n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
    let off = 0;
    while (off < data.length) {
      const w = n.write(fd, data.subarray(off));
      if (w === null) await n.whenReady(fd, EPOLLOUT | EPOLLERR);
      else off += w;
    }
  } catch {
    /* the program closed its stdin */
  } finally {
    n.close(fd);
  }
}

/** EOF without data: the exec succeeded; one byte: the exit status of the step that failed. */
async function readExecStatus(fd: number): Promise<number | null> {
  try {
    for await (const chunk of Bun.file(fd).stream()) {
      if ((chunk as Uint8Array).length) return (chunk as Uint8Array)[0]!;
    }
    return null;
  } finally {
    n.close(fd);
  }
}
