/**
 * A running service unit: systemd's service state machine (src/core/service.c) over the
 * states declared in service-state.ts, for the service types bunit implements.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RateLimit } from "../core/rate-limit.ts";
import { buildSpawnSpec } from "../core/exec-spec.ts";
import { CommandChain, ControlSlot, describeExit, exitResult, isCleanExit, UnitRuntime, UnitTimer, type ActiveState, type ChainOutcome, type UnitHost } from "../core/unit-runtime.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { evaluateConditions, type ConditionEnv } from "../unit/conditions.ts";
import { pumpPipe, type ExitInfo, type SpawnedProcess } from "./spawn.ts";
import { effectiveType, type ServiceConfig, type ServiceType } from "./service-config.ts";
import { isStopping, SERVICE_STATE_INFO, SERVICE_TRANSITIONS, type ServiceResult, type ServiceState } from "./service-state.ts";
import type { AcceptedConnection } from "../socket/socket-unit.ts";
import { SIGNALS } from "../sys/constants.ts";
import type { CgroupTree } from "./cgroup.ts";
import { FdStore } from "./fd-store.ts";
import { interpretNotify, notifyRefusal, parseNotifyText, type NotifyAccess } from "./notify-message.ts";
import { processExists, watchProcess } from "./process-watch.ts";

/** The manager-side services a service needs beyond UnitHost. */
export interface ServiceHost extends UnitHost {
  /** fds of the sockets that activate this service, in order, with their names. */
  socketFds(service: ServiceUnit): { fd: number; name: string }[];
  /** Variables those sockets give the service (USB_FUNCTION_STATE). */
  socketEnvironment(service: ServiceUnit): Record<string, string>;
  conditionEnv: ConditionEnv;
  /** Directory roots for RuntimeDirectory= and friends. */
  dirs: { runtime: string; state: string; cache: string; logs: string; config: string };
  /** Notifies the manager that the instance for an accepted connection can be collected. */
  instanceFinished?(service: ServiceUnit): void;
  /** The daemon's $NOTIFY_SOCKET path; null when it has none. */
  notifySocket: string | null;
  /** cgroup v2 tracking; null: process groups only. */
  cgroups: CgroupTree | null;
  /** Closes an fd (the fd store's entries). */
  closeFd(fd: number): void;
  /** Children of the daemon that Bun did not spawn (Type=forking guesses its main PID among them). */
  orphanChildren(): number[];
}

/** How often a stopping unit looks whether its cgroup is empty yet. */
const CGROUP_POLL_USEC = 20_000;
/** How often an ExitType=cgroup service without a main process looks whether processes are left. */
const EXIT_TYPE_CGROUP_POLL_USEC = 200_000;

export interface ServiceSnapshot {
  unit: string;
  sub: string;
  result: string;
  mainPid: number | null;
  nRestarts: number;
  statusText: string | null;
  cgroupPath: string | null;
  invocationId: string;
  fdStore: { fd: number; name: string }[];
  logFds: { stdout?: number; stderr?: number };
}

/** States in which the watchdog runs (the main process is up). */
const WATCHDOG_STATES = new Set<ServiceState>(["start", "start-post", "running", "reload", "reload-signal", "reload-notify"]);

export class ServiceUnit extends UnitRuntime {
  state: ServiceState = "dead";
  mainPid: number | null = null;
  mainExit: ExitInfo | null = null;
  nRestarts = 0;
  startLimitHit = false;
  /** An Accept=yes connection owned by this instance. */
  connection: AcceptedConnection | null = null;
  private main: SpawnedProcess | null = null;
  private readonly control: ControlSlot;
  private readonly timer: UnitTimer;
  private readonly restartTimer: UnitTimer;
  private startLimit: RateLimit;
  private forbidRestart = false;
  private invocationId = "";
  /** STATUS= from sd_notify. */
  statusText: string | null = null;
  readonly fdStore: FdStore;
  /** The unit's cgroup while it has one. */
  cgroupPath: string | null = null;
  private readonly watchdogTimer: UnitTimer;
  private readonly cgroupPoll: UnitTimer;
  /** WATCHDOG_USEC= from the service overrides WatchdogSec= until the next start. */
  private watchdogOverrideUsec: number | null = null;

