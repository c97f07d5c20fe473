/**
 * A running service unit: the state machine of service-machine.ts, and what the service asks
 * of it (sd_notify: READY=1, RELOADING=1, STOPPING=1, WATCHDOG=, ...) and reloads (ExecReload=,
 * ReloadSignal=, Type=notify-reload), and how a Type=forking start finds its main process.
 */
import type { AcceptedConnection } from "../runtime/connection.ts";
import { SIGNALS } from "../sys/constants.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { receiveNotify } from "./notify-receive.ts";
import { forkedMainPid } from "./main-pid.ts";
import { CGROUP_POLL_USEC } from "./service-processes.ts";
import type { ServiceHost, ServiceSnapshot } from "./service-host.ts";
import { ServiceMachine, WATCHDOG_STATES } from "./service-machine.ts";
import { SERVICE_STATE_INFO, type ServiceState } from "./service-state.ts";
import { RateLimit } from "../core/rate-limit.ts";
import type { ActiveState } from "../runtime/unit-runtime.ts";

export type { ServiceHost, ServiceSnapshot };

export class ServiceUnit extends ServiceMachine {
  constructor(config: LoadedUnit, host: ServiceHost, connection: AcceptedConnection | null = null) {
    super(config, host, connection);
  }

  activeState(): ActiveState {
    return SERVICE_STATE_INFO[this.state];
  }

  subState(): ServiceState {
    return this.state;
  }

  override reconfigure(config: LoadedUnit): "applied" {
    this.config = config;
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
    this.fdStore.max = config.service?.fileDescriptorStoreMax ?? 0;
    return "applied";
  }

  /** An Accept=yes instance exists for its connection only: daemon-reload leaves it alone. */
  override followsUnitFile(): boolean {
    return this.connection === null;
  }

  /** Waiting for an automatic restart is a settled state for daemon-reexec (the restart is carried over). */
  override inTransition(): boolean {
    return this.state !== "auto-restart" && super.inTransition();
  }

  // ---- sd_notify --------------------------------------------------------------------------

  /** A datagram from $NOTIFY_SOCKET whose sender pid belongs to this unit (the manager looked it up). */
  override notify(senderPid: number, text: string, fds: number[], senderUid?: number): void {
    const u = receiveNotify(this.notifyReceiverOf(), senderPid, text, fds, senderUid);
    if (!u) return;
    if (u.watchdog === "trigger") return this.enterWatchdog();
    if (u.watchdog === "ping" && WATCHDOG_STATES.has(this.state)) this.armWatchdog();
    if (u.ready) {
      if (this.state === "start" && this.notifyType) {
        this.timer.cancel();
        return this.enterStartPost();
      }
      // During ExecReload= READY=1 changes nothing: the reload ends with its control process.
      if (this.state === "reload-notify" || this.state === "reload-signal") {
        this.timer.cancel();
        this.log.info("Reloaded.");
        const answer = this.takeReload();
        this.setState("running");
        this.armRuntimeMax();
        return answer?.(true);
      }
    }
    if (u.reloading && (this.state === "running" || this.state === "reload-signal")) {
      // RELOADING=1 by the service itself, or its answer to ReloadSignal= (Type=notify-reload).
      if (this.state === "running") this.timer.arm(this.cfg.timeoutStartUsec, this.reloadTimedOut);
      this.setState("reload-notify");
    }
    if (u.stopping && (this.state === "running" || this.state === "reload-notify" || this.state === "reload-signal")) {
      // The service stops by itself: wait for it, then SIGKILL after TimeoutStopSec=.
      this.log.info("Service is stopping (STOPPING=1).");
      this.setState("stop-sigterm");
      this.timer.arm(this.cfg.timeoutStopUsec, () => this.enterSignal("stop-sigkill", "timeout"));
    }
  }

  // ---- reload (ExecReload=) -------------------------------------------------------------------

  /** Whether `reload UNIT` can run now; a reason when not. */
  override canReload(): string | null {
    if (this.state !== "running" && this.state !== "exited") return `${this.name} is not active (${this.state}), cannot reload.`;
    if (this.cfg.execReload.length === 0 && this.type !== "notify-reload" && this.cfg.reloadSignal === undefined)
      return `${this.name} has no ExecReload=, cannot reload.`;
    return null;
  }

  /** Runs ExecReload= (or sends ReloadSignal=); back to running when it completes. */
  override reload(done: (ok: boolean) => void): void {
    const why = this.canReload();
    if (why) {
      this.log.warning(why);
      return done(false);
    }
    const back: ServiceState = this.state === "exited" ? "exited" : "running";
    if (this.cfg.execReload.length === 0) {
      const waitForReady = this.type === "notify-reload" && this.main !== null && back === "running";
      try {
        if (this.main) this.host.killer.kill(this.main.pid, this.cfg.reloadSignal ?? SIGNALS.SIGHUP!, false);
      } catch {
        /* gone: the main exit handler takes over */
      }
      if (!waitForReady) return done(true);
      // Type=notify-reload: reloading until the service answers RELOADING=1 and then READY=1.
      this.reloadDone = done;
      this.setState("reload-signal");
      this.timer.arm(this.cfg.timeoutStartUsec, this.reloadTimedOut);
      return;
    }
    this.reloadDone = done;
    this.setState("reload");
    this.runChain(
      "ExecReload",
      this.cfg.execReload,
      (o) => {
        const answer = this.takeReload();
        if (this.state !== "reload") return answer?.(false);
        if (!o.ok) this.log.warning("Reload failed.");
        else this.log.info("Reloaded.");
        this.afterReload(back);
        answer?.(o.ok);
      },
      this.cfg.timeoutStartUsec,
      () => {
        this.log.warning("Reload operation timed out. Killing reload process.");
        const answer = this.takeReload();
        this.control.drop();
        this.afterReload(back);
        answer?.(false);
      },
    );
  }

  private readonly reloadTimedOut = (): void => {
    this.log.warning("Reload operation timed out.");
    const answer = this.takeReload();
    this.setState("running");
    this.armRuntimeMax();
    answer?.(false);
  };

  /** Type=forking: the started process exited cleanly; the daemon it forked becomes the main process. */
  protected forkingParentExited(): void {
    const pid = forkedMainPid(
      this.cfg,
      this.log,
      () => (this.cgroupPath && this.host.cgroups ? this.host.cgroups.procs(this.cgroupPath) : this.host.orphanChildren()),
      {
        exists: (p) => this.host.probe.exists(p),
        belongs: (p) => this.belongs(p) || (!this.cgroupPath && this.host.orphanChildren().includes(p)),
        self: this.host.probe.self,
        ...(this.host.pidFiles ? { files: this.host.pidFiles } : {}),
      },
    );
    if (pid === "wait") {
      // PIDFile= not written yet: look again until the start timeout (still armed) fires.
      this.cgroupPoll.arm(CGROUP_POLL_USEC * 5, () => {
        if (this.state === "start" && !this.main) this.forkingParentExited();
      });
      return;
    }
    if (pid === "refused") return this.enterSignal("stop-sigterm", "protocol");
    this.timer.cancel();
    if (pid !== null) {
      this.log.debug(`Main PID of forking service: ${pid}`);
      this.adoptMain(pid);
      this.armWatchdog();
    } else {
      this.mainUnknown = true;
      this.log.info("Supervising process without a main PID (none could be determined).");
    }
    this.enterStartPost();
  }
}
