/**
 * A running socket unit: systemd's socket state machine (src/core/socket.c) over the states
 * and transitions declared in socket-state.ts.
 */
import { createDirectories, directoryOwner, removeRuntimeDirectories } from "../exec/exec-directories.ts";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { errorText } from "../core/errors.ts";
import { RateLimit } from "../core/rate-limit.ts";
import { UnitTimer } from "../core/unit-timer.ts";
import { ExecSetupError, resolveCredentials } from "../exec/exec-spec.ts";
import type { AcceptedConnection, SavedConnection } from "../runtime/connection.ts";
import type { ActiveState, UnitRuntime } from "../runtime/unit-runtime.ts";
import { effectiveLimits, type ListenPort } from "../unit/socket-config.ts";
import { portAccepts, symlinkTarget } from "../unit/socket-relations.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { acceptOne, peerOf } from "./accept-connection.ts";
import { sourceKey } from "./connection-tracker.ts";
import { flushPorts } from "./flush-ports.ts";
import { connectionEnvironment, describePeer, instanceFromSocket } from "./instance-name.ts";
import type { SocketHost } from "./socket-host.ts";
import { applyXattrs, chownPorts, closePort, createSymlinks, openPort, waitReason, type OpenedPort } from "./socket-open.ts";
import { PENDING_RETRY_MIN_USEC, SocketPorts } from "./socket-ports.ts";
import { isStartingState, SOCKET_STATE_INFO, SOCKET_TRANSITIONS, type SocketResult, type SocketState } from "./socket-state.ts";

export type { AcceptedConnection, SavedConnection, SocketHost };

/** How long a port is not watched when the daemon is out of fds (systemd pauses accepting too). */
const ACCEPT_PAUSE_USEC = 1_000_000;
/** Service states in which the service no longer counts as running for its socket. */
const SERVICE_GONE_STATES = new Set([
  "dead",
  "failed",
  "auto-restart",
  "auto-restart-queued",
  "final-sigterm",
  "final-sigkill",
  "final-watchdog",
  "cleaning",
  "dead-before-auto-restart",
  "failed-before-auto-restart",
  "dead-resources-pinned",
]);

export class SocketUnit extends SocketPorts {
  private readonly deferTimer: UnitTimer;
  private triggerLimit: RateLimit;
  private startLimit: RateLimit;

  constructor(config: LoadedUnit, host: SocketHost) {
    super(config, host);
    const l = effectiveLimits(this.cfg);
    this.triggerLimit = new RateLimit(l.triggerIntervalUsec, l.triggerBurst);
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
    this.deferTimer = new UnitTimer(host.clock);
  }

  activeState(): ActiveState {
    return SOCKET_STATE_INFO[this.state].active;
  }

  subState(): SocketState {
    return this.state;
  }

  /**
   * Replaces the configuration (daemon-reload) while keeping fds and counters. Changed ports
   * of a socket that only listens mean reopening it ("reopen": the manager restarts it); while
   * its service holds the fds, they wait for the next restart.
   */
  override reconfigure(config: LoadedUnit, change: "settings" | "ports"): "reopen" | "applied" {
    const listening = this.state === "listening";
    this.config = config;
    const l = effectiveLimits(this.cfg);
    this.triggerLimit = new RateLimit(l.triggerIntervalUsec, l.triggerBurst);
    this.connections.maxConnections = this.cfg.maxConnections;
    this.connections.maxPerSource = this.cfg.maxConnectionsPerSource;
    if (this.state === "deferred") this.armDeferTimer(); // a new DeferTriggerMaxSec= applies at once
    if (change !== "ports") return "applied";
    if (listening) return "reopen";
    if (this.activeState() === "active")
      this.log.notice("Listening settings changed; they take effect when the socket is restarted (its service holds the fds now).");
    return "applied";
  }

