/**
 * A chain of control commands (ExecStartPre=, ExecStop=, ...) run one after another as a
 * unit's control process.
 */
import type { UnitLog } from "../core/log.ts";
import { errorText } from "../core/errors.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import { ExecSetupError } from "./exec-spec.ts";
import { describeExit, exitResult } from "./exit-status.ts";
import type { ExitInfo, ProcessSpawner, SpawnedProcess, SpawnSpec } from "./spawn.ts";

/** How a chain ended; a failure names its result in the words both sockets and services use. */
export type ChainFailure = "exit-code" | "signal" | "resources";
export type ChainOutcome = { ok: true } | { ok: false; result: ChainFailure; exit?: ExitInfo };

/**
 * Runs commands one after another as the unit's control process; a failing command ends the
 * chain unless it has the "-" prefix. One chain at a time per unit.
 */
export class CommandChain {
  private proc: SpawnedProcess | null = null;
  private cancelled = false;
  private aborted = false;

  constructor(
    private readonly spawner: ProcessSpawner,
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
        this.log.error(`Failed to set up ${this.label}: ${errorText(e)}`);
        return this.done({ ok: false, result: e instanceof ExecSetupError ? "exit-code" : "resources" });
      }
      try {
        this.proc = this.spawner.spawn(spec, this.onOutput);
      } catch (e) {
        if (this.cancelled) return;
        this.log.error(`Failed to spawn ${this.label} ${cmd.path}: ${errorText(e)}`);
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
