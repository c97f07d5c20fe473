/**
 * Starting a program the way a unit describes it: credentials, directory, environment, fds at
 * 3.., stdio. The plan (argv of the exec helper, stdio) is pure; spawnPlan() performs it with
 * Bun.spawn and the native exec helper, which sets LISTEN_PID to its own pid before exec.
 */
import { accessSync, constants as fsc, openSync, closeSync } from "node:fs";
import type { Subprocess } from "bun";
import * as n from "../native.ts";
import { DEFAULT_PATH } from "./environment.ts";
import { RLIMITS } from "../unit/exec-context.ts";
import { SIGNALS } from "../sys/constants.ts";

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
  /** cgroup v2 directory to enter before exec. */
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

/** Pids Bun spawned and has not reaped yet (the zombie reaper must leave them to Bun). */
export const bunChildren = new Set<number>();

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
  if (spec.cgroup) a.push("-c", spec.cgroup);
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

type BunStdio = "pipe" | "inherit" | "ignore" | number;

/** Performs a spawn through the native exec helper. */
export class HelperSpawner implements ProcessSpawner {
  constructor(private readonly helper = n.execHelperPath()) {}

  spawn(spec: SpawnSpec, onOutput: OutputHandler): SpawnedProcess {
    const resolved = resolveExecutable(spec.path, spec.env.PATH ?? DEFAULT_PATH);
    // An unknown program still goes through the helper, which fails with 203/EXEC as systemd.
    const argv = helperArgs(this.helper, spec, resolved ?? spec.path);
    const opened: number[] = [];
    const logPipes: number[] = [];
    const pipeWrites: number[] = [];
    const openPath = (path: string, flags: string | number): number => {
      const fd = openSync(path, flags, 0o644);
      opened.push(fd);
      return fd;
    };
    const toBun = (t: StdioTarget, input: boolean): BunStdio => {
      switch (t.kind) {
        case "fd": return t.fd;
        // Bun maps "ignore" to /dev/null for output but closes input; give it a real /dev/null.
        case "null": return input ? openPath("/dev/null", "r") : "ignore";
        case "log": {
          // Our own pipe rather than Bun's: its read end can be handed to a new daemon (reexec).
          const [r, w] = n.pipe();
          pipeWrites.push(w);
          logPipes.push(r);
          return w;
        }
        case "data": return input ? "pipe" : "ignore";
        case "inherit": return "inherit";
        case "path":
          // file: writes from the start without truncating; append: and truncate: as named.
          return openPath(t.path, { r: "r", a: "a", truncate: "w", w: fsc.O_WRONLY | fsc.O_CREAT }[t.flags]);
      }
    };
    const sameAsStdout = spec.stderr.kind === "path" && spec.stdout.kind === "path" && spec.stderr.path === spec.stdout.path;
    const stdio: BunStdio[] = [toBun(spec.stdin, true), toBun(spec.stdout, false), "ignore"];
    stdio[2] = sameAsStdout ? stdio[1]! : toBun(spec.stderr, false);
    const outFd = spec.stdout.kind === "log" ? logPipes[0] : undefined;
    const errFd = spec.stderr.kind === "log" ? logPipes[spec.stdout.kind === "log" ? 1 : 0] : undefined;
    const status = spec.execStatus ? n.pipe() : null;
    let proc: Subprocess;
    try {
      proc = Bun.spawn(argv, {
        env: spec.env,
        stdio: [...stdio, ...spec.fds, ...(status ? [status[1]] : [])] as never,
      });
    } catch (e) {
      for (const fd of logPipes) n.close(fd);
      throw e;
    } finally {
      for (const fd of opened) closeSync(fd);
      for (const fd of pipeWrites) n.close(fd);
      if (status) n.close(status[1]);
    }
    const execResult = status ? readExecStatus(status[0]) : undefined;
    const pid = proc.pid;
    bunChildren.add(pid);
    const pumps: Promise<void>[] = [];
    if (spec.stdin.kind === "data" && proc.stdin && typeof proc.stdin !== "number") {
      const sink = proc.stdin;
      sink.write(spec.stdin.data);
      void sink.end();
    }
    if (outFd !== undefined) pumps.push(pumpPipe(outFd, (l) => onOutput("stdout", l, pid)));
    if (errFd !== undefined) pumps.push(pumpPipe(errFd, (l) => onOutput("stderr", l, pid)));
    const exited = proc.exited.then(async () => {
      bunChildren.delete(pid);
      // Give the pipes a moment to drain so the last lines are logged before the exit.
      await Promise.race([Promise.allSettled(pumps), Bun.sleep(50)]);
      const sig = proc.signalCode;
      return { code: sig ? null : proc.exitCode, signal: sig ? (SIGNALS[sig] ?? 0) : null };
    });
    const logFds = { ...(outFd !== undefined ? { stdout: outFd } : {}), ...(errFd !== undefined ? { stderr: errFd } : {}) };
    return { pid, exited, ...(execResult ? { execResult } : {}), ...(outFd !== undefined || errFd !== undefined ? { logFds } : {}) };
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