  private setState(to: SocketState): void {
    const from = this.state;
    if (from !== to && !SOCKET_TRANSITIONS[from].includes(to)) {
      throw new Error(`${this.name}: invalid socket state transition ${from} -> ${to}`);
    }
    this.state = to;
    if (!SOCKET_STATE_INFO[to].fdsOpen) this.closeFds();
    if (to !== "listening") this.watch.pause();
    if (to !== "deferred") this.deferTimer.cancel();
    this.stateChangeTime = this.host.clock.now();
    if (from !== to) {
      this.log.debug(`Changed ${from} -> ${to}`);
      this.statusMessage(from, to);
      this.host.stateChanged(this, from, to);
    }
  }

  /** The lines systemd logs when a socket's start or stop job ends (socket_vtable's status_message_formats). */
  private statusMessage(from: SocketState, to: SocketState): void {
    const what = this.config.unit.description ?? this.name;
    if (isStartingState(from) && to === "listening") this.log.info(`Listening on ${what}.`);
    else if (isStartingState(from) && this.result !== "success" && (to === "failed" || SOCKET_STATE_INFO[to].active === "deactivating"))
      this.log.error(`Failed to listen on ${what}.`);
    else if (to === "dead" && !isStartingState(from)) this.log.info(`Closed ${what}.`);
  }

  // ---- start --------------------------------------------------------------------------------

  override canStart(): string | null {
    if (!this.cfg.accept) {
      const svc = this.host.unit(this.serviceName);
      if (!svc) return `Service ${this.serviceName} not loaded, refusing.`;
      if (svc.activeState() === "active" || svc.activeState() === "activating" || svc.activeState() === "reloading") {
        return `Socket service ${this.serviceName} already active, refusing.`;
      }
    }
    return null;
  }

  start(): void {
    if (this.state !== "dead" && this.state !== "failed") return;
    const refusal = this.canStart();
    if (refusal) {
      this.log.error(refusal);
      this.result = "resources";
      this.setState("failed");
      return;
    }
    if (!this.startLimit.below(this.host.clock.now())) {
      this.log.error("Start request repeated too quickly.");
      this.result = "start-limit-hit";
      this.setState("failed");
      return;
    }
    this.result = "success";
    this.triggerLimit.reset();
    // [Socket] has the exec settings too: RuntimeDirectory= and friends exist before ExecStartPre=.
    createDirectories(this.cfg.exec, this.host.dirs, this.log, directoryOwner(this.cfg.exec, this.host.lookups));
    this.enterStartPre();
  }

  private enterStartPre(): void {
    if (this.cfg.execStartPre.length === 0) return this.enterStartOpen();
    this.setState("start-pre");
    this.runChain(
      "ExecStartPre",
      this.cfg.execStartPre,
      false,
      (o) => {
        if (o.ok) this.enterStartOpen();
        else this.enterSignal("final-sigterm", o.result);
      },
      () => this.enterSignal("final-sigterm", "timeout"),
    );
  }

  private enterStartOpen(): void {
    this.setState("start-open");
    const opened: OpenedPort[] = [];
    const pending: ListenPort[] = [];
    try {
      for (const p of this.cfg.listen) {
        try {
          opened.push(openPort(this.cfg, p, this.log, (path) => this.usb.open(path, this.host.unit(this.serviceName)?.config.service, this.serviceName)));
        } catch (e) {
          const why = waitReason(this.cfg, e);
          if (!why) throw e;
          this.log.notice(`${why}; ${p.text} will be bound when it appears.`);
          pending.push(p);
        }
      }
    } catch (e) {
      for (const o of opened) closePort(o, false);
      this.log.error(`Failed to create listening socket: ${errorText(e)}`);
      return this.enterStopPre("resources");
    }
    this.ports = opened;
    this.pendingPorts = pending;
    this.retryDelayUsec = PENDING_RETRY_MIN_USEC;
    if (pending.length) this.armPendingRetry();
    const target = symlinkTarget(this.cfg);
    if (target) createSymlinks(this.cfg, target, this.log);
    applyXattrs(this.cfg, this.ports, this.log);
    this.enterStartChown();
  }