  constructor(config: LoadedUnit, protected override readonly host: ServiceHost) {
    super(config, host);
    this.timer = new UnitTimer(host.clock);
    this.restartTimer = new UnitTimer(host.clock);
    this.control = new ControlSlot(host.killer, this.timer);
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
    this.watchdogTimer = new UnitTimer(host.clock);
    this.cgroupPoll = new UnitTimer(host.clock);
    this.fdStore = new FdStore(config.service?.fileDescriptorStoreMax ?? 0, (fd) => host.closeFd(fd));
  }

  get controlPid(): number | null {
    return this.control.current?.chain.pid ?? null;
  }

  /** NotifyAccess=, defaulting to main for Type=notify and with WatchdogSec= (systemd). */
  get notifyAccess(): NotifyAccess {
    return this.cfg.notifyAccess ?? (this.type === "notify" || this.cfg.watchdogUsec > 0 ? "main" : "none");
  }

  private get watchdogUsec(): number {
    return this.watchdogOverrideUsec ?? this.cfg.watchdogUsec;
  }

  /** Processes of this service: its cgroup's, or the ones bunit started. */
  tasks(): number[] {
    if (this.cgroupPath && this.host.cgroups) return this.host.cgroups.procs(this.cgroupPath);
    return this.pids();
  }

  /** Whether pid belongs to this service (NotifyAccess=all). */
  owns(pid: number): boolean {
    return this.tasks().includes(pid);
  }

  get cfg(): ServiceConfig {
    return this.config.service!;
  }

  get type(): ServiceType {
    const t = effectiveType(this.cfg);
    return t === "dbus" || t === "idle" ? "simple" : t;
  }

  activeState(): ActiveState {
    return SERVICE_STATE_INFO[this.state];
  }

  subState(): string {
    return this.state;
  }

  reconfigure(config: LoadedUnit): void {
    this.config = config;
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
    this.fdStore.max = config.service?.fileDescriptorStoreMax ?? 0;
  }

  private setState(to: ServiceState): void {
    const from = this.state;
    if (from !== to && !SERVICE_TRANSITIONS[from].includes(to)) {
      throw new Error(`${this.name}: invalid service state transition ${from} -> ${to}`);
    }
    this.state = to;
    this.stateChangeTime = this.host.clock.now();
    if (!WATCHDOG_STATES.has(to)) this.watchdogTimer.cancel();
    if (from !== to) {
      this.log.debug(`Changed ${from} -> ${to}`);
      this.host.stateChanged(this, from, to);
    }
  }

  private setResult(r: ServiceResult): void {
    if (this.result === "success") this.result = r;
  }

  // ---- start --------------------------------------------------------------------------------

  start(): void {
    if (this.state === "auto-restart") this.restartTimer.cancel();
    else if (this.state !== "dead" && this.state !== "failed") return;
    this.forbidRestart = false;
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
    const cond = evaluateConditions(this.config.unit.conditions.filter((c) => !c.assert), this.host.conditionEnv);
    for (const u of cond.unsupported) this.log.debug(`Condition${u.kind}= is not evaluated by bunit, treated as true`);
    if (!cond.ok) {
      this.log.info(`Condition check resulted in ${this.name} being skipped (Condition${cond.failed!.kind}=${cond.failed!.negate ? "!" : ""}${cond.failed!.value}).`);
      this.result = "success";
      if (this.state !== "dead") this.setState("dead");
      else this.host.stateChanged(this, "dead", "dead");
      return;
    }
    const asserts = evaluateConditions(this.config.unit.conditions.filter((c) => c.assert), this.host.conditionEnv);
    if (!asserts.ok) {
      this.log.error(`Assertion failed (Assert${asserts.failed!.kind}=${asserts.failed!.value}).`);
      this.result = "resources";
      this.setState("failed");
      return;
    }
    this.result = "success";
    this.mainExit = null;
    this.statusText = null;
    this.watchdogOverrideUsec = null;
    this.invocationId = crypto.randomUUID().replace(/-/g, "");
    this.createDirectories();
    this.enterCgroup();
    if (this.cfg.execCondition.length) {
      this.setState("condition");
      return this.runChain("ExecCondition", this.cfg.execCondition, (o) => {
        if (o.ok) return this.enterStartPre();
        const code = o.exit?.code ?? 255;
        if (o.exit && o.exit.signal === null && code >= 1 && code <= 254) {
          this.log.info(`Skipped due to 'exec-condition'.`);
          return this.enterSignal("stop-sigterm", "success");
        }
        this.enterSignal("stop-sigterm", "exec-condition");
      }, this.cfg.timeoutStartUsec, () => this.enterSignal("stop-sigterm", "timeout"));
    }
    this.enterStartPre();
  }

