/**
 * A unit's control process slot: one chain at a time, its timeout on the unit's timer.
 */
import type { UnitTimer } from "../core/unit-timer.ts";
import { SIGNALS } from "../sys/constants.ts";
import type { UnitLog } from "../core/log.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import { CommandChain, type ChainOutcome } from "./command-chain.ts";
import { buildSpawnSpec, type ExecRequest, type SystemLookups } from "./exec-spec.ts";
import type { OutputHandler, ProcessSpawner } from "./spawn.ts";
import type { ProcessKiller } from "./process-killer.ts";

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

  /**
   * Forgets the running chain, SIGKILLing whatever is left of its process group unless told
   * not to (SendSIGKILL=no, or processes a SIGKILL already failed to end).
   */
  drop(opts: { kill?: boolean } = {}): void {
    const ctl = this.current;
    if (!ctl) return;
    this.current = null;
    const pid = ctl.chain.pid;
    ctl.chain.cancel();
    if (pid !== null && opts.kill !== false) {
      try {
        this.killer.kill(pid, SIGNALS.SIGKILL!, true);
      } catch {
        /* gone */
      }
    }
  }
}

/** What a control chain needs from its unit to spawn its commands. */
export interface ControlContext {
  spawner: ProcessSpawner;
  lookups: SystemLookups;
  log: UnitLog;
  output: OutputHandler;
}

/** One control chain: its commands, what every command's spawn spec shares, and its outcome. */
export interface ControlChainRequest {
  label: string;
  commands: readonly ExecCommand[];
  /** The spawn-spec input every command of the chain shares (all but the command itself). */
  exec: Omit<ExecRequest, "command">;
  next: (o: ChainOutcome) => void;
  timeoutUsec: number;
  onTimeout: () => void;
}

/**
 * Runs a chain of control commands in the unit's slot (sockets and services alike): drops any
 * running chain, builds each command's spec from the shared input, times it out on the slot's
 * timer.
 */
export function runControlChain(slot: ControlSlot, ctx: ControlContext, req: ControlChainRequest): void {
  slot.run(
    (done) =>
      new CommandChain(ctx.spawner, ctx.log, req.label, req.commands, (command) => buildSpawnSpec({ ...req.exec, command }, ctx.lookups), ctx.output, done),
    req.next,
    req.timeoutUsec,
    req.onTimeout,
  );
}