  private enterStartChown(): void {
    const c = this.cfg;
    if (c.socketUser || c.socketGroup) {
      this.setState("start-chown");
      try {
        const creds = resolveCredentials({ ...c.exec, user: c.socketUser, group: c.socketGroup, supplementaryGroups: [] }, this.host.lookups)!;
        chownPorts(this.ports, c.socketUser ? creds.uid : -1, c.socketGroup ? creds.gid : -1);
      } catch (e) {
        this.log.error(`Failed to chown socket: ${errorText(e)}`);
        return this.enterStopPre(e instanceof ExecSetupError ? "exit-code" : "resources");
      }
    }
    this.enterStartPost();
  }

  private enterStartPost(): void {
    if (this.cfg.execStartPost.length === 0) return this.enterListening();
    this.setState("start-post");
    this.runChain(
      "ExecStartPost",
      this.cfg.execStartPost,
      true,
      (o) => {
        if (o.ok) this.enterListening();
        else this.enterStopPre(o.result);
      },
      () => this.enterStopPre("timeout"),
    );
  }

  private enterListening(): void {
    if (!this.cfg.accept && this.cfg.flushPending) flushPorts(this.ports, this.log);
    this.setState("listening");
    try {
      this.watch.watch(this.ports);
    } catch (e) {
      this.log.error(`Failed to watch listening fds: ${errorText(e)}`);
      this.enterStopPre("resources");
    }
  }

  // ---- ports that wait for their transport or interface ---------------------------------------

  // ---- watching -----------------------------------------------------------------------------

  protected onReady(p: OpenedPort, revents: number): void {
    if (revents !== C.EPOLLIN) {
      if (revents & C.EPOLLHUP)
        this.log.error("Got POLLHUP on a listening socket. The service probably invoked shutdown() on it, and should better not do that.");
      else this.log.error(`Got unexpected poll event (0x${revents.toString(16)}) on socket.`);
      return this.enterStopPre("resources");
    }
    if (this.cfg.accept && portAccepts(p.port)) {
      const acc = acceptOne(p, this.cfg, this.log);
      if (acc === "exhausted") return this.watch.pauseFor(p, ACCEPT_PAUSE_USEC);
      if (acc) this.enterRunning(acc);
      return this.watch.rearm(p);
    }
    if (p.port.kind === "usb-function" && this.cfg.usbActivation === "enable" && !this.usb.enabled(p.fd)) return this.watch.rearm(p);
    this.enterRunning(null);
  }

  // ---- activation ---------------------------------------------------------------------------

  private enterRunning(acc: n.Accepted | null): void {
    if (this.host.hasStopJob(this.name)) {
      this.log.info("Suppressing connection request since unit stop is scheduled.");
      if (acc) n.close(acc.fd);
      else flushPorts(this.ports, this.log);
      return;
    }
    if (!this.triggerLimit.below(this.host.clock.now())) {
      if (acc) n.close(acc.fd);
      this.log.warning("Trigger limit hit, refusing further activation.");
      return this.enterStopPre("trigger-limit-hit");
    }
    if (!this.cfg.accept) return this.activateService();
    this.startInstance(acc!);
  }

