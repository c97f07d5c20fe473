/**
 * A running socket unit: systemd's socket state machine (src/core/socket.c) over the states
 * and transitions declared in socket-state.ts.
 */
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { RateLimit } from "../core/rate-limit.ts";
import { buildSpawnSpec, resolveCredentials, ExecSetupError } from "../core/exec-spec.ts";
import { CommandChain, ControlSlot, UnitRuntime, UnitTimer, type ActiveState, type ChainOutcome, type UnitHost } from "../core/unit-runtime.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { portAccepts, socketServiceName, symlinkTarget } from "../unit/unit-verify.ts";
import { ConnectionTracker, sourceKey } from "./connection-tracker.ts";
import { connectionEnvironment, describePeer, instanceFromSocket, type PeerInfo } from "./instance-name.ts";
import { effectiveLimits, type ListenPort, type SocketConfig } from "./socket-config.ts";
import { applyOptionalOptions, applyXattrs, chownPorts, closePort, createSymlinks, openPort, removeSymlinks, waitReason, type OpenedPort } from "./socket-open.ts";
import { postBindOptions } from "./socket-options.ts";
import { loadUsbBlobs, openUsbFunction, markFunctionReady } from "../usb/ffs-port.ts";
import { parseEvents, EVENT_SIZE } from "../usb/ffs-events.ts";
import type { ServiceConfig } from "../service/service-config.ts";
import { isStartingState, SOCKET_STATE_INFO, SOCKET_TRANSITIONS, type SocketResult, type SocketState } from "./socket-state.ts";

/** A connection handed to an Accept=yes instance; release() frees its slot and its fd. */
export interface AcceptedConnection {
  fd: number;
  env: Record<string, string>;
  description: string;
  fdName: string;
  /** The socket unit that accepted it, and the key MaxConnectionsPerSource= counted it by. */
  socket: string;
  source: string | null;
  release(): void;
}

/** An Accept=yes connection as daemon-reexec hands it over (release() is rebuilt). */
export type SavedConnection = Omit<AcceptedConnection, "release">;

/** The part of the manager a socket needs beyond UnitHost. */
export interface SocketHost extends UnitHost {
  startAcceptedInstance(socket: SocketUnit, instanceName: string, conn: AcceptedConnection): boolean;
  /** Whether starting this service now would stop an active unit (DeferTrigger=). */
  startWouldConflict(serviceName: string): boolean;
  hasStopJob(name: string): boolean;
}

/** Service states in which the service no longer counts as running for its socket. */
/** Retry delays for ports that wait for a vsock transport or a network interface. */
const PENDING_RETRY_MIN_USEC = 100_000;
const PENDING_RETRY_MAX_USEC = 1_000_000;
const SERVICE_GONE_STATES = new Set(["dead", "failed", "auto-restart", "auto-restart-queued", "final-sigterm", "final-sigkill", "final-watchdog", "cleaning", "dead-before-auto-restart", "failed-before-auto-restart", "dead-resources-pinned"]);

export class SocketUnit extends UnitRuntime {
  state: SocketState = "dead";
  ports: OpenedPort[] = [];
  readonly connections: ConnectionTracker;
  /** The running control process chain and what to do when it ends. */
  private readonly control: ControlSlot;
  private readonly timer: UnitTimer;
  private readonly deferTimer: UnitTimer;
  private triggerLimit: RateLimit;
  private startLimit: RateLimit;
  private pollLimits = new Map<number, { limit: RateLimit; timer: UnitTimer }>();

  constructor(config: LoadedUnit, protected override readonly host: SocketHost) {
    super(config, host);
    const c = this.cfg;
    const l = effectiveLimits(c);
    this.triggerLimit = new RateLimit(l.triggerIntervalUsec, l.triggerBurst);
    this.startLimit = new RateLimit(config.unit.startLimitIntervalUsec ?? 10e6, config.unit.startLimitBurst ?? 5);
    this.connections = new ConnectionTracker(c.maxConnections, c.maxConnectionsPerSource);
    this.timer = new UnitTimer(host.clock);
    this.control = new ControlSlot(host.killer, this.timer);
    this.deferTimer = new UnitTimer(host.clock);
    this.pendingTimer = new UnitTimer(host.clock);
  }

  get cfg(): SocketConfig {
    return this.config.socket!;
  }

  get serviceName(): string {
    return socketServiceName(this.config);
  }

