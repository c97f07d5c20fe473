/**
 * The ports of a socket unit and what is done with them outside the state machine: opened
 * ports and ports waiting for their transport or interface, watching them, FunctionFS
 * activation, the fds and variables the activated service gets, Accept=yes connections and
 * their slots, the control process chain, daemon-reexec hand-over, and closing. The state
 * machine on top is socket-unit.ts; it answers onReady() and enterStopPre().
 */
import { errorText } from "../core/errors.ts";
import { UnitTimer } from "../core/unit-timer.ts";
import type { ChainOutcome } from "../exec/command-chain.ts";
import { ControlSlot, runControlChain, type ControlContext } from "../exec/control-slot.ts";
import { makeConnection, type AcceptedConnection } from "../runtime/connection.ts";
import { UnitRuntime, type ListenRow, type RuntimeFacts, type SavedConnection, type SerializedUnit } from "../runtime/unit-runtime.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import { effectiveLimits, type ListenPort, type SocketConfig } from "../unit/socket-config.ts";
import { socketServiceName } from "../unit/socket-relations.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { ConnectionTracker } from "./connection-tracker.ts";
import { listenInfo } from "./listen-info.ts";
import { PortWatch } from "./port-watch.ts";
import type { SocketHost } from "./socket-host.ts";
import { applyXattrs, closePort, openPort, removeSymlinks, waitReason, type OpenedPort } from "./socket-open.ts";
import { SOCKET_STATE_INFO, type SocketResult, type SocketState } from "./socket-state.ts";
import { UsbActivation } from "./usb-activation.ts";

/** Retry delays for ports that wait for a vsock transport or a network interface. */
export const PENDING_RETRY_MIN_USEC = 100_000;
const PENDING_RETRY_MAX_USEC = 1_000_000;

/** An open port as daemon-reexec writes it down: the fds, and which configured port they are. */
type SerializedPort = Omit<OpenedPort, "port"> & { text: string; kind: string };

interface SerializedSocket {
  running: boolean;
  ports: SerializedPort[];
  accepted: number;
  refused: number;
}

export abstract class SocketPorts extends UnitRuntime<SocketState, SocketResult> {
  state: SocketState = "dead";
  ports: OpenedPort[] = [];
  /** Ports not open yet (waitReason()); retried with a growing delay, and at once on retryWaiting(). */
  pendingPorts: ListenPort[] = [];
  readonly connections: ConnectionTracker;
  protected retryDelayUsec = PENDING_RETRY_MIN_USEC;
  protected readonly pendingTimer: UnitTimer;
  protected readonly watch: PortWatch;
  protected readonly usb: UsbActivation;
  /** The running control process chain and what to do when it ends. */
  protected readonly control: ControlSlot;
  /** The unit's timeout (control processes, signals): one at a time. */
  protected readonly timer: UnitTimer;

  constructor(
    config: LoadedUnit,
    protected override readonly host: SocketHost,
  ) {
    super(config, host, "success");
    const c = this.cfg;
    this.connections = new ConnectionTracker(c.maxConnections, c.maxConnectionsPerSource);
    this.timer = new UnitTimer(host.clock);
    this.control = new ControlSlot(host.killer, this.timer);
    this.pendingTimer = new UnitTimer(host.clock);
    this.usb = new UsbActivation(host.usbReadiness, host.ep0, this.log);
    this.watch = new PortWatch(host.watcher, host.clock, {
      listening: () => this.state === "listening",
      pollLimit: () => {
        const l = effectiveLimits(this.cfg);
        return { intervalUsec: l.pollIntervalUsec, burst: l.pollBurst };
      },
      ready: (p, rev) => this.onReady(p, rev),
      limited: (p) => this.log.debug(`Poll limit hit on ${p.port.text}, pausing until the window ends`),
    });
  }

  /** A port is readable (within its poll limit) while listening. */
  protected abstract onReady(p: OpenedPort, revents: number): void;
  /** Stops the socket with this result (a port that waited cannot be opened after all). */
  protected abstract enterStopPre(r: SocketResult): void;

  get cfg(): SocketConfig {
    return this.config.socket!;
  }