  private createDirectories(): void {
    const e = this.cfg.exec;
    const roots: [string[], string, number][] = [
      [e.runtimeDirectory, this.host.dirs.runtime, e.runtimeDirectoryMode],
      [e.stateDirectory, this.host.dirs.state, e.stateDirectoryMode],
      [e.cacheDirectory, this.host.dirs.cache, e.cacheDirectoryMode],
      [e.logsDirectory, this.host.dirs.logs, e.logsDirectoryMode],
      [e.configurationDirectory, this.host.dirs.config, e.configurationDirectoryMode],
    ];
    for (const [names, root, mode] of roots) {
      for (const d of names) {
        try {
          mkdirSync(join(root, d), { recursive: true, mode });
        } catch (err) {
          this.log.warning(`Failed to create directory ${join(root, d)}: ${(err as Error).message}`);
        }
      }
    }
  }

  private removeRuntimeDirectories(): void {
    if (this.cfg.exec.runtimeDirectoryPreserve === "yes") return;
    for (const d of this.cfg.exec.runtimeDirectory) {
      try {
        rmSync(join(this.host.dirs.runtime, d), { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }

  private enterStartPre(): void {
    if (this.cfg.execStartPre.length === 0) return this.enterStart();
    this.setState("start-pre");
    this.runChain("ExecStartPre", this.cfg.execStartPre, (o) => {
      if (o.ok) this.enterStart();
      else this.enterSignal("stop-sigterm", o.result as ServiceResult);
    }, this.cfg.timeoutStartUsec, () => {
      this.log.warning("start-pre operation timed out. Terminating.");
      this.enterSignal("stop-sigterm", "timeout");
    });
  }

  private fdsForMain(): { fds: number[]; names: string[]; connection?: number; own: Record<string, string> } {
    const own: Record<string, string> = {};
    if (this.connection) {
      Object.assign(own, this.connection.env);
      return { fds: [this.connection.fd], names: [this.connection.fdName], connection: this.connection.fd, own };
    }
    const s = [...this.host.socketFds(this), ...this.fdStore.list()];
    Object.assign(own, this.host.socketEnvironment(this));
    if (this.watchdogUsec > 0) own.WATCHDOG_USEC = String(this.watchdogUsec);
    return { fds: s.map((x) => x.fd), names: s.map((x) => x.name), own };
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
    if (this.type === "oneshot") {
      // All ExecStart= commands run one after another as the main process.
      return this.runChain("ExecStart", cmds, (o) => {
        this.mainExit = o.ok ? { code: 0, signal: null } : (o.exit ?? null);
        if (o.ok) this.enterStartPost();
        else this.enterSignal("stop-sigterm", o.result as ServiceResult);
      }, this.cfg.timeoutStartUsec, () => {
        this.log.warning("start operation timed out. Terminating.");
        this.enterSignal("stop-sigterm", "timeout");
      }, { fds: f.fds, names: f.names, connection: f.connection, own: f.own, main: true });
    }
    const cmd = cmds[0]!;
    let proc: SpawnedProcess;
    try {
      const spec = buildSpawnSpec({
        command: cmd, exec: this.cfg.exec, fds: f.fds, fdNames: f.names, connectionFd: f.connection,
        own: { ...this.notifyEnv(), ...f.own, INVOCATION_ID: this.invocationId }, nonBlocking: this.cfg.nonBlocking,
        daemonEnv: this.host.daemonEnv, managerEnv: this.host.managerEnv, ...(this.cgroupPath ? { cgroup: this.cgroupPath } : {}),
      }, this.host.lookups);
      if (this.type === "exec") spec.execStatus = true;
      proc = this.host.spawner.spawn(spec, (stream, line, pid) => this.output(stream, line, pid));
    } catch (e) {
      this.log.error(`Failed to run 'start' task: ${(e as Error).message}`);
      return this.enterSignal("stop-sigterm", "resources");
    }
    this.setMain(proc);
    this.log.debug(`Main process ${proc.pid}: ${cmd.argv.join(" ")}`);
    this.armWatchdog();
    if (this.type === "notify" || this.type === "forking") {
      // notify: running once READY=1 arrives; forking: once the started process exits.
      this.timer.arm(this.cfg.timeoutStartUsec, () => {
        this.log.warning("start operation timed out. Terminating.");
        this.enterSignal("stop-sigterm", "timeout");
      });
      return;
    }
    if (this.type === "exec" && proc.execResult) {
      this.timer.arm(this.cfg.timeoutStartUsec, () => {
        this.log.warning("start operation timed out. Terminating.");
        this.enterSignal("stop-sigterm", "timeout");
      });
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

  private enterStartPost(): void {
    if (this.cfg.execStartPost.length === 0) return this.enterRunning();
    this.setState("start-post");
    this.runChain("ExecStartPost", this.cfg.execStartPost, (o) => {
      if (o.ok) this.enterRunning();
      else this.enterStop(o.result as ServiceResult);
    }, this.cfg.timeoutStartUsec, () => {
      this.log.warning("start-post operation timed out. Stopping.");
      this.enterStop("timeout");
    });
  }

  private enterRunning(): void {
    const what = this.config.unit.description ?? this.name;
    if (this.main) {
      this.log.info(`Started ${what}.`);
      return this.setState("running");
    }
    if (this.cfg.remainAfterExit) {
      this.log.info(`Finished ${what}.`);
      return this.setState("exited");
    }
    this.enterStop("success");
  }

  // ---- the main process ---------------------------------------------------------------------

  private output(stream: "stdout" | "stderr", line: string, pid: number): void {
    this.host.logger.emit({ level: stream === "stderr" ? "warning" : "info", source: stream, unit: this.name, message: line, pid });
  }

  private onMainExit(proc: SpawnedProcess, e: ExitInfo): void {
    if (this.main !== proc) return;
    this.main = null;
    this.mainPid = null;
    this.mainExit = e;
    const clean = isCleanExit(e, this.cfg.successExitStatus);
    const result: ServiceResult = clean ? "success" : exitResult(e);
    const how = e.signal !== null ? `code=killed, ${describeExit(e)}` : `code=exited, ${describeExit(e)}`;
    if (clean) this.log.debug(`Main process exited, ${how}`);
    else this.log.warning(`Main process exited, ${how}`);
    switch (this.state) {
      case "start":
        if (!clean) return this.enterSignal("stop-sigterm", result);
        if (this.type === "forking") return this.forkingParentExited();
        if (this.type === "notify") {
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

  private enterStop(r: ServiceResult): void {
    this.setResult(r);
    if (this.cfg.execStop.length === 0) return this.enterSignal("stop-sigterm", "success");
    this.setState("stop");
    this.runChain("ExecStop", this.cfg.execStop, () => this.enterSignal("stop-sigterm", "success"), this.cfg.timeoutStopUsec, () => {
      this.log.warning("Stopping timed out. Terminating.");
      this.enterSignal("stop-sigterm", "timeout");
    });
  }

  private enterSignal(state: "stop-sigterm" | "stop-sigkill" | "final-sigterm" | "final-sigkill", r: ServiceResult): void {
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
      this.dropControl();
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
      this.dropControl();
      this.main = null;
      this.mainPid = null;
      if (state === "stop-sigkill") this.enterStopPost("timeout");
      else this.enterDead("timeout");
    });
  }

  private signalTargets(targets: { pid: number; group: boolean }[], sig: number, wholeCgroup: boolean): void {
    if (wholeCgroup) this.host.cgroups!.kill(this.cgroupPath!, sig, (pid, s) => this.host.killer.kill(pid, s, false));
    for (const t of targets) {
      try {
        this.host.killer.kill(t.pid, sig, t.group);
      } catch {
        /* already gone */
      }
    }
  }

  /**
   * Runs next once the unit's cgroup is empty (KillMode=control-group waits for every process,
   * not only the main one); at once without a cgroup or with other kill modes.
   */
  private whenEmpty(next: () => void): void {
    if (this.cgroupPath !== null && this.cfg.kill.killMode === "control-group") return this.afterCgroupEmpty(next, CGROUP_POLL_USEC);
    this.cgroupPoll.cancel();
    next();
  }

  /**
   * Runs next once the unit's cgroup is empty, looking every everyUsec; gives up when the
   * state changes or `still` turns false meanwhile.
   */
  private afterCgroupEmpty(next: () => void, everyUsec: number, still: () => boolean = () => true): void {
    const path = this.cgroupPath;
    if (path === null || !this.host.cgroups!.populated(path)) {
      this.cgroupPoll.cancel();
      return next();
    }
    const state = this.state;
    this.cgroupPoll.arm(everyUsec, () => {
      if (this.state === state && still()) this.afterCgroupEmpty(next, everyUsec, still);
    });
  }

  private enterStopPost(r: ServiceResult): void {
    this.setResult(r);
    this.timer.cancel();
    if (this.cfg.execStopPost.length === 0) return this.enterSignal("final-sigterm", "success");
    this.setState("stop-post");
    this.runChain("ExecStopPost", this.cfg.execStopPost, () => this.enterSignal("final-sigterm", "success"), this.cfg.timeoutStopUsec, () => {
      this.log.warning("stop-post operation timed out. Terminating.");
      this.enterSignal("final-sigterm", "timeout");
    });
  }

  private shouldRestart(): boolean {
    if (this.forbidRestart) return false;
    const e = this.mainExit;
    const r = this.result;
    if (e) {
      if (e.code !== null && this.cfg.restartPreventExitStatus.codes.includes(e.code)) return false;
      if (e.signal !== null && this.cfg.restartPreventExitStatus.signals.includes(e.signal)) return false;
      if (e.code !== null && this.cfg.restartForceExitStatus.codes.includes(e.code)) return true;
      if (e.signal !== null && this.cfg.restartForceExitStatus.signals.includes(e.signal)) return true;
    }
    switch (this.cfg.restart) {
      case "no": return false;
      case "always": return r !== "start-limit-hit";
      case "on-success": return r === "success";
      case "on-failure": return r !== "success" && r !== "start-limit-hit";
      case "on-abnormal": return r === "signal" || r === "core-dump" || r === "timeout" || r === "watchdog";
      case "on-watchdog": return r === "watchdog";
      case "on-abort": return r === "signal" || r === "core-dump";
    }
  }

  private enterDead(r: ServiceResult): void {
    this.setResult(r);
    this.dropControl();
    this.timer.cancel();
    this.cgroupPoll.cancel();
    this.main = null;
    this.mainPid = null;
    this.removeRuntimeDirectories();
    this.leaveCgroup();
    const restart = this.shouldRestart();
    if (!restart && this.cfg.fileDescriptorStorePreserve === "no" && this.fdStore.size) {
      this.log.debug(`Closing ${this.fdStore.size} stored file descriptors.`);
      this.fdStore.clear();
    }
    if (restart) {
      this.setState("auto-restart");
      this.log.info(`Scheduled restart job, restart counter is at ${this.nRestarts + 1}.`);
      this.restartTimer.arm(this.cfg.restartUsec, () => {
        if (this.state !== "auto-restart") return;
        this.nRestarts++;
        if (!this.host.requestStart(this.name, "automatic restart")) this.setState("failed");
      });
      return;
    }
    if (this.result === "success") this.log.info("Deactivated successfully.");
    else this.log.warning(`Failed with result '${this.result}'.`);
    this.setState(this.result === "success" ? "dead" : "failed");
    if (this.connection) {
      this.connection.release();
      this.connection = null;
      this.host.instanceFinished?.(this);
    }
  }

  // ---- main process tracking, cgroup, watchdog --------------------------------------------

  private setMain(proc: SpawnedProcess): void {
    this.main = proc;
    this.mainPid = proc.pid;
    void proc.exited.then((e) => this.onMainExit(proc, e));
  }

  /** Takes a process bunit did not spawn as the main process (Type=forking, MAINPID=, daemon-reexec). */
  adoptMain(pid: number): void {
    this.setMain(watchProcess(pid, this.host.watcher));
  }

  private enterCgroup(): void {
    const tree = this.host.cgroups;
    if (!tree) return;
    try {
      this.cgroupPath = tree.unitPath(this.name);
    } catch (e) {
      this.log.warning(`Failed to create cgroup, tracking by process group: ${(e as Error).message}`);
      this.cgroupPath = null;
    }
  }

  private leaveCgroup(): void {
    if (this.cgroupPath && this.host.cgroups) this.host.cgroups.remove(this.cgroupPath);
    this.cgroupPath = null;
  }

  private notifyEnv(): Record<string, string> {
    return this.notifyAccess !== "none" && this.host.notifySocket ? { NOTIFY_SOCKET: this.host.notifySocket } : {};
  }

  private armWatchdog(): void {
    const usec = this.watchdogUsec;
    if (usec <= 0 || !this.main) return this.watchdogTimer.cancel();
    this.watchdogTimer.arm(usec, () => {
      this.log.error(`Watchdog timeout (limit ${usec / 1e6}s)!`);
      this.enterWatchdog();
    });
  }

  /** The watchdog fired: WatchdogSignal= (SIGABRT) to the main process, SIGKILL after TimeoutAbortSec=. */
  private enterWatchdog(): void {
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
  private forkingParentExited(): void {
    const pid = this.forkedMainPid();
    if (pid === "wait") {
      // PIDFile= not written yet: look again until the start timeout (still armed) fires.
      this.cgroupPoll.arm(CGROUP_POLL_USEC * 5, () => {
        if (this.state === "start" && !this.main) this.forkingParentExited();
      });
      return;
    }
    this.timer.cancel();
    if (pid !== null) {
      this.log.debug(`Main PID of forking service: ${pid}`);
      this.adoptMain(pid);
      this.armWatchdog();
    } else {
      this.log.info("Supervising process without a main PID (none could be determined).");
    }
    this.enterStartPost();
  }

  /** PIDFile=, else a guess (GuessMainPID=): the one process left in the cgroup, or the one orphan re-parented to the daemon. */
  private forkedMainPid(): number | null | "wait" {
    if (this.cfg.pidFile) {
      let text: string;
      try {
        text = readFileSync(this.cfg.pidFile, "utf8").trim();
      } catch {
        return "wait";
      }
      const pid = Number(text);
      if (!/^\d+$/.test(text) || pid <= 1) {
        this.log.warning(`PID file ${this.cfg.pidFile} not readable as a PID: "${text.slice(0, 32)}"`);
        return null;
      }
      if (!processExists(pid)) {
        this.log.warning(`PID ${pid} read from file ${this.cfg.pidFile} does not exist.`);
        return null;
      }
      return pid;
    }
    if (!this.cfg.guessMainPID) return null;
    const candidates = this.cgroupPath && this.host.cgroups ? this.host.cgroups.procs(this.cgroupPath) : this.host.orphanChildren();
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length > 1) this.log.debug(`Cannot guess the main PID among ${candidates.join(" ")}.`);
    return null;
  }

  /** What daemon-reexec hands to the next daemon about this service. */
  snapshot(): ServiceSnapshot {
    return {
      unit: this.name, sub: this.state, result: this.result, mainPid: this.mainPid, nRestarts: this.nRestarts,
      statusText: this.statusText, cgroupPath: this.cgroupPath, invocationId: this.invocationId,
      fdStore: this.fdStore.list().map((e) => ({ ...e })), logFds: this.main?.logFds ?? {},
    };
  }

  /** Continues a service the previous daemon process ran (daemon-reexec). */
  adopt(s: ServiceSnapshot): void {
    this.nRestarts = s.nRestarts;
    this.statusText = s.statusText;
    this.cgroupPath = s.cgroupPath;
    this.invocationId = s.invocationId;
    this.result = s.result;
    for (const e of s.fdStore) this.fdStore.add(e.name, [e.fd]);
    if (s.sub !== "running" && s.sub !== "exited") return; // only its preserved fd store
    if (s.mainPid !== null) {
      const pid = s.mainPid;
      const out = (stream: "stdout" | "stderr") => (line: string) => this.output(stream, line, pid);
      if (s.logFds.stdout !== undefined) void pumpPipe(s.logFds.stdout, out("stdout"));
      if (s.logFds.stderr !== undefined) void pumpPipe(s.logFds.stderr, out("stderr"));
      this.setMain({ ...watchProcess(pid, this.host.watcher), logFds: s.logFds });
    }
    this.state = s.sub === "exited" ? "exited" : "running";
    this.stateChangeTime = this.host.clock.now();
    this.armWatchdog();
    this.log.debug(`Adopted (${this.state}${s.mainPid !== null ? `, main PID ${s.mainPid}` : ""}).`);
    this.host.stateChanged(this, "dead", this.state);
  }

  // ---- sd_notify --------------------------------------------------------------------------

  /** A datagram from $NOTIFY_SOCKET whose sender pid belongs to this unit (the manager looked it up). */
  notify(senderPid: number, text: string, fds: number[]): void {
    const refusal = notifyRefusal(this.notifyAccess, senderPid, this.mainPid, this.controlPid, (p) => this.owns(p));
    if (refusal) {
      for (const fd of fds) this.host.closeFd(fd);
      this.log.warning(`Got notification message from PID ${senderPid}, but ${refusal}.`);
      return;
    }
    const u = interpretNotify(parseNotifyText(text));
    if (u.unknown.length) this.log.debug(`Ignoring notification assignments: ${u.unknown.join(" ")}`);
    if (u.fdstore) {
      if (this.fdStore.max === 0) {
        for (const fd of fds) this.host.closeFd(fd);
        this.log.warning(`Got ${fds.length} file descriptors to store, but FileDescriptorStoreMax=0; closing them.`);
      } else {
        const r = this.fdStore.add(u.fdstore.name, fds);
        this.log.debug(`Stored ${r.stored} file descriptors as "${u.fdstore.name}".`);
        if (r.refused) this.log.warning(`File descriptor store is full (FileDescriptorStoreMax=${this.fdStore.max}); closed ${r.refused} file descriptors.`);
      }
    } else if (fds.length) {
      for (const fd of fds) this.host.closeFd(fd);
      if (!u.barrier) this.log.warning(`Got ${fds.length} file descriptors without FDSTORE=1; closing them.`);
    }
    if (u.fdstoreRemove) this.log.debug(`Removed ${this.fdStore.remove(u.fdstoreRemove.name)} stored file descriptors named "${u.fdstoreRemove.name}".`);
    if (u.status !== undefined) this.statusText = u.status;
    if (u.errno !== undefined) this.log.debug(`Service reported errno ${u.errno}.`);
    if (u.mainPid !== undefined && u.mainPid !== this.mainPid) {
      if (senderPid !== this.mainPid && senderPid !== this.controlPid && this.notifyAccess !== "all") {
        this.log.warning(`Refusing MAINPID=${u.mainPid} from PID ${senderPid}.`);
      } else if (!processExists(u.mainPid)) {
        this.log.warning(`New main PID ${u.mainPid} does not exist, ignoring.`);
      } else {
        this.log.debug(`Main PID changed to ${u.mainPid} by notification.`);
        this.adoptMain(u.mainPid);
      }
    }
    if (u.watchdogUsec !== undefined) {
      this.watchdogOverrideUsec = u.watchdogUsec;
      this.armWatchdog();
    }
    // The start, reload or stop timeout that runs now ends no earlier than now + the value.
    if (u.extendTimeoutUsec !== undefined && this.timer.extend(u.extendTimeoutUsec)) {
      this.log.debug(`Timeout of the ${this.state} state extended by ${u.extendTimeoutUsec} us (EXTEND_TIMEOUT_USEC=).`);
    }
    if (u.watchdog === "trigger") return this.enterWatchdog();
    if (u.watchdog === "ping" && WATCHDOG_STATES.has(this.state)) this.armWatchdog();
    if (u.ready) {
      if (this.state === "start" && this.type === "notify") {
        this.timer.cancel();
        return this.enterStartPost();
      }
      if (this.state === "reload-notify" || this.state === "reload") {
        this.timer.cancel();
        this.log.info("Reloaded.");
        return this.setState("running");
      }
    }
    if (u.reloading && this.state === "running") {
      this.setState("reload-notify");
      this.timer.arm(this.cfg.timeoutStartUsec, () => {
        this.log.warning("Reload operation timed out.");
        this.setState("running");
      });
    }
    if (u.stopping && (this.state === "running" || this.state === "reload-notify")) {
      // The service stops by itself: wait for it, then SIGKILL after TimeoutStopSec=.
      this.log.info("Service is stopping (STOPPING=1).");
      this.setState("stop-sigterm");
      this.timer.arm(this.cfg.timeoutStopUsec, () => this.enterSignal("stop-sigkill", "timeout"));
    }
  }

  // ---- reload (ExecReload=) -------------------------------------------------------------------

  /** Whether `reload UNIT` can run now; a reason when not. */
  canReload(): string | null {
    if (this.state !== "running" && this.state !== "exited") return `${this.name} is not active (${this.state}), cannot reload.`;
    if (this.cfg.execReload.length === 0 && this.type !== "notify-reload" && this.cfg.reloadSignal === undefined) return `${this.name} has no ExecReload=, cannot reload.`;
    return null;
  }

  /** Runs ExecReload= (or sends ReloadSignal=); back to running when it completes. */
  reload(done: (ok: boolean) => void): void {
    const why = this.canReload();
    if (why) {
      this.log.warning(why);
      return done(false);
    }
    const back: ServiceState = this.state === "exited" ? "exited" : "running";
    if (this.cfg.execReload.length === 0) {
      try {
        if (this.main) this.host.killer.kill(this.main.pid, this.cfg.reloadSignal ?? SIGNALS.SIGHUP!, false);
      } catch {
        /* gone: the main exit handler takes over */
      }
      return done(true);
    }
    this.setState("reload");
    this.runChain("ExecReload", this.cfg.execReload, (o) => {
      if (this.state !== "reload") return done(false);
      this.setState(this.main || back === "exited" ? back : "running");
      if (!o.ok) this.log.warning("Reload failed.");
      else this.log.info("Reloaded.");
      done(o.ok);
    }, this.cfg.timeoutStartUsec, () => {
      this.log.warning("Reload operation timed out. Killing reload process.");
      this.control.drop();
      this.setState(back);
      done(false);
    });
  }

  // ---- control processes --------------------------------------------------------------------

  private runChain(
    label: string,
    cmds: readonly ExecCommand[],
    next: (o: ChainOutcome) => void,
    timeoutUsec: number,
    onTimeout: () => void,
    asMain?: { fds: number[]; names: string[]; connection?: number; own: Record<string, string>; main: true },
  ): void {
    const own: Record<string, string> = { ...this.notifyEnv(), INVOCATION_ID: this.invocationId, ...(asMain?.own ?? {}) };
    if (this.mainPid !== null) own.MAINPID = String(this.mainPid);
    if (this.mainExit) {
      own.SERVICE_RESULT = this.result;
      own.EXIT_CODE = this.mainExit.signal !== null ? "killed" : "exited";
      own.EXIT_STATUS = this.mainExit.signal !== null ? String(this.mainExit.signal) : String(this.mainExit.code);
    }
    this.control.run(
      (done) =>
        new CommandChain(
          this.host,
          this.log,
          label,
          cmds,
          (cmd) =>
            buildSpawnSpec({
              command: cmd, exec: this.cfg.exec, fds: asMain?.fds ?? [], fdNames: asMain?.names ?? [],
              connectionFd: asMain?.connection ?? (this.connection && this.cfg.exec.standardInput?.kind === "socket" ? this.connection.fd : undefined),
              own, nonBlocking: this.cfg.nonBlocking, daemonEnv: this.host.daemonEnv, managerEnv: this.host.managerEnv,
              ...(this.cgroupPath ? { cgroup: this.cgroupPath } : {}),
            }, this.host.lookups),
          (stream, line, pid) => this.output(stream, line, pid),
          done,
        ),
      next,
      timeoutUsec,
      onTimeout,
    );
  }

  private dropControl(): void {
    this.control.drop();
  }

  /** PIDs bunit tracks for this service (main and control). */
  pids(): number[] {
    return [this.main?.pid, this.control.current?.chain.pid].filter((p): p is number => typeof p === "number");
  }

  override dispose(): void {
    this.timer.cancel();
    this.restartTimer.cancel();
    this.watchdogTimer.cancel();
    this.cgroupPoll.cancel();
    this.fdStore.clear();
    this.dropControl();
    if (this.connection) {
      this.connection.release();
      this.connection = null;
    }
  }
}
