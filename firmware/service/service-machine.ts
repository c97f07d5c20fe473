/**
 * The service state machine (systemd's src/core/service.c) over the states declared in
 * service-state.ts: start, the main process, stop, restart, the watchdog and the forking main
 * PID. What the service itself asks for (sd_notify) and reloads are service-unit.ts, on top.
 */
import { RateLimit } from "../core/rate-limit.ts";
import { errorText } from "../core/errors.ts";
import { UnitTimer } from "../core/unit-timer.ts";
import { buildSpawnSpec } from "../exec/exec-spec.ts";
import { describeExit, exitResult, isCleanExit } from "../exec/exit-status.ts";
import type { ExitInfo, SpawnedProcess } from "../exec/spawn.ts";
import type { AcceptedConnection } from "../runtime/connection.ts";
import { SIGNALS } from "../sys/constants.ts";
import { checkStartConditions } from "./start-conditions.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { restartDelayUsec, shouldRestart } from "./restart-policy.ts";
import { createDirectories, directoryOwner, removeRuntimeDirectories } from "../exec/exec-directories.ts";
import type { ServiceHost } from "./service-host.ts";
import { ServiceProcesses } from "./service-processes.ts";
import { isStopping, SERVICE_STATE_INFO, SERVICE_TRANSITIONS, type ServiceResult, type ServiceState } from "./service-state.ts";

/** How often an ExitType=cgroup service without a main process looks whether processes are left. */
const EXIT_TYPE_CGROUP_POLL_USEC = 200_000;

/** States in which the watchdog runs (the main process is up). */
export const WATCHDOG_STATES = new Set<ServiceState>(["start", "start-post", "running", "reload", "reload-signal", "reload-notify"]);

export abstract class ServiceMachine extends ServiceProcesses {
  private readonly restartTimer: UnitTimer;
  protected startLimit: RateLimit;
  private forbidRestart = false;
  /** The answer to a reload in progress; answered false when the reload is cut short. */
  protected reloadDone: ((ok: boolean) => void) | null = null;
  /** When the service last became active (RuntimeMaxSec= counts from here). */
  private activeSince = 0;

  constructor(config: LoadedUnit, host: ServiceHost, connection: AcceptedConnection | null) {
    super(config, host, connection);
    this.restartTimer = new UnitTimer(host.clock);
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
  }

  protected setState(to: ServiceState): void {
    const from = this.state;
    if (from !== to && !SERVICE_TRANSITIONS[from].includes(to)) {
      throw new Error(`${this.name}: invalid service state transition ${from} -> ${to}`);
    }
    this.state = to;
    this.stateChangeTime = this.host.clock.now();
    if (SERVICE_STATE_INFO[to] === "active" && SERVICE_STATE_INFO[from] !== "active" && SERVICE_STATE_INFO[from] !== "reloading")
      this.activeSince = this.stateChangeTime;
    if (!WATCHDOG_STATES.has(to)) this.watchdogTimer.cancel();
    if (this.reloadDone && SERVICE_STATE_INFO[to] !== "reloading") this.takeReload()!(false); // cut short (stop, watchdog)
    if (from !== to) {
      this.log.debug(`Changed ${from} -> ${to}`);
      this.host.stateChanged(this, from, to);
    }
  }

  protected setResult(r: ServiceResult): void {
    if (this.result === "success") this.result = r;
  }

  // ---- start --------------------------------------------------------------------------------