  get serviceName(): string {
    return socketServiceName(this.config);
  }

  override facts(): RuntimeFacts {
    const c = this.connections;
    return { socket: { nAccepted: c.nAccepted, nConnections: c.nConnections, nRefused: c.nRefused } };
  }

  override listening(): ListenRow[] {
    const activates = this.cfg.accept ? this.serviceName.replace(/@?\.service$/, "@*.service") : this.serviceName;
    return this.cfg.listen.map((p) => {
      const l = listenInfo(p);
      return {
        listen: l.address,
        type: l.type,
        unit: this.name,
        state: this.state,
        activates,
        accepted: this.connections.nAccepted,
        connections: this.connections.nConnections,
      };
    });
  }

  /** Variables the activated service gets from this socket. */
  serviceEnvironment(): Record<string, string> {
    return this.usb.environment();
  }

  /** What daemon-reexec hands over: the open ports (listening or held by the service) and the counters. */
  override serialize(): SerializedUnit | null {
    if (!this.ports.length || this.activeState() !== "active") return null;
    const data: SerializedSocket = {
      running: this.state === "running",
      ports: this.ports.map(({ port, ...rest }) => ({ ...rest, text: port.text, kind: port.kind })),
      accepted: this.connections.nAccepted,
      refused: this.connections.nRefused,
    };
    return { unit: this.name, data, fds: this.ports.flatMap((p) => [p.fd, ...p.aux]) };
  }

  /** Takes the ports back; a port no longer configured is closed. */
  override deserialize(raw: unknown): string | null {
    const k = raw as SerializedSocket;
    const ports: OpenedPort[] = [];
    const problems: string[] = [];
    for (const sp of k.ports) {
      const port = this.cfg.listen.find((l) => l.kind === sp.kind && l.text === sp.text);
      const { text, kind, ...rest } = sp;
      if (!port) {
        problems.push(`${kind} ${text} is no longer configured; closing it`);
        for (const fd of [sp.fd, ...sp.aux]) this.host.closeFd(fd);
        continue;
      }
      ports.push({ ...rest, port });
    }
    this.adopt(ports, k.running, { accepted: k.accepted, refused: k.refused });
    return problems.length ? `${this.name}: ${problems.join("; ")}` : null;
  }

  /**
   * Takes over ports opened by a previous daemon process (daemon-reexec): the socket is
   * listening again (or running, when its service holds the fds) without having closed them.
   */
  protected adopt(ports: OpenedPort[], serviceRunning: boolean, counters: { accepted: number; refused: number }): void {
    this.ports = ports;
    this.connections.nAccepted = counters.accepted;
    this.connections.nRefused = counters.refused;
    for (const p of ports) if (p.port.kind === "usb-function") this.usb.adopted(p.port.path);
    const to: SocketState = serviceRunning && !this.cfg.accept ? "running" : "listening";
    this.state = to;
    this.stateChangeTime = this.host.clock.now();
    if (to === "listening") this.watch.watch(this.ports);
    this.log.debug(`Adopted ${ports.length} open ports (${to}).`);
    this.host.stateChanged(this, "dead", to);
  }

  protected armPendingRetry(): void {
    this.pendingTimer.arm(this.retryDelayUsec, () => this.retryPending());
    this.retryDelayUsec = Math.min(this.retryDelayUsec * 2, PENDING_RETRY_MAX_USEC);
  }

  override wantsUevents(): boolean {
    return this.pendingPorts.length > 0;
  }

  /** Something appeared (an interface, a module): waiting ports try again. */
  override retryWaiting(): boolean {
    if (this.pendingPorts.length === 0) return false;
    this.retryPending();
    return true;
  }

