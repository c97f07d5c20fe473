/**
 * A running service unit: systemd's service state machine (src/core/service.c) over the
 * states declared in service-state.ts, for the service types bunit implements.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RateLimit } from "../core/rate-limit.ts";
import { buildSpawnSpec } from "../core/exec-spec.ts";
import { CommandChain, ControlSlot, describeExit, exitResult, isCleanExit, UnitRuntime, UnitTimer, type ActiveState, type ChainOutcome, type UnitHost } from "../core/unit-runtime.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { evaluateConditions, type ConditionEnv } from "../unit/conditions.ts";
import type { ExitInfo, SpawnedProcess } from "./spawn.ts";
import { effectiveType, type ServiceConfig, type ServiceType } from "./service-config.ts";
import { isStopping, SERVICE_STATE_INFO, SERVICE_TRANSITIONS, type ServiceResult, type ServiceState } from "./service-state.ts";
import type { AcceptedConnection } from "../socket/socket-unit.ts";
import { SIGNALS } from "../sys/constants.ts";

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
}

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

  constructor(config: LoadedUnit, protected override readonly host: ServiceHost) {
    super(config, host);
    this.timer = new UnitTimer(host.clock);
    this.restartTimer = new UnitTimer(host.clock);
    this.control = new ControlSlot(host.killer, this.timer);
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
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
  }

  private setState(to: ServiceState): void {
    const from = this.state;
    if (from !== to && !SERVICE_TRANSITIONS[from].includes(to)) {
      throw new Error(`${this.name}: invalid service state transition ${from} -> ${to}`);
    }
    this.state = to;
    this.stateChangeTime = this.host.clock.now();
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
    this.invocationId = crypto.randomUUID().replace(/-/g, "");
    this.createDirectories();
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
    const s = this.host.socketFds(this);
    Object.assign(own, this.host.socketEnvironment(this));
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
        own: { ...f.own, INVOCATION_ID: this.invocationId }, nonBlocking: this.cfg.nonBlocking,
        daemonEnv: this.host.daemonEnv, managerEnv: this.host.managerEnv,
      }, this.host.lookups);
      if (this.type === "exec") spec.execStatus = true;
      proc = this.host.spawner.spawn(spec, (stream, line, pid) => this.output(stream, line, pid));
    } catch (e) {
      this.log.error(`Failed to run 'start' task: ${(e as Error).message}`);
      return this.enterSignal("stop-sigterm", "resources");
    }
    this.main = proc;
    this.mainPid = proc.pid;
    this.log.debug(`Main process ${proc.pid}: ${cmd.argv.join(" ")}`);
    void proc.exited.then((e) => this.onMainExit(proc, e));
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
        // Type=exec whose exec failed, or a simple service already gone before start-post.
        if (!clean) return this.enterSignal("stop-sigterm", result);
        return this.enterStartPost();
      case "start-post":
      case "reload":
        this.setResult(result);
        return; // the control chain continues; enterRunning() sees the dead main process
      case "running":
        this.setResult(result);
        if (clean && this.cfg.remainAfterExit) return this.setState("exited");
        return this.enterStop(result);
      case "stop":
        this.setResult(result);
        return; // ExecStop= continues
      case "stop-sigterm":
      case "stop-sigkill":
      case "stop-watchdog":
        if (!this.control.current) return this.enterStopPost("success");
        return;
      case "final-sigterm":
      case "final-sigkill":
      case "final-watchdog":
        if (!this.control.current) return this.enterDead("success");
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
    if (targets.length === 0 || (sigkill && !k.sendSIGKILL)) {
      this.dropControl();
      return proceed();
    }
    if (ctl) {
      ctl.chain.abort();
      ctl.next = () => {
        if (!this.main) proceed();
      };
    }
    const sig = sigkill ? k.finalKillSignal : k.killSignal;
    for (const t of targets) {
      try {
        this.host.killer.kill(t.pid, sig, t.group);
        if (!sigkill && k.sendSIGHUP) this.host.killer.kill(t.pid, SIGNALS.SIGHUP!, t.group);
      } catch {
        /* already gone */
      }
    }
    this.setState(state);
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
    this.main = null;
    this.mainPid = null;
    this.removeRuntimeDirectories();
    if (this.shouldRestart()) {
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

  // ---- control processes --------------------------------------------------------------------

  private runChain(
    label: string,
    cmds: readonly ExecCommand[],
    next: (o: ChainOutcome) => void,
    timeoutUsec: number,
    onTimeout: () => void,
    asMain?: { fds: number[]; names: string[]; connection?: number; own: Record<string, string>; main: true },
  ): void {
    const own: Record<string, string> = { INVOCATION_ID: this.invocationId, ...(asMain?.own ?? {}) };
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
    this.dropControl();
    if (this.connection) {
      this.connection.release();
      this.connection = null;
    }
  }
}