  start(): void {
    const restarting = this.state === "auto-restart";
    if (restarting) this.restartTimer.cancel();
    else if (this.state !== "dead" && this.state !== "failed") return;
    this.forbidRestart = false;
    // Conditions before the start limit, so that skipped starts do not use it up (systemd's
    // unit_start(): conditions, asserts, then test_startable); an automatic restart is not checked again.
    if (!restarting) {
      const check = checkStartConditions(this.config.unit.conditions, this.host.conditionEnv, this.name, this.log);
      if (check === "skip") {
        this.result = "success";
        if (this.state !== "dead") this.setState("dead");
        else this.host.stateChanged(this, "dead", "dead");
        return;
      }
      if (check === "assert-failed") {
        this.result = "resources";
        this.setState("failed");
        return;
      }
    }
    if (!this.startLimit.below(this.host.clock.now())) {
      this.log.error("Start request repeated too quickly.");
      this.startLimitHit = true;
      this.result = "start-limit-hit";
      // Notify even when already failed: the activating socket must learn of the limit.
      if (this.state === "failed") this.host.stateChanged(this, "failed", "failed");
      else this.setState("failed");
      return;
    }
    this.startLimitHit = false;
    this.result = "success";
    this.mainExit = null;
    this.mainUnknown = false;
    this.statusText = null;
    this.watchdogOverrideUsec = null;
    this.invocationId = crypto.randomUUID().replace(/-/g, "");
    createDirectories(this.cfg.exec, this.host.dirs, this.log, directoryOwner(this.cfg.exec, this.host.lookups));
    this.enterCgroup();
    if (this.cfg.execCondition.length) {
      this.setState("condition");
      return this.runChain(
        "ExecCondition",
        this.cfg.execCondition,
        (o) => {
          if (o.ok) return this.enterStartPre();
          const code = o.exit?.code ?? 255;
          // 1..254 skips the unit (systemd's SERVICE_SKIP_CONDITION: dead, never restarted);
          // 255 or a signal is a failure.
          if (o.exit && o.exit.signal === null && code >= 1 && code <= 254) return this.enterSignal("stop-sigterm", "exec-condition");
          this.enterSignal("stop-sigterm", o.result);
        },
        this.cfg.timeoutStartUsec,
        () => this.enterSignal("stop-sigterm", "timeout"),
      );
    }
    this.enterStartPre();
  }

  private enterStartPre(): void {
    if (this.cfg.execStartPre.length === 0) return this.enterStart();
    this.setState("start-pre");
    this.runChain(
      "ExecStartPre",
      this.cfg.execStartPre,
      (o) => {
        if (o.ok) this.enterStart();
        else this.enterSignal("stop-sigterm", o.result);
      },
      this.cfg.timeoutStartUsec,
      () => {
        this.log.warning("start-pre operation timed out. Terminating.");
        this.enterSignal("stop-sigterm", "timeout");
      },
    );
  }

  private enterStart(): void {
    const cmds = this.cfg.execStart;
    if (cmds.length === 0) {
      // Type=oneshot without ExecStart= (ExecStop= only, or RemainAfterExit=).
      this.setState("start");
      return this.enterStartPost();
    }
    this.setState("start");
    const f = this.fdsForMain();
    const opened = this.openFilesForMain();
    if (!opened) {
      // As systemd's main process failing its set-up: status 202 (FDS), result exit-code.
      this.mainExit = { code: 202, signal: null };
      return this.enterSignal("stop-sigterm", "exit-code");
    }
    f.fds.push(...opened.map((o) => o.fd));
    f.names.push(...opened.map((o) => o.name));
    const closeOpened = () => opened.forEach((o) => this.host.closeFd(o.fd));
    if (this.type === "oneshot") {
      // All ExecStart= commands run one after another as the main process.
      return this.runChain(
        "ExecStart",
        cmds,
        (o) => {
          closeOpened();
          this.mainExit = o.ok ? { code: 0, signal: null } : (o.exit ?? null);
          if (o.ok) this.enterStartPost();
          else this.enterSignal("stop-sigterm", o.result);
        },
        this.cfg.timeoutStartUsec,
        this.startTimedOut,
        { fds: f.fds, names: f.names, connection: f.connection, own: f.own, main: true },
      );
    }
    const cmd = cmds[0]!;
    let proc: SpawnedProcess;
    try {
      const spec = buildSpawnSpec(
        {
          command: cmd,
          exec: this.cfg.exec,
          fds: f.fds,
          fdNames: f.names,
          connectionFd: f.connection,
          own: { ...this.notifyEnv(), ...f.own, INVOCATION_ID: this.invocationId },
          nonBlocking: this.cfg.nonBlocking,
          daemonEnv: this.host.daemonEnv,
          managerEnv: this.host.managerEnv,
          ...(this.cgroupPath ? { cgroup: this.cgroupPath } : {}),
        },
        this.host.lookups,
      );
      if (this.type === "exec") spec.execStatus = true;
      proc = this.host.spawner.spawn(spec, (stream, line, pid) => this.output(stream, line, pid));
    } catch (e) {
      this.log.error(`Failed to run 'start' task: ${errorText(e)}`);
      return this.enterSignal("stop-sigterm", "resources");
    } finally {
      closeOpened(); // the child has its copies
    }
    this.setMain(proc, cmd);
    this.log.debug(`Main process ${proc.pid}: ${cmd.argv.join(" ")}`);
    this.armWatchdog();
    if (this.notifyType || this.type === "forking") {
      // notify: running once READY=1 arrives; forking: once the started process exits.
      this.timer.arm(this.cfg.timeoutStartUsec, this.startTimedOut);
      return;
    }
    if (this.type === "exec" && proc.execResult) {
      this.timer.arm(this.cfg.timeoutStartUsec, this.startTimedOut);
      void proc.execResult.then((status) => {
        if (this.main !== proc || this.state !== "start") return;
        this.timer.cancel();
        if (status === null) this.enterStartPost();
        // On failure the main process exits with that status and onMainExit() takes over.
      });
      return;
    }
    this.enterStartPost();
  }