  /** Tries the waiting ports again (a timer, or a device or module that appeared). */
  protected retryPending(): void {
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
          this.log.error(`Failed to create listening socket: ${errorText(e)}`);
          this.pendingPorts = [];
          return this.enterStopPre("resources");
        }
        still.push(p);
      }
    }
    // The service gets the fds in configuration order, whenever they were opened.
    this.ports.sort((a, b) => this.cfg.listen.indexOf(a.port) - this.cfg.listen.indexOf(b.port));
    this.pendingPorts = still;
    if (this.state === "listening") this.watch.watch(this.ports);
    if (still.length) this.armPendingRetry();
    else this.pendingTimer.cancel();
  }

  /**
   * While held (daemon-reexec waiting for jobs to settle), no connection is taken: the kernel
   * queues them on the listening socket, and the next process (or release) takes them.
   */
  override hold(on: boolean): void {
    this.watch.hold(on);
  }

  protected makeConnection(saved: SavedConnection, releaseSlot: () => void): AcceptedConnection {
    return makeConnection(saved, (fd) => this.host.closeFd(fd), releaseSlot);
  }

  /**
   * A connection an instance of this socket held when the previous daemon process exec'd: it
   * counts against MaxConnections= and MaxConnectionsPerSource= again until the instance ends.
   */
  override reclaimConnection(saved: SavedConnection): AcceptedConnection {
    return this.makeConnection(saved, this.connections.readmit(saved.source));
  }

  /**
   * fds for the service this socket activates: each port's fd, then its auxiliary fds (the
   * FunctionFS endpoints), all with the socket's one name as in systemd, or NAME.ep1... with
   * X-USBEndpointNames=yes.
   */
  override fdsFor(service: string): { fd: number; name: string }[] {
    return !this.cfg.accept && service === this.serviceName && this.ports.length ? this.collectFds() : [];
  }

  /** Variables the activated service gets from this socket. */
  override environmentFor(service: string): Record<string, string> {
    return !this.cfg.accept && service === this.serviceName ? this.serviceEnvironment() : {};
  }

  collectFds(): { fd: number; name: string }[] {
    const name = this.cfg.fileDescriptorName ?? this.name;
    const out: { fd: number; name: string }[] = [];
    for (const p of this.ports) {
      out.push({ fd: p.fd, name });
      p.aux.forEach((a, i) => out.push({ fd: a, name: this.cfg.usbEndpointNames ? `${name}.${p.auxNames?.[i] ?? `ep${i + 1}`}` : name }));
    }
    return out;
  }

  protected runChain(label: string, cmds: readonly ExecCommand[], passFds: boolean, next: (o: ChainOutcome) => void, onTimeout: () => void): void {
    this.dropControl();
    const fds = passFds && this.cfg.passFileDescriptorsToExec ? this.collectFds() : [];
    runControlChain(this.control, this.controlContext, {
      label,
      commands: cmds,
      exec: {
        exec: this.cfg.exec,
        fds: fds.map((f) => f.fd),
        fdNames: fds.map((f) => f.name),
        own: {},
        nonBlocking: false,
        daemonEnv: this.host.daemonEnv,
        managerEnv: this.host.managerEnv,
      },
      next,
      timeoutUsec: this.cfg.timeoutUsec,
      onTimeout: () => {
        this.log.warning(`${label} timed out. Terminating.`);
        onTimeout();
      },
    });
  }

  protected get controlContext(): ControlContext {
    return {
      spawner: this.host.spawner,
      lookups: this.host.lookups,
      log: this.log,
      output: (stream, line, pid) =>
        this.host.logger.emit({ level: stream === "stderr" ? "warning" : "info", source: stream, unit: this.name, message: line, pid }),
    };
  }

  /** Forgets the control process, killing whatever is left of it unless told not to (ControlSlot.drop()). */
  protected dropControl(opts: { kill?: boolean } = {}): void {
    this.timer.cancel();
    this.control.drop(opts);
  }

  /** Closes the ports; the nodes stay when keepNodes (or without RemoveOnStop=). */
  protected closeFds(keepNodes = false): void {
    this.pendingPorts = [];
    this.pendingTimer.cancel();
    if (this.ports.length === 0) return;
    const remove = this.cfg.removeOnStop && !keepNodes;
    for (const p of this.ports) {
      if (p.port.kind === "usb-function") this.usb.closed(p.port.path);
      this.watch.forget(p);
      try {
        closePort(p, remove);
      } catch (e) {
        this.log.warning(`Closing ${p.port.text}: ${errorText(e)}`);
      }
    }
    if (remove) removeSymlinks(this.cfg);
    this.ports = [];
  }
}