  private activateService(): void {
    const name = this.serviceName;
    const svc = this.host.unit(name);
    if (!svc) {
      this.log.error(`Service ${name} not loaded, refusing.`);
      return this.enterStopPre("resources");
    }
    const st = svc.activeState();
    if (this.host.hasJob(name) || st === "active" || st === "activating" || st === "reloading") {
      return this.setState("running");
    }
    if (this.cfg.deferTrigger !== "no" && this.host.startWouldConflict(name)) {
      if (this.state !== "deferred") {
        this.log.info(`Deferring activation of ${name}: starting it now would stop an active unit`);
        this.setState("deferred");
        this.armDeferTimer();
      }
      return;
    }
    if (!this.host.requestStart(name, `socket ${this.name}`)) {
      this.log.error(`Failed to queue service startup job for ${name}`);
      return this.enterStopPre("resources");
    }
    // The job may already have run (and even failed us, e.g. service-start-limit-hit).
    if (this.state !== "listening" && this.state !== "deferred") return;
    const now = svc.activeState();
    if (!this.host.hasJob(name) && (now === "inactive" || now === "failed")) {
      // Over already without the service running (a Condition*= skipped it): listen again, so a
      // connection still waiting triggers again, up to the trigger limit (systemd's issue 2467).
      return this.enterListening();
    }
    this.setState("running");
  }

  /**
   * daemon-reload found the unit file gone. systemd keeps the socket active (with what its file
   * said: SocketGroup= and the rest stay on the node) but a unit without a file has no ports, so
   * the fds it had are closed: connections are refused until the socket is restarted.
   */
  override unitFileRemoved(): void {
    if (this.ports.length === 0) return;
    this.log.notice("Unit file removed; the socket stays active but closes its listening fds until it is restarted.");
    this.closeFds(true);
  }

  /** DeferTriggerMaxSec= counted from when the socket became deferred (re-armed by daemon-reload). */
  private armDeferTimer(): void {
    const left = Math.max(0, this.stateChangeTime + this.cfg.deferTriggerMaxUsec - this.host.clock.now());
    this.deferTimer.arm(left, () => {
      this.log.warning("DeferTriggerMaxSec= elapsed. Stopping.");
      this.enterStopPre("timeout");
    });
  }

  /** A unit stopped somewhere: a deferred activation may proceed now (socket_stop_notify()). */
  override unitStopped(): void {
    if (this.state !== "deferred") return;
    if (!this.host.startWouldConflict(this.serviceName)) {
      this.activateService();
    } else if (this.cfg.deferTrigger === "yes" && !this.host.hasJob("*")) {
      this.log.warning("Deferred activation cannot proceed: the conflicting unit is still active. Stopping.");
      this.enterStopPre("resources");
    }
  }

  private startInstance(acc: n.Accepted): void {
    const peer = peerOf(acc, this.log);
    if (!peer) return;
    const info = peer.info;
    const admission = this.connections.admit(sourceKey(acc.peer, peer.uid));
    if (!admission.ok) {
      if (admission.reason === "max-connections") this.log.warning(`Too many incoming connections (${admission.count}), dropping connection.`);
      else this.log.warning(`Too many incoming connections (${admission.count}) from source ${admission.source}, dropping connection.`);
      n.close(acc.fd);
      return;
    }
    const instance = instanceFromSocket(this.connections.nAccepted, info);
    this.connections.nAccepted++;
    const conn = this.makeConnection(
      {
        fd: acc.fd,
        env: connectionEnvironment(info),
        description: describePeer(info),
        fdName: this.cfg.fileDescriptorName ?? "connection",
        socket: this.name,
        source: admission.source,
      },
      admission.release,
    );
    if (!this.host.startAcceptedInstance(this, instance, conn)) {
      conn.release();
      this.log.error(`Failed to start instance for connection ${instance}`);
      this.enterStopPre("resources");
    }
  }

  /** socket_trigger_notify(): the activated service changed state. */
  override triggeredUnitChanged(unit: UnitRuntime): void {
    if (this.cfg.accept || unit.name !== this.serviceName) return;
    const serviceSub = unit.subState(),
      serviceActive = unit.activeState(),
      startLimitHit = unit.startLimitHit;
    if (this.state !== "running" && this.state !== "listening" && this.state !== "deferred") return;
    if (startLimitHit) return this.enterStopPre("service-start-limit-hit");
    if (this.host.hasJob(this.serviceName)) return;
    if (SERVICE_GONE_STATES.has(serviceSub) || serviceActive === "inactive" || serviceActive === "failed") {
      if (this.state !== "listening") this.enterListening();
    } else if (serviceActive === "active" || serviceActive === "reloading") {
      if (this.state !== "running") this.setState("running");
    }
  }

