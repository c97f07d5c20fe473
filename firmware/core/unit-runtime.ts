/**
 * What every running unit shares: its states, the services it may ask of the manager
 * (UnitHost), and the runner for chains of control commands (ExecStartPre= ...).
 */
import type { Clock, Timer } from "./clock.ts";
import type { Logger, UnitLog } from "./log.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import type { ExitInfo, ProcessSpawner, SpawnedProcess, SpawnSpec } from "../service/spawn.ts";
import type { SystemLookups } from "./exec-spec.ts";
import { ExecSetupError } from "./exec-spec.ts";
import { SIGNALS, signalName } from "../sys/constants.ts";
import { exitStatusName } from "../unit/values.ts";

export type ActiveState = "active" | "reloading" | "inactive" | "failed" | "activating" | "deactivating" | "maintenance";

export interface FdWatch {
  watch(fd: number, events: number, handler: (revents: number) => void): void;
  arm(fd: number, events: number): void;
  forget(fd: number): void;
}

export interface ProcessKiller {
  /** Signals a process, or its whole process group when group is true. */
  kill(pid: number, signal: number, group: boolean): void;
}

export interface UnitHost {
  clock: Clock;
  logger: Logger;
  spawner: ProcessSpawner;
  lookups: SystemLookups;
  watcher: FdWatch;
  killer: ProcessKiller;
  daemonEnv: Readonly<Record<string, string | undefined>>;
  managerEnv: Record<string, string>;
  /** The running unit of that name, loading it when needed (null when it cannot be loaded). */
  unit(name: string): UnitRuntime | null;
  /** Queues a start job (the activation of a service); false when it could not be queued. */
  requestStart(name: string, reason: string): boolean;
  hasJob(name: string): boolean;
  /** Called by a unit after each state change. */
  stateChanged(unit: UnitRuntime, from: string, to: string): void;
}

export abstract class UnitRuntime {
  /** The result of the last run: success, exit-code, signal, timeout, resources, ... */
  result = "success";
  /** When the unit last entered an active or inactive state (monotonic µs). */
  stateChangeTime = 0;
  readonly log: UnitLog;

  constructor(
    public config: LoadedUnit,
    protected readonly host: UnitHost,
  ) {
    this.log = host.logger.forUnit(config.name);
  }

  get name(): string {
    return this.config.name;
  }

  abstract activeState(): ActiveState;
  abstract subState(): string;
  /** Begins starting; completion shows as an active (or failed) state. */
  abstract start(): void;
  abstract stop(): void;
  /** Whether start() may be called now (checked by the job engine). */
  canStart(): string | null {
    return null;
  }
  /** Releases everything (the unit is being removed). */
  dispose(): void {}
}

export function describeExit(e: ExitInfo): string {
  if (e.signal !== null) return `status=${e.signal}/${signalName(e.signal).replace(/^SIG/, "")}`;
  const name = exitStatusName(e.code ?? 0);
  return `status=${e.code}${name ? `/${name}` : ""}`;
}

/** systemd's notion of a clean exit (code 0, or SIGHUP/SIGINT/SIGTERM/SIGPIPE). */
export function isCleanExit(e: ExitInfo, success?: { codes: number[]; signals: number[] }): boolean {
  if (e.code === 0) return true;
  if (e.signal !== null && [1, 2, 15, 13].includes(e.signal)) return true;
  if (success) {
    if (e.code !== null && success.codes.includes(e.code)) return true;
    if (e.signal !== null && success.signals.includes(e.signal)) return true;
  }
  return false;
}

export function exitResult(e: ExitInfo): "exit-code" | "signal" {
  return e.signal !== null ? "signal" : "exit-code";
}

export type ChainOutcome = { ok: true } | { ok: false; result: string; exit?: ExitInfo };

/**
 * Runs commands one after another as the unit's control process; a failing command ends the
 * chain unless it has the "-" prefix. One chain at a time per unit.
 */
export class CommandChain {
  private proc: SpawnedProcess | null = null;
  private cancelled = false;
  private aborted = false;