  activeState(): ActiveState {
    return SOCKET_STATE_INFO[this.state].active;
  }

  subState(): string {
    return this.state;
  }

  /** Replaces the configuration (daemon-reload) while keeping fds and counters. */
  reconfigure(config: LoadedUnit): void {
    this.config = config;
    const l = effectiveLimits(this.cfg);
    this.triggerLimit = new RateLimit(l.triggerIntervalUsec, l.triggerBurst);
    this.connections.maxConnections = this.cfg.maxConnections;
    this.connections.maxPerSource = this.cfg.maxConnectionsPerSource;
  }

  private setState(to: SocketState): void {
    const from = this.state;
    if (from !== to && !SOCKET_TRANSITIONS[from].includes(to)) {
      throw new Error(`${this.name}: invalid socket state transition ${from} -> ${to}`);
    }
    this.state = to;
    if (!SOCKET_STATE_INFO[to].fdsOpen) this.closeFds();
    if (to !== "listening") this.unwatchFds();
    if (to !== "deferred") this.deferTimer.cancel();
    this.stateChangeTime = this.host.clock.now();
    if (from !== to) {
      this.log.debug(`Changed ${from} -> ${to}`);
      this.host.stateChanged(this, from, to);
    }
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
    this.enterStartPre();
  }

  private enterStartPre(): void {
    if (this.cfg.execStartPre.length === 0) return this.enterStartOpen();
    this.setState("start-pre");
    this.runChain("ExecStartPre", this.cfg.execStartPre, false, (o) => {
      if (o.ok) this.enterStartOpen();
      else this.enterSignal("final-sigterm", o.result as SocketResult);
    }, () => this.enterSignal("final-sigterm", "timeout"));
  }