  // ---- stop ---------------------------------------------------------------------------------

  stop(): void {
    const s = this.state;
    if (s === "dead" || s === "failed") return;
    if (SOCKET_STATE_INFO[s].active === "deactivating") return;
    if (isStartingState(s)) return this.enterSignal("stop-pre-sigterm", "success");
    if (s === "cleaning") return this.enterSignal("final-sigkill", "success");
    this.enterStopPre("success");
  }

  private setResult(r: SocketResult): void {
    if (this.result === "success") this.result = r;
  }

  protected enterStopPre(r: SocketResult): void {
    this.setResult(r);
    this.dropControl();
    if (this.cfg.execStopPre.length === 0) return this.enterStopPost("success");
    this.setState("stop-pre");
    this.runChain(
      "ExecStopPre",
      this.cfg.execStopPre,
      true,
      (o) => this.enterStopPost(o.ok ? "success" : o.result),
      () => this.enterSignal("stop-pre-sigterm", "timeout"),
    );
  }

  private enterStopPost(r: SocketResult): void {
    this.setResult(r);
    if (this.cfg.execStopPost.length === 0) return this.enterSignal("final-sigterm", "success");
    // Spawned before the state change closes the fds, so PassFileDescriptorsToExec= works.
    this.runChain(
      "ExecStopPost",
      this.cfg.execStopPost,
      true,
      (o) => this.enterSignal("final-sigterm", o.ok ? "success" : o.result),
      () => this.enterSignal("final-sigterm", "timeout"),
    );
    this.setState("stop-post");
  }

  private enterSignal(state: "stop-pre-sigterm" | "stop-pre-sigkill" | "final-sigterm" | "final-sigkill", r: SocketResult): void {
    this.setResult(r);
    const sigkill = state.endsWith("sigkill");
    const proceed = () => (state.startsWith("stop-pre") ? this.enterStopPost("success") : this.enterDead("success"));
    const ctl = this.control.current;
    const pid = ctl?.chain.pid ?? null;
    if (!ctl || pid === null || (sigkill && !this.cfg.kill.sendSIGKILL)) {
      this.dropControl({ kill: !sigkill || this.cfg.kill.sendSIGKILL }); // SendSIGKILL=no: nothing is SIGKILLed
      return proceed();
    }
    ctl.chain.abort();
    ctl.next = proceed;
    try {
      this.host.killer.kill(pid, sigkill ? this.cfg.kill.finalKillSignal : this.cfg.kill.killSignal, this.cfg.kill.killMode !== "process");
    } catch {
      /* already gone */
    }
    this.setState(state);
    this.timer.arm(this.cfg.timeoutUsec, () => {
      if (this.control.current !== ctl) return;
      this.log.warning(`Processing ${state} timed out.`);
      if (state === "stop-pre-sigterm") this.enterSignal("stop-pre-sigkill", "timeout");
      else if (state === "final-sigterm") this.enterSignal("final-sigkill", "timeout");
      else {
        // Still there after SIGKILL: given up on without another signal, as systemd does.
        this.dropControl({ kill: false });
        if (state === "stop-pre-sigkill") this.enterStopPost("timeout");
        else this.enterDead("timeout");
      }
    });
  }

  private enterDead(r: SocketResult): void {
    this.setResult(r);
    removeRuntimeDirectories(this.cfg.exec, this.host.dirs);
    this.dropControl();
    this.timer.cancel();
    this.setState(this.result === "success" ? "dead" : "failed");
  }

  // ---- control processes --------------------------------------------------------------------

  override dispose(): void {
    this.dropControl();
    this.timer.cancel();
    this.closeFds();
  }
}
