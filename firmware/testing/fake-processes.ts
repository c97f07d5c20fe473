/**
 * Test support, used only by tests: fake processes for the fake host (fake-host.ts): a spawner
 * that records spawn specs and whose processes exit when the test says so, a killer that
 * records signals and delivers them, a process probe and a process watcher over them.
 */
import type { ProcessKiller } from "../exec/process-killer.ts";
import type { ExitInfo, OutputHandler, ProcessSpawner, SpawnedProcess, SpawnSpec } from "../exec/spawn.ts";
import { ProcessWatcher } from "../exec/process-watch.ts";
import type { FdWatch } from "../core/fd-watch.ts";

/**
 * The process probe over the fake spawner: a fake process exists while it is alive; each is in
 * its own session (as the spawned child's setsid() makes it) unless the test puts it in another;
 * the daemon is pid 999 (below the fake pids).
 */
export class FakeProbe {
  readonly self = 999;
  readonly sessions = new Map<number, number>();
  constructor(private readonly spawner: { byPid(pid: number): { alive: boolean } | undefined }) {}
  exists(pid: number): boolean {
    return this.spawner.byPid(pid)?.alive ?? false;
  }
  session(pid: number): number | null {
    return this.exists(pid) ? (this.sessions.get(pid) ?? pid) : null;
  }
}

/** Signals a fake process dies of unless told to ignore them (SIGHUP and the rest are ignored). */
const DEADLY = new Set([2, 3, 6, 9, 15]);

/** A process that never ran: it exits when the test calls exit() or a signal kills it. */
export class FakeProcess implements SpawnedProcess {
  readonly exited: Promise<ExitInfo>;
  execResult?: Promise<number | null>;
  /** How it ended, once it did. */
  exitInfo: ExitInfo | null = null;
  /** Signals it survives (SIGKILL too, for a process stuck in the kernel). */
  readonly ignores = new Set<number>();
  readonly signals: number[] = [];
  private resolveExit!: (e: ExitInfo) => void;
  private resolveExec?: (status: number | null) => void;

  constructor(
    readonly pid: number,
    readonly spec: SpawnSpec,
    readonly onOutput: OutputHandler,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    if (spec.execStatus) this.execResult = new Promise((r) => (this.resolveExec = r));
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }
  /** argv[0] as the unit file wrote it. */
  get name(): string {
    return this.spec.argv[0] ?? this.spec.path;
  }

  exit(code = 0): void {
    this.end({ code, signal: null });
  }
  /** Ends as if killed by sig (whatever it ignores). */
  kill(sig: number): void {
    this.end({ code: null, signal: sig });
  }
  /** Type=exec: execve() succeeded (null) or the helper failed with a status. */
  execDone(status: number | null = null): void {
    this.resolveExec?.(status);
    this.resolveExec = undefined;
  }
  /** A line of output, as the log pipe would deliver it. */
  print(line: string, stream: "stdout" | "stderr" = "stdout"): void {
    this.onOutput(stream, line, this.pid);
  }
  /** A signal arrives: recorded; the process dies unless it ignores it. */
  deliver(sig: number): void {
    this.signals.push(sig);
    if (!this.alive || this.ignores.has(sig) || !DEADLY.has(sig)) return;
    this.kill(sig);
  }
  private end(e: ExitInfo): void {
    if (!this.alive) return;
    this.exitInfo = e;
    this.resolveExit(e);
  }
}

/** What the test wants a spawned program to do, chosen by argv[0]. */
export type Behaviour = { exit: number } | { signal: number } | { throws: string } | "run";

export class FakeSpawner implements ProcessSpawner {
  readonly spawned: FakeProcess[] = [];
  /** Processes the units did not spawn (a forking daemon's child, a MAINPID=): see external(). */
  readonly others: FakeProcess[] = [];
  private nextPid = 1000;
  /** Programs (argv[0] or path) that do something by themselves right after spawning. */
  readonly behaviour = new Map<string, Behaviour>();
  /** Type=exec: report the exec's success at once (false: the test calls execDone()). */
  autoExec = true;
  /** Signals every process spawned from now on survives (add 15 to reach the SIGKILL escalation). */
  readonly ignoredByDefault = new Set<number>();