  constructor(
    private readonly host: UnitHost,
    private readonly log: UnitLog,
    private readonly label: string,
    private readonly commands: readonly ExecCommand[],
    private readonly makeSpec: (c: ExecCommand) => SpawnSpec,
    private readonly onOutput: (stream: "stdout" | "stderr", line: string, pid: number) => void,
    private readonly done: (o: ChainOutcome) => void,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  start(): void {
    void this.run();
  }

  /** Stops reporting (the unit moved on); the process itself is killed by the caller. */
  cancel(): void {
    this.cancelled = true;
  }

  /** Runs no further command; done() is called once the current process is gone. */
  abort(): void {
    this.aborted = true;
  }

  private async run(): Promise<void> {
    for (const cmd of this.commands) {
      let spec: SpawnSpec;
      try {
        spec = this.makeSpec(cmd);
      } catch (e) {
        if (this.cancelled) return;
        this.log.error(`Failed to set up ${this.label}: ${(e as Error).message}`);
        return this.done({ ok: false, result: e instanceof ExecSetupError ? "exit-code" : "resources" });
      }
      try {
        this.proc = this.host.spawner.spawn(spec, this.onOutput);
      } catch (e) {
        if (this.cancelled) return;
        this.log.error(`Failed to spawn ${this.label} ${cmd.path}: ${(e as Error).message}`);
        return this.done({ ok: false, result: "resources" });
      }
      const exit = await this.proc.exited;
      this.proc = null;
      if (this.cancelled) return;
      if (this.aborted) return this.done({ ok: false, result: exitResult(exit), exit });
      // For control commands only exit code 0 is clean (systemd's EXIT_CLEAN_COMMAND).
      if (exit.code !== 0) {
        if (cmd.ignoreFailure) {
          this.log.info(`${this.label} ${cmd.path} exited, ${describeExit(exit)} (ignored)`);
          continue;
        }
        this.log.warning(`${this.label} ${cmd.path} failed, ${describeExit(exit)}`);
        return this.done({ ok: false, result: exitResult(exit), exit });
      }
    }
    if (!this.cancelled) this.done({ ok: true });
  }
}

/** The control chain a unit runs now, and where its outcome goes (a signal state redirects it). */
export interface ControlRun {
  chain: CommandChain;
  next: (o: ChainOutcome) => void;
}

/**
 * A unit's control process slot (ExecStartPre=, ExecStop=, ...): one chain at a time; its
 * outcome reaches `next` unless the chain was dropped or replaced meanwhile; its timeout runs on
 * the unit's timer; dropping it kills what is left of its process group.
 */
export class ControlSlot {
  current: ControlRun | null = null;

  constructor(
    private readonly killer: ProcessKiller,
    private readonly timer: UnitTimer,
  ) {}

  /** Drops any running chain, then starts the one `make` builds around the completion callback. */
  run(make: (done: (o: ChainOutcome) => void) => CommandChain, next: (o: ChainOutcome) => void, timeoutUsec: number, onTimeout: () => void): void {
    this.drop();
    const run: ControlRun = { chain: undefined as unknown as CommandChain, next };
    run.chain = make((o) => {
      if (this.current !== run) return;
      this.current = null;
      this.timer.cancel();
      run.next(o);
    });
    this.current = run;
    this.timer.arm(timeoutUsec, () => {
      if (this.current === run) onTimeout();
    });
    run.chain.start();
  }

  /** Forgets the running chain, killing whatever is left of it. */
  drop(): void {
    const ctl = this.current;
    if (!ctl) return;
    this.current = null;
    const pid = ctl.chain.pid;
    ctl.chain.cancel();
    if (pid !== null) {
      try {
        this.killer.kill(pid, SIGNALS.SIGKILL!, true);
      } catch {
        /* gone */
      }
    }
  }
}

/** A one-shot timer owned by a unit; re-arming cancels the previous one. */
export class UnitTimer {
  private t: Timer | null = null;
  private deadline = Infinity;
  private fn: (() => void) | null = null;
  constructor(private readonly clock: Clock) {}
  arm(usec: number, fn: () => void): void {
    this.cancel();
    this.deadline = this.clock.now() + usec;
    this.fn = fn;
    this.t = this.clock.setTimer(usec, () => {
      this.t = null;
      this.fn = null;
      fn();
    });
  }
  /**
   * Moves an armed timer's expiry to now + usec if that is later (EXTEND_TIMEOUT_USEC=: never
   * earlier than the original timeout). Returns whether it moved.
   */
  extend(usec: number): boolean {
    const fn = this.fn;
    const want = this.clock.now() + usec;
    if (!fn || want <= this.deadline) return false; // fn is set exactly while armed
    this.arm(usec, fn);
    return true;
  }
  cancel(): void {
    this.t?.cancel();
    this.t = null;
    this.fn = null;
  }
  get armed(): boolean {
    return this.t !== null;
  }
}