  /** TimeoutStartSec= of the start itself (ExecStart=, READY=1, a forking parent's exit). */
  private readonly startTimedOut = (): void => {
    this.log.warning("start operation timed out. Terminating.");
    this.enterSignal("stop-sigterm", "timeout");
  };

  protected enterStartPost(): void {
    if (this.cfg.execStartPost.length === 0) return this.enterRunning();
    this.setState("start-post");
    this.runChain(
      "ExecStartPost",
      this.cfg.execStartPost,
      (o) => {
        if (o.ok) this.enterRunning();
        else this.enterStop(o.result);
      },
      this.cfg.timeoutStartUsec,
      () => {
        this.log.warning("start-post operation timed out. Stopping.");
        this.enterStop("timeout");
      },
    );
  }

  private enterRunning(): void {
    const what = this.config.unit.description ?? this.name;
    if (this.main || this.cgroupStillUsed()) {
      this.log.info(`Started ${what}.`);
      this.setState("running");
      this.armRuntimeMax();
      if (!this.main) this.endWithCgroup();
      return;
    }
    if (this.cfg.remainAfterExit) {
      this.log.info(`Finished ${what}.`);
      return this.setState("exited");
    }
    this.enterStop("success");
  }

  /** Stops the service once its cgroup is empty, unless a main process (MAINPID=) turns up meanwhile. */
  private endWithCgroup(): void {
    this.afterCgroupEmpty(
      () => this.enterStop("success"),
      EXIT_TYPE_CGROUP_POLL_USEC,
      () => this.main === null,
    );
  }

  /** The watchdog only runs while the main process is up (WATCHDOG_USEC= while stopping arms nothing). */
  protected override armWatchdog(): void {
    if (!WATCHDOG_STATES.has(this.state)) return this.watchdogTimer.cancel();
    super.armWatchdog();
  }

  /** RuntimeMaxSec=: the time left of it, counted from when the service became active. */
  protected armRuntimeMax(): void {
    const max = this.cfg.runtimeMaxUsec;
    if (max === Infinity || this.state !== "running") return;
    const left = Math.max(0, this.activeSince + max - this.host.clock.now());
    this.timer.arm(left, () => {
      this.log.warning("Service reached runtime time limit. Stopping.");
      this.enterStop("timeout");
    });
  }

  // ---- the main process ---------------------------------------------------------------------

  protected onMainExit(proc: SpawnedProcess, e: ExitInfo): void {
    if (this.main !== proc) return;
    this.main = null;
    this.mainPid = null;
    this.mainExit = e;
    // ExecStart=-...: the main process's failure is recorded but not the service's (systemd:
    // EXEC_COMMAND_IGNORE_FAILURE of the main command makes the result success).
    const clean = isCleanExit(e, this.cfg.successExitStatus) || this.mainCommand?.ignoreFailure === true;
    this.mainCommand = null;
    const result: ServiceResult = clean ? "success" : exitResult(e);
    const how = e.signal !== null ? `code=killed, ${describeExit(e)}` : `code=exited, ${describeExit(e)}`;
    if (clean) this.log.debug(`Main process exited, ${how}`);
    else this.log.warning(`Main process exited, ${how}`);
    switch (this.state) {
      case "start":
        if (!clean) return this.enterSignal("stop-sigterm", result);
        if (this.type === "forking") return this.forkingParentExited();
        if (this.notifyType) {
          this.log.error("Main process exited before sending READY=1.");
          return this.enterSignal("stop-sigterm", "protocol");
        }
        // Type=exec whose program already finished, or a simple service gone before start-post.
        return this.enterStartPost();
      case "start-post":
      case "reload":
        this.setResult(result);
        return; // the control chain continues; enterRunning() sees the dead main process
      case "running":
      case "reload-signal":
      case "reload-notify": {
        this.setResult(result);
        const done = () => (clean && this.cfg.remainAfterExit ? this.setState("exited") : this.enterStop(result));
        if (this.cfg.exitType !== "cgroup" || this.cgroupPath === null) return done();
        this.log.debug("Main process gone; with ExitType=cgroup the service ends when its cgroup is empty.");
        // A new main process (MAINPID=) takes over from the wait.
        return this.afterCgroupEmpty(done, EXIT_TYPE_CGROUP_POLL_USEC, () => this.main === null);
      }
      case "stop":
        this.setResult(result);
        return; // ExecStop= continues
      case "stop-sigterm":
      case "stop-sigkill":
      case "stop-watchdog":
        if (!this.control.current) this.whenEmpty(() => this.enterStopPost("success"));
        return;
      case "final-sigterm":
      case "final-sigkill":
      case "final-watchdog":
        if (!this.control.current) this.whenEmpty(() => this.enterDead("success"));
        return;
      default:
        return;
    }
  }

