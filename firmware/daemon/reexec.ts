/**
 * daemon-reexec: the daemon replaces its own process image (execve, same pid) with a fresh
 * one. A request holds every socket (connections wait in the kernel), waits until no job runs
 * and no unit is in transition (at most 30 s), writes the state (reexec-state.ts) and only then
 * answers "ok"; shortly after, it execs. Any failure before the exec (a full /run, a unit that
 * moved meanwhile, execve itself) restores everything: sockets watched again, the control and
 * notify sockets served by this process, and the error reported to the client or the log.
 */
import { rmSync } from "node:fs";
import { errorText } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Manager } from "./manager.ts";
import { collectState, execSelf, reexecBlocker, writeState, type ReexecState } from "./reexec-state.ts";

/** How long a request waits for running jobs and transitions to end. */
export const REEXEC_SETTLE_MS = 30_000;

export interface ReexecDeps {
  manager: Manager;
  logger: Logger;
  /** Directory for the state file (root only). */
  stateDir: string;
  stopping(): boolean;
  /** What the state carries besides the units: start time, endpoints, log records, gadget. */
  extra(): Omit<ReexecState, "version" | "units">;
  /** Stops serving the control and notify sockets, keeping their fds for the new image. */
  releaseEndpoints(): void;
  /** Serves them again (the exec failed). */
  restoreEndpoints(): void;
  /** Last things before execve (timers of the daemon). */
  beforeExec(): void;
  /** Tests replace execve. */
  exec?: (state: ReexecState, path: string) => string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Delay between the answer and the exec, so the answer leaves first. */
  answerDelayMs?: number;
}

export class Reexec {
  private pending = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly d: ReexecDeps) {
    this.now = d.now ?? Date.now;
    this.sleep = d.sleep ?? Bun.sleep;
  }

  /** Handles one request: null (then the exec follows) or why it cannot happen. */
  async request(): Promise<string | null> {
    if (this.d.stopping()) return "the daemon is stopping";
    if (this.pending) return "a daemon-reexec is already under way";
    this.pending = true;
    // New connections wait in the kernel while running jobs finish, so that every unit is
    // settled (Accept=yes instances running or gone) when the state is taken.
    this.d.manager.holdActivation(true);
    const deadline = this.now() + REEXEC_SETTLE_MS;
    const blocker = await this.settled(deadline);
    if (blocker) return this.giveUp(blocker);
    let written: { state: ReexecState; path: string };
    try {
      written = this.write();
    } catch (e) {
      return this.giveUp(`cannot write the daemon-reexec state: ${errorText(e)}`);
    }
    this.d.logger.info("Re-executing the daemon (daemon-reexec); listening sockets stay open.");
    // Answer the client first, then exec. Nothing new starts meanwhile (sockets are held), but a
    // process may end: the state is checked again at the exec and rewritten if it changed.
    setTimeout(() => void this.execWhenSettled(written, deadline), this.d.answerDelayMs ?? 20);
    return null;
  }

  private async execWhenSettled(written: { state: ReexecState; path: string }, deadline: number): Promise<void> {
    const late = await this.settled(deadline);
    if (late) {
      rmSync(written.path, { force: true });
      this.d.logger.warning(`daemon-reexec abandoned: ${this.giveUp(late)}`);
      return;
    }
    let { state, path } = written;
    const now = this.collect();
    if (JSON.stringify(now) !== JSON.stringify(state)) {
      rmSync(path, { force: true });
      try {
        ({ state, path } = this.write(now));
      } catch (e) {
        this.d.logger.error(`daemon-reexec abandoned: ${this.giveUp(`cannot write the daemon-reexec state: ${errorText(e)}`)}`);
        return;
      }
    }
    this.d.releaseEndpoints();
    this.d.beforeExec();
    const err = (this.d.exec ?? execSelf)(state, path);
    rmSync(path, { force: true });
    this.d.logger.error(`daemon-reexec failed: ${err}; continuing in the old process`);
    this.d.restoreEndpoints();
    this.giveUp(err);
  }

  private collect(): ReexecState {
    return collectState(this.d.manager, this.d.extra());
  }

  private write(state = this.collect()): { state: ReexecState; path: string } {
    return { state, path: writeState(state, this.d.stateDir) };
  }

  private async settled(deadline: number): Promise<string | null> {
    let blocker = reexecBlocker(this.d.manager);
    while (blocker && this.now() < deadline && !this.d.stopping()) {
      await this.sleep(10);
      blocker = reexecBlocker(this.d.manager);
    }
    if (this.d.stopping()) return "the daemon is stopping";
    return blocker && `${blocker} (waited ${REEXEC_SETTLE_MS / 1000} s)`;
  }

  private giveUp(why: string): string {
    this.pending = false;
    this.d.manager.holdActivation(false);
    return why;
  }
}