  spawn(spec: SpawnSpec, onOutput: OutputHandler): SpawnedProcess {
    const b = this.behaviour.get(spec.argv[0] ?? "") ?? this.behaviour.get(spec.path) ?? "run";
    if (typeof b === "object" && "throws" in b) throw new Error(b.throws);
    const p = new FakeProcess(this.nextPid++, spec, onOutput);
    for (const sig of this.ignoredByDefault) p.ignores.add(sig);
    this.spawned.push(p);
    if (this.autoExec) p.execDone(null);
    if (typeof b === "object") queueMicrotask(() => ("exit" in b ? p.exit(b.exit) : p.kill(b.signal)));
    return p;
  }
  byPid(pid: number): FakeProcess | undefined {
    return this.spawned.find((p) => p.pid === pid) ?? this.others.find((p) => p.pid === pid);
  }
  /**
   * A running process no unit spawned (a daemon forked by a Type=forking service, a MAINPID=).
   * pid: a chosen one (process.pid where the unit checks with kill(pid, 0) that it exists).
   */
  external(name = "external", pid = this.nextPid++): FakeProcess {
    const spec: SpawnSpec = {
      path: name,
      argv: [name],
      env: {},
      fds: [],
      stdin: { kind: "null" },
      stdout: { kind: "null" },
      stderr: { kind: "null" },
      nonBlocking: false,
      ignoreSIGPIPE: true,
      limits: {},
      inetd: false,
    };
    const p = new FakeProcess(pid, spec, () => {});
    this.others.push(p);
    return p;
  }
  /** Processes still running. */
  running(): FakeProcess[] {
    return this.spawned.filter((p) => p.alive);
  }
  /** The last spawned process whose argv[0] (or path) is name. */
  last(name?: string): FakeProcess {
    const list = name === undefined ? this.spawned : this.spawned.filter((p) => p.name === name || p.spec.path === name);
    const p = list.at(-1);
    if (!p) throw new Error(`nothing spawned${name ? ` as ${name}` : ""}; spawned: ${this.spawned.map((x) => x.name).join(" ")}`);
    return p;
  }
  /** argv[0] of every spawn, in order. */
  names(): string[] {
    return this.spawned.map((p) => p.name);
  }
}

export interface SignalRecord {
  pid: number;
  signal: number;
  group: boolean;
}

/** Records every signal and delivers it to the fake process of that pid (ESRCH when none lives). */
export class FakeKiller implements ProcessKiller {
  readonly sent: SignalRecord[] = [];
  constructor(private readonly spawner: FakeSpawner) {}
  kill(pid: number, signal: number, group: boolean): void {
    this.sent.push({ pid, signal, group });
    const p = this.spawner.byPid(pid);
    if (!p || !p.alive) throw Object.assign(new Error("No such process"), { errno: 3, code: "ESRCH" });
    p.deliver(signal);
  }
  /** Signals sent to pid, in order. */
  to(pid: number): number[] {
    return this.sent.filter((s) => s.pid === pid).map((s) => s.signal);
  }
}

/**
 * Watching processes bunit did not spawn: a fake process of that pid (see FakeSpawner.external())
 * is returned as it is; any other pid is reported gone at once, as the real watcher does when
 * pidfd_open() fails. No pidfd is opened.
 */
export class FakeProcessWatcher extends ProcessWatcher {
  readonly asked: number[] = [];
  constructor(
    watcher: FdWatch,
    private readonly spawner: FakeSpawner,
  ) {
    super(watcher);
  }
  override watch(pid: number): SpawnedProcess {
    this.asked.push(pid);
    return this.spawner.byPid(pid) ?? { pid, exited: Promise.resolve({ code: 0, signal: null }) };
  }
  override watchPidfd(pid: number): SpawnedProcess {
    return this.watch(pid);
  }
}