  // ---- stop ---------------------------------------------------------------------------------

  stop(): void {
    this.forbidRestart = true;
    const s = this.state;
    if (s === "auto-restart") {
      this.restartTimer.cancel();
      return this.setState(this.result === "success" ? "dead" : "failed");
    }
    if (s === "dead" || s === "failed" || isStopping(s)) return;
    if (s === "condition" || s === "start-pre" || s === "start" || s === "start-post" || s === "reload") {
      return this.enterSignal("stop-sigterm", "success");
    }
    this.enterStop("success");
  }

  protected enterStop(r: ServiceResult): void {
    this.setResult(r);
    if (this.cfg.execStop.length === 0) return this.enterSignal("stop-sigterm", "success");
    this.setState("stop");
    this.runChain(
      "ExecStop",
      this.cfg.execStop,
      () => this.enterSignal("stop-sigterm", "success"),
      this.cfg.timeoutStopUsec,
      () => {
        this.log.warning("Stopping timed out. Terminating.");
        this.enterSignal("stop-sigterm", "timeout");
      },
    );
  }

  protected enterSignal(state: "stop-sigterm" | "stop-sigkill" | "final-sigterm" | "final-sigkill", r: ServiceResult): void {
    this.setResult(r);
    const k = this.cfg.kill;
    const sigkill = state.endsWith("sigkill");
    const proceed = () => (state.startsWith("stop") ? this.enterStopPost("success") : this.enterDead("success"));
    const targets: { pid: number; group: boolean }[] = [];
    if (this.main && k.killMode !== "none") targets.push({ pid: this.main.pid, group: k.killMode === "control-group" || (k.killMode === "mixed" && sigkill) });
    const ctl = this.control.current;
    if (ctl && ctl.chain.pid !== null && k.killMode !== "none") targets.push({ pid: ctl.chain.pid, group: k.killMode !== "process" });
    // With a cgroup, KillMode=control-group (and mixed's SIGKILL) reaches every process of the unit.
    const wholeCgroup = this.cgroupPath !== null && (k.killMode === "control-group" || (k.killMode === "mixed" && sigkill));
    const leftovers = wholeCgroup ? this.host.cgroups!.procs(this.cgroupPath!).length : 0;
    if ((targets.length === 0 && leftovers === 0) || (sigkill && !k.sendSIGKILL)) {
      this.control.drop({ kill: !sigkill || k.sendSIGKILL }); // SendSIGKILL=no: nothing is SIGKILLed
      return proceed();
    }
    if (ctl) {
      ctl.chain.abort();
      ctl.next = () => {
        if (!this.main) this.whenEmpty(proceed);
      };
    }
    const sig = sigkill ? k.finalKillSignal : k.killSignal;
    this.signalTargets(targets, sig, wholeCgroup);
    if (!sigkill && k.sendSIGHUP) this.signalTargets(targets, SIGNALS.SIGHUP!, wholeCgroup);
    this.setState(state);
    if (targets.length === 0) this.whenEmpty(proceed); // only leftover processes in the cgroup
    this.timer.arm(this.cfg.timeoutStopUsec, () => {
      this.log.warning(`State '${state}' timed out.${sigkill ? "" : " Killing."}`);
      if (state === "stop-sigterm") return this.enterSignal("stop-sigkill", "timeout");
      if (state === "final-sigterm") return this.enterSignal("final-sigkill", "timeout");
      // Still there after SIGKILL: systemd gives up on them without another signal.
      this.log.warning(
        state === "stop-sigkill" ? "Processes still around after SIGKILL. Ignoring." : "Processes still around after final SIGKILL. Entering failed mode.",
      );
      this.control.drop({ kill: false });
      this.main = null;
      this.mainPid = null;
      if (state === "stop-sigkill") this.enterStopPost("timeout");
      else this.enterDead("timeout");
    });
  }

