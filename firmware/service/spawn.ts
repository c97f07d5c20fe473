/**
 * Starting a program the way a unit describes it: credentials, directory, environment, fds at
 * 3.., stdio. The plan (argv of the exec helper, stdio) is pure; HelperSpawner performs it:
 * a native clone3() starts the exec helper with the fds in place, born in the unit's cgroup,
 * and the helper sets LISTEN_PID to its own pid before exec. The exit is seen on a pidfd.
 */
import { accessSync, constants as fsc, openSync } from "node:fs";
import type { FdWatch } from "../core/unit-runtime.ts";
import * as n from "../native.ts";
import { DEFAULT_PATH } from "./environment.ts";
import { watchPidfd } from "./process-watch.ts";
import { RLIMITS } from "../unit/exec-context.ts";
import { EPOLLERR, EPOLLOUT, F_GETFL, F_SETFL, O_NONBLOCK } from "../sys/constants.ts";

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
  limits: Record<string, { soft: number; hard: number }>;
  /** fds 0/1 are the connection (StandardInput=socket): no LISTEN_* variables. */
  inetd: boolean;
  /** cgroup v2 directory the process is born in (clone3 CLONE_INTO_CGROUP). */
  cgroup?: string;
  /** Report whether execve() succeeded (Type=exec). */
  execStatus?: boolean;
}

export interface ExitInfo {
  /** Exit status when the process exited, else null. */
  code: number | null;
  /** Terminating signal number, else null. */
  signal: number | null;
}

export interface SpawnedProcess {
  pid: number;
  exited: Promise<ExitInfo>;
  /** With execStatus: resolves to null once the program runs, or to the helper's exit status. */
  execResult?: Promise<number | null>;
  /** Read ends of the pipes carrying captured output (handed over by daemon-reexec). */
  logFds?: { stdout?: number; stderr?: number };
}

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

/** The exec helper's command line for a spec (pure). */
export function helperArgs(helper: string, spec: SpawnSpec, resolvedPath: string): string[] {
  const a = [helper, "-n", String(spec.inetd ? 0 : spec.fds.length), "-b", spec.nonBlocking ? "1" : "0"];
  if (spec.inetd) a.push("-i");
  if (spec.ignoreSIGPIPE) a.push("-p");
  if (spec.credentials) {
    a.push("-u", String(spec.credentials.uid), "-g", String(spec.credentials.gid), "-G", spec.credentials.groups.join(","));
  }
  if (spec.workingDirectory) a.push("-d", (spec.workingDirectory.optional ? "-" : "") + spec.workingDirectory.path);
  if (spec.umask !== undefined) a.push("-m", spec.umask.toString(8));
  if (spec.nice !== undefined) a.push("-N", String(spec.nice));
  if (spec.oomScoreAdjust !== undefined) a.push("-O", String(spec.oomScoreAdjust));
  if (spec.execStatus) a.push("-x");
  for (const [name, l] of Object.entries(spec.limits)) {
    const fmt = (v: number) => (Number.isFinite(v) ? String(v) : "inf");
    a.push("-r", `${RLIMITS[name]}:${fmt(l.soft)}:${fmt(l.hard)}`);
  }
  a.push("--", resolvedPath, ...spec.argv);
  return a;
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

/** Performs a spawn through the native exec helper. */
export class HelperSpawner implements ProcessSpawner {
  constructor(
    private readonly helper = n.execHelperPath(),
    private readonly watcher: FdWatch = n.fdWatcher(),
  ) {}

  spawn(spec: SpawnSpec, onOutput: OutputHandler): SpawnedProcess {
    const resolved = resolveExecutable(spec.path, spec.env.PATH ?? DEFAULT_PATH);
    // An unknown program still goes through the helper, which fails with 203/EXEC as systemd.
    const argv = helperArgs(this.helper, spec, resolved ?? spec.path);
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
        case "fd": return t.fd;
        case "null": return openPath("/dev/null", input ? "r" : "w");
        // Our own pipe: its read end can be handed to a new daemon (reexec).
        case "log": return pipe(false);
        case "data": return input ? pipe(true) : openPath("/dev/null", "w");
        case "inherit": return std;
        case "path":
          // file: writes from the start without truncating; append: and truncate: as named.
          return openPath(t.path, { r: "r", a: "a", truncate: "w", w: fsc.O_WRONLY | fsc.O_CREAT }[t.flags]);
      }
    };
    const sameAsStdout = spec.stderr.kind === "path" && spec.stdout.kind === "path" && spec.stderr.path === spec.stdout.path;
    let started: { pid: number; pidfd: number };
    let stdinData: number | undefined, outFd: number | undefined, errFd: number | undefined, status: number | undefined;
    try {
      const stdin = target(spec.stdin, 0);
      if (spec.stdin.kind === "data") stdinData = ours.at(-1);
      const stdout = target(spec.stdout, 1);
      if (spec.stdout.kind === "log") outFd = ours.at(-1);
      const stderr = sameAsStdout ? stdout : target(spec.stderr, 2);
      if (spec.stderr.kind === "log") errFd = ours.at(-1);
      const extra = [...spec.fds];
      if (spec.execStatus) {
        extra.push(pipe(false));
        status = ours.at(-1);
      }
      // Born in its cgroup (CLONE_INTO_CGROUP): no migration afterwards.
      if (spec.cgroup) childEnds.push(n.open(spec.cgroup, fsc.O_RDONLY | fsc.O_DIRECTORY));
      started = n.spawn(this.helper, argv, spec.env, [stdin, stdout, stderr, ...extra], spec.cgroup ? childEnds.at(-1)! : -1);
    } catch (e) {
      for (const fd of ours) n.close(fd);
      throw e;
    } finally {
      for (const fd of childEnds) n.close(fd);
    }
    const pid = started.pid;
    const watched = watchPidfd(pid, started.pidfd, this.watcher);
    const execResult = status !== undefined ? readExecStatus(status) : undefined;
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

/** EOF without data: the exec succeeded; one byte: the helper's failure status. */
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