  private enterStartOpen(): void {
    this.setState("start-open");
    const opened: OpenedPort[] = [];
    const pending: ListenPort[] = [];
    try {
      for (const p of this.cfg.listen) {
        try {
          opened.push(openPort(this.cfg, p, this.log, (path) => this.openUsb(path)));
        } catch (e) {
          const why = waitReason(this.cfg, e);
          if (!why) throw e;
          this.log.notice(`${why}; ${p.text} will be bound when it appears.`);
          pending.push(p);
        }
      }
    } catch (e) {
      for (const o of opened) closePort(o, false);
      this.log.error(`Failed to create listening socket: ${(e as Error).message}`);
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

  /** ListenUSBFunction=: the descriptors come from the service this socket activates. */
  private openUsb(path: string): { ep0: number; endpoints: number[]; endpointNames: string[] } {
    const svc = this.host.unit(this.serviceName)?.config.service as ServiceConfig | undefined;
    const blobs = loadUsbBlobs(svc?.usbFunctionDescriptors, svc?.usbFunctionStrings, this.serviceName);
    const r = openUsbFunction(path, blobs);
    markFunctionReady(path, true);
    this.log.info(`FunctionFS ${path}: descriptors written (${blobs.source}), ${r.endpointNames.length} endpoint files`);
    return r;
  }

  /** Set when the service was activated on ENABLE (X-USBActivationEvent=enable). */
  private usbEnabledSeen = false;

  /**
   * X-USBActivationEvent=enable: bunit reads ep0 events until the host enables the function;
   * SETUP requests meanwhile are stalled (there is no service yet to answer them).
   */
  private usbWaitForEnable(p: OpenedPort): boolean {
    const buf = new Uint8Array(EVENT_SIZE * 16);
    for (;;) {
      let got: number | null;
      try {
        got = n.read(p.fd, buf);
      } catch (e) {
        this.log.warning(`Reading ep0 events: ${(e as Error).message}`);
        return false;
      }
      if (!got) return false;
      for (const ev of parseEvents(buf, got)) {
        if (ev.type === "setup") {
          this.log.debug(`Stalling SETUP 0x${ev.request.bmRequestType.toString(16)}/0x${ev.request.bRequest.toString(16)} before the service runs`);
          try {
            if (ev.request.direction === "in") n.read(p.fd, new Uint8Array(0));
            else n.write(p.fd, new Uint8Array(0));
          } catch {
            /* EL2HLT: stalled */
          }
        } else if (ev.type === "enable") {
          this.usbEnabledSeen = true;
          return true;
        }
      }
    }
  }

  /** Variables the activated service gets from this socket. */
  serviceEnvironment(): Record<string, string> {
    return this.usbEnabledSeen ? { USB_FUNCTION_STATE: "enabled" } : {};
  }

  private enterStartChown(): void {
    const c = this.cfg;
    if (c.socketUser || c.socketGroup) {
      this.setState("start-chown");
      try {
        const creds = resolveCredentials({ ...c.exec, user: c.socketUser, group: c.socketGroup, supplementaryGroups: [] }, this.host.lookups)!;
        chownPorts(this.ports, c.socketUser ? creds.uid : -1, c.socketGroup ? creds.gid : -1);
      } catch (e) {
        this.log.error(`Failed to chown socket: ${(e as Error).message}`);
        return this.enterStopPre(e instanceof ExecSetupError ? "exit-code" : "resources");
      }
    }
    this.enterStartPost();
  }

  private enterStartPost(): void {
    if (this.cfg.execStartPost.length === 0) return this.enterListening();
    this.setState("start-post");
    this.runChain("ExecStartPost", this.cfg.execStartPost, true, (o) => {
      if (o.ok) this.enterListening();
      else this.enterStopPre(o.result as SocketResult);
    }, () => this.enterStopPre("timeout"));
  }

  private enterListening(): void {
    if (!this.cfg.accept && this.cfg.flushPending) this.flushPorts();
    this.setState("listening");
    try {
      this.watchFds();
    } catch (e) {
      this.log.error(`Failed to watch listening fds: ${(e as Error).message}`);
      this.enterStopPre("resources");
    }
  }

  /**
   * Takes over ports opened by a previous daemon process (daemon-reexec): the socket is
   * listening again (or running, when its service holds the fds) without having closed them.
   */
  adopt(ports: OpenedPort[], serviceRunning: boolean, counters: { accepted: number; refused: number }): void {
    this.ports = ports;
    this.connections.nAccepted = counters.accepted;
    this.connections.nRefused = counters.refused;
    for (const p of ports) if (p.port.kind === "usb-function") markFunctionReady(p.port.path, true);
    const to: SocketState = serviceRunning && !this.cfg.accept ? "running" : "listening";
    this.state = to;
    this.stateChangeTime = this.host.clock.now();
    if (to === "listening") this.watchFds();
    this.log.debug(`Adopted ${ports.length} open ports (${to}).`);
    this.host.stateChanged(this, "dead", to);
  }

  // ---- ports that wait for their transport or interface ---------------------------------------

  /** Ports not open yet (waitReason()); retried with a growing delay, and at once on retryPending(). */
  pendingPorts: ListenPort[] = [];
  private retryDelayUsec = PENDING_RETRY_MIN_USEC;
  private readonly pendingTimer: UnitTimer;

  private armPendingRetry(): void {
    this.pendingTimer.arm(this.retryDelayUsec, () => this.retryPending());
    this.retryDelayUsec = Math.min(this.retryDelayUsec * 2, PENDING_RETRY_MAX_USEC);
  }

  /** Tries the waiting ports again (a timer, or a device or module that appeared). */
  retryPending(): void {
    if (this.pendingPorts.length === 0 || !SOCKET_STATE_INFO[this.state].fdsOpen) return;
    const still: ListenPort[] = [];
    for (const p of this.pendingPorts) {
      try {
        const o = openPort(this.cfg, p, this.log);
        applyXattrs(this.cfg, [o], this.log);
        this.ports.push(o);
        this.log.info(`${p.text}: bound now${this.cfg.bindToDevice ? ` (BindToDevice=${this.cfg.bindToDevice})` : ""}.`);
      } catch (e) {
        if (!waitReason(this.cfg, e)) {
          this.log.error(`Failed to create listening socket: ${(e as Error).message}`);
          this.pendingPorts = [];
          return this.enterStopPre("resources");
        }
        still.push(p);
      }
    }
    // The service gets the fds in configuration order, whenever they were opened.
    this.ports.sort((a, b) => this.cfg.listen.indexOf(a.port) - this.cfg.listen.indexOf(b.port));
    this.pendingPorts = still;
    if (this.state === "listening") this.watchFds();
    if (still.length) this.armPendingRetry();
    else this.pendingTimer.cancel();
  }

  // ---- watching -----------------------------------------------------------------------------

  /**
   * While held (daemon-reexec waiting for jobs to settle), no connection is taken: the kernel
   * queues them on the listening socket, and the next process (or release) takes them.
   */
  private held = false;

  hold(on: boolean): void {
    if (this.held === on) return;
    this.held = on;
    if (on) this.unwatchFds();
    else if (this.state === "listening") this.watchFds();
  }

  private watchFds(): void {
    if (this.held) return;
    const limits = effectiveLimits(this.cfg);
    for (const p of this.ports) {
      let pl = this.pollLimits.get(p.fd);
      if (!pl) {
        pl = { limit: new RateLimit(limits.pollIntervalUsec, limits.pollBurst), timer: new UnitTimer(this.host.clock) };
        this.pollLimits.set(p.fd, pl);
        this.host.watcher.watch(p.fd, C.EPOLLIN, (rev) => this.onReady(p, rev));
      } else if (!pl.timer.armed) {
        this.host.watcher.arm(p.fd, C.EPOLLIN);
      }
    }
  }

  private unwatchFds(): void {
    for (const p of this.ports) {
      const pl = this.pollLimits.get(p.fd);
      if (pl) {
        pl.timer.cancel();
        this.host.watcher.arm(p.fd, 0);
      }
    }
  }

  private rearm(p: OpenedPort): void {
    if (this.state === "listening" && !this.held && this.ports.includes(p)) this.host.watcher.arm(p.fd, C.EPOLLIN);
  }

  private onReady(p: OpenedPort, revents: number): void {
    if (this.state !== "listening" || this.held || !this.ports.includes(p)) return;
    const pl = this.pollLimits.get(p.fd)!;
    if (!pl.limit.below(this.host.clock.now())) {
      // PollLimit: the source goes offline until the window ends; the unit does not fail.
      this.log.debug(`Poll limit hit on ${p.port.text}, pausing until the window ends`);
      pl.timer.arm(Math.max(0, pl.limit.windowEnd() - this.host.clock.now()), () => this.rearm(p));
      return;
    }
    if (revents !== C.EPOLLIN) {
      if (revents & C.EPOLLHUP) this.log.error("Got POLLHUP on a listening socket. The service probably invoked shutdown() on it, and should better not do that.");
      else this.log.error(`Got unexpected poll event (0x${revents.toString(16)}) on socket.`);
      return this.enterStopPre("resources");
    }
    if (this.cfg.accept && portAccepts(p.port)) {
      let acc: n.Accepted | null = null;
      try {
        // Poll first: the fd may have been made blocking by a process it was passed to.
        if (n.pollOne(p.fd, C.EPOLLIN, 0) & C.EPOLLIN) acc = n.accept(p.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      } catch (e) {
        this.log.warning(`accept() failed, ignoring: ${(e as Error).message}`);
        return this.rearm(p);
      }
      if (!acc) return this.rearm(p);
      applyOptionalOptions(acc.fd, postBindOptions(this.cfg, p.family ?? "unix"), this.log);
      for (const [k, v] of this.cfg.xattrAccept) {
        try {
          n.fsetxattr(acc.fd, k, v);
        } catch (e) {
          this.log.debug(`XAttrAccept=${k}: ${(e as Error).message}, ignoring`);
        }
      }
      this.enterRunning(acc);
      this.rearm(p);
      return;
    }
    if (p.port.kind === "usb-function" && this.cfg.usbActivation === "enable" && !this.usbWaitForEnable(p)) return this.rearm(p);
    this.enterRunning(null);
  }

  // ---- activation ---------------------------------------------------------------------------

  private enterRunning(acc: n.Accepted | null): void {
    if (this.host.hasStopJob(this.name)) {
      this.log.info("Suppressing connection request since unit stop is scheduled.");
      if (acc) n.close(acc.fd);
      else this.flushPorts();
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
        this.deferTimer.arm(this.cfg.deferTriggerMaxUsec, () => {
          this.log.warning("DeferTriggerMaxSec= elapsed. Stopping.");
          this.enterStopPre("timeout");
        });
      }
      return;
    }
    if (!this.host.requestStart(name, `socket ${this.name}`)) {
      this.log.error(`Failed to queue service startup job for ${name}`);
      return this.enterStopPre("resources");
    }
    // The job may already have run (and even failed us, e.g. service-start-limit-hit).
    if (this.state === "listening" || this.state === "deferred") this.setState("running");
  }

  /** A unit stopped somewhere: a deferred activation may proceed now (socket_stop_notify()). */
  unitStopped(): void {
    if (this.state !== "deferred") return;
    if (!this.host.startWouldConflict(this.serviceName)) {
      this.activateService();
    } else if (this.cfg.deferTrigger === "yes" && !this.host.hasJob("*")) {
      this.log.warning("Deferred activation cannot proceed: the conflicting unit is still active. Stopping.");
      this.enterStopPre("resources");
    }
  }

  private startInstance(acc: n.Accepted): void {
    let cred: n.Ucred | undefined;
    let local: ReturnType<typeof n.getsockname> = null;
    let cookie: bigint | null = null;
    try {
      local = n.getsockname(acc.fd);
      cookie = n.socketCookie(acc.fd);
      if (local?.family === "unix") cred = n.peercred(acc.fd);
    } catch (e) {
      this.log.debug(`Got error on incoming socket, assuming aborted connection attempt, ignoring: ${(e as Error).message}`);
      n.close(acc.fd);
      return;
    }
    const info: PeerInfo = { local, peer: acc.peer, cookie, ...(cred ? { cred: { pid: cred.pid, uid: cred.uid } } : {}) };
    const admission = this.connections.admit(sourceKey(acc.peer, cred?.uid));
    if (!admission.ok) {
      if (admission.reason === "max-connections") this.log.warning(`Too many incoming connections (${admission.count}), dropping connection.`);
      else this.log.warning(`Too many incoming connections (${admission.count}) from source ${admission.source}, dropping connection.`);
      n.close(acc.fd);
      return;
    }
    const instance = instanceFromSocket(this.connections.nAccepted, info);
    this.connections.nAccepted++;
    const conn = this.makeConnection({ fd: acc.fd, env: connectionEnvironment(info), description: describePeer(info), fdName: this.cfg.fileDescriptorName ?? "connection", socket: this.name, source: admission.source }, admission.release);
    if (!this.host.startAcceptedInstance(this, instance, conn)) {
      conn.release();
      this.log.error(`Failed to start instance for connection ${instance}`);
      this.enterStopPre("resources");
    }
  }

  private makeConnection(saved: SavedConnection, releaseSlot: () => void): AcceptedConnection {
    let open = true;
    return {
      ...saved,
      release: () => {
        if (!open) return;
        open = false;
        n.close(saved.fd);
        releaseSlot();
      },
    };
  }

  /**
   * A connection an instance of this socket held when the previous daemon process exec'd: it
   * counts against MaxConnections= and MaxConnectionsPerSource= again until the instance ends.
   */
  adoptConnection(saved: SavedConnection): AcceptedConnection {
    return this.makeConnection(saved, this.connections.readmit(saved.source));
  }

  /**
   * fds for the service this socket activates: each port's fd, then its auxiliary fds (the
   * FunctionFS endpoints), all with the socket's one name as in systemd, or NAME.ep1... with
   * X-USBEndpointNames=yes.
   */
  collectFds(): { fd: number; name: string }[] {
    const name = this.cfg.fileDescriptorName ?? this.name;
    const out: { fd: number; name: string }[] = [];
    for (const p of this.ports) {
      out.push({ fd: p.fd, name });
      p.aux.forEach((a, i) => out.push({ fd: a, name: this.cfg.usbEndpointNames ? `${name}.${p.auxNames?.[i] ?? `ep${i + 1}`}` : name }));
    }
    return out;
  }

  /** socket_trigger_notify(): the activated service changed state. */
  serviceStateChanged(serviceSub: string, serviceActive: ActiveState, startLimitHit: boolean): void {
    if (this.cfg.accept) return;
    if (this.state !== "running" && this.state !== "listening" && this.state !== "deferred") return;
    if (startLimitHit) return this.enterStopPre("service-start-limit-hit");
    if (this.host.hasJob(this.serviceName)) return;
    if (SERVICE_GONE_STATES.has(serviceSub) || serviceActive === "inactive" || serviceActive === "failed") {
      if (this.state !== "listening") this.enterListening();
    } else if (serviceActive === "active" || serviceActive === "reloading") {
      if (this.state !== "running") this.setState("running");
    }
  }

  /**
   * FlushPending=: discard what is queued. A service given these fds with NonBlocking=no made
   * them blocking (O_NONBLOCK belongs to the shared open file description), so every accept
   * or read is preceded by a zero-timeout poll, as in systemd's flush_accept()/flush_fd().
   */
  private flushPorts(): void {
    const readable = (fd: number) => (n.pollOne(fd, C.EPOLLIN, 0) & C.EPOLLIN) !== 0;
    for (const p of this.ports) {
      try {
        if (p.mqName) {
          const buf = new Uint8Array(Math.max(n.mqGetattr(p.fd).msgSize, 1));
          while (readable(p.fd) && n.mqReceive(p.fd, buf) !== null);
          continue;
        }
        if (portAccepts(p.port) && n.getsockoptInt(p.fd, C.SOL_SOCKET, C.SO_ACCEPTCONN) === 1) {
          while (readable(p.fd)) {
            const a = n.accept(p.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
            if (!a) break;
            n.close(a.fd);
          }
          continue;
        }
        const buf = new Uint8Array(4096);
        while (readable(p.fd) && n.read(p.fd, buf) !== null);
      } catch (e) {
        this.log.debug(`Flushing ${p.port.text}: ${(e as Error).message}`);
      }
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

  private enterStopPre(r: SocketResult): void {
    this.setResult(r);
    this.dropControl();
    if (this.cfg.execStopPre.length === 0) return this.enterStopPost("success");
    this.setState("stop-pre");
    this.runChain("ExecStopPre", this.cfg.execStopPre, true, (o) => this.enterStopPost(o.ok ? "success" : (o.result as SocketResult)), () =>
      this.enterSignal("stop-pre-sigterm", "timeout"),
    );
  }

  private enterStopPost(r: SocketResult): void {
    this.setResult(r);
    if (this.cfg.execStopPost.length === 0) return this.enterSignal("final-sigterm", "success");
    // Spawned before the state change closes the fds, so PassFileDescriptorsToExec= works.
    this.runChain("ExecStopPost", this.cfg.execStopPost, true, (o) => this.enterSignal("final-sigterm", o.ok ? "success" : (o.result as SocketResult)), () =>
      this.enterSignal("final-sigterm", "timeout"),
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
      this.dropControl();
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
        this.dropControl();
        if (state === "stop-pre-sigkill") this.enterStopPost("timeout");
        else this.enterDead("timeout");
      }
    });
  }

  private enterDead(r: SocketResult): void {
    this.setResult(r);
    this.dropControl();
    this.timer.cancel();
    this.setState(this.result === "success" ? "dead" : "failed");
  }

  // ---- control processes --------------------------------------------------------------------

  private runChain(label: string, cmds: readonly ExecCommand[], passFds: boolean, next: (o: ChainOutcome) => void, onTimeout: () => void): void {
    this.dropControl();
    const fds = passFds && this.cfg.passFileDescriptorsToExec ? this.collectFds() : [];
    this.control.run(
      (done) =>
        new CommandChain(
          this.host,
          this.log,
          label,
          cmds,
          (cmd) =>
            buildSpawnSpec(
              {
                command: cmd,
                exec: this.cfg.exec,
                fds: fds.map((f) => f.fd),
                fdNames: fds.map((f) => f.name),
                own: {},
                nonBlocking: false,
                daemonEnv: this.host.daemonEnv,
                managerEnv: this.host.managerEnv,
              },
              this.host.lookups,
            ),
          (stream, line, pid) => this.host.logger.emit({ level: stream === "stderr" ? "warning" : "info", source: stream, unit: this.name, message: line, pid }),
          done,
        ),
      next,
      this.cfg.timeoutUsec,
      () => {
        this.log.warning(`${label} timed out. Terminating.`);
        onTimeout();
      },
    );
  }

  /** Forgets the control process, killing whatever is left of it. */
  private dropControl(): void {
    this.timer.cancel();
    this.control.drop();
  }

  private closeFds(): void {
    this.pendingPorts = [];
    this.pendingTimer.cancel();
    if (this.ports.length === 0) return;
    const remove = this.cfg.removeOnStop;
    for (const p of this.ports) {
      if (p.port.kind === "usb-function") markFunctionReady(p.port.path, false);
      const pl = this.pollLimits.get(p.fd);
      pl?.timer.cancel();
      this.pollLimits.delete(p.fd);
      this.host.watcher.forget(p.fd);
      try {
        closePort(p, remove);
      } catch (e) {
        this.log.warning(`Closing ${p.port.text}: ${(e as Error).message}`);
      }
    }
    if (remove) removeSymlinks(this.cfg);
    this.ports = [];
  }

  override dispose(): void {
    this.dropControl();
    this.timer.cancel();
    this.closeFds();
  }
}