  private enterStopPost(r: ServiceResult): void {
    this.setResult(r);
    this.timer.cancel();
    if (this.cfg.execStopPost.length === 0) return this.enterSignal("final-sigterm", "success");
    this.setState("stop-post");
    this.runChain(
      "ExecStopPost",
      this.cfg.execStopPost,
      () => this.enterSignal("final-sigterm", "success"),
      this.cfg.timeoutStopUsec,
      () => {
        this.log.warning("stop-post operation timed out. Terminating.");
        this.enterSignal("final-sigterm", "timeout");
      },
    );
  }

  private enterDead(r: ServiceResult): void {
    this.setResult(r);
    this.dropControl();
    this.timer.cancel();
    this.cgroupPoll.cancel();
    this.main = null;
    this.mainPid = null;
    removeRuntimeDirectories(this.cfg.exec, this.host.dirs);
    this.leaveCgroup();
    const restart = !this.forbidRestart && shouldRestart(this.cfg, this.result, this.mainExit);
    if (!restart && this.cfg.fileDescriptorStorePreserve === "no" && this.fdStore.size) {
      this.log.debug(`Closing ${this.fdStore.size} stored file descriptors.`);
      this.fdStore.clear();
    }
    if (restart) {
      this.setState("auto-restart");
      this.log.info(`Scheduled restart job, restart counter is at ${this.nRestarts + 1}.`);
      this.restartTimer.arm(restartDelayUsec(this.cfg, this.nRestarts + 1), () => {
        if (this.state !== "auto-restart") return;
        this.nRestarts++;
        if (!this.host.requestStart(this.name, "automatic restart")) this.setState("failed");
      });
      return;
    }
    const skipped = this.result === "exec-condition";
    if (this.result === "success") this.log.info("Deactivated successfully.");
    else if (skipped) this.log.info("Skipped due to 'exec-condition'.");
    else this.log.warning(`Failed with result '${this.result}'.`);
    this.setState(this.result === "success" || skipped ? "dead" : "failed");
    if (this.connection) this.host.instanceFinished?.(this);
  }

  // ---- main process tracking, cgroup, watchdog --------------------------------------------

  /** The watchdog fired: WatchdogSignal= (SIGABRT) to the main process, SIGKILL after TimeoutAbortSec=. */
  protected enterWatchdog(): void {
    this.watchdogTimer.cancel();
    this.setResult("watchdog");
    this.forbidRestart = false;
    const main = this.main;
    if (!main) return this.enterStop("watchdog");
    try {
      this.host.killer.kill(main.pid, this.cfg.kill.watchdogSignal, false);
    } catch {
      /* already gone */
    }
    this.control.drop();
    this.setState("stop-watchdog");
    this.timer.arm(this.cfg.timeoutAbortUsec ?? this.cfg.timeoutStopUsec, () => {
      this.log.warning("State 'stop-watchdog' timed out. Killing.");
      this.enterSignal("stop-sigkill", "timeout");
    });
  }

  /** Type=forking: the started process exited cleanly; the daemon it forked becomes the main process. */
  protected abstract forkingParentExited(): void;

  protected takeReload(): ((ok: boolean) => void) | null {
    const d = this.reloadDone;
    this.reloadDone = null;
    return d;
  }

  /** Back from a reload as systemd's service_enter_running(): a main process gone meanwhile stops the service. */
  protected afterReload(back: ServiceState): void {
    if (back === "exited") return this.setState("exited");
    if (this.main || this.cgroupStillUsed()) {
      this.setState("running");
      this.armRuntimeMax();
      if (!this.main) this.endWithCgroup();
      return;
    }
    if (this.cfg.remainAfterExit && this.result === "success") return this.setState("exited");
    this.enterStop("success");
  }

  /** A Type=notify-reload reload (or RELOADING=1) that READY=1 did not end in time. */

  override dispose(): void {
    this.restartTimer.cancel();
    super.dispose();
  }
}
