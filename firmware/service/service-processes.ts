/**
 * The processes a service runs and how they are watched: the main process, the control
 * process slot (ExecStartPre=, ExecStop=, ...), the cgroup, the watchdog timer, the fd store,
 * and the environment bunit gives them. The state machine on top is service-unit.ts; it
 * answers onMainExit() and enterWatchdog().
 */
import { UnitTimer } from "../core/unit-timer.ts";
import { errorText } from "../core/errors.ts";
import type { ChainOutcome } from "../exec/command-chain.ts";
import { ControlSlot, runControlChain } from "../exec/control-slot.ts";
import { pumpPipe, type ExitInfo, type SpawnedProcess } from "../exec/spawn.ts";
import type { AcceptedConnection } from "../runtime/connection.ts";
import { UnitRuntime, type RuntimeFacts, type SerializedUnit } from "../runtime/unit-runtime.ts";
import { savedConnection } from "../runtime/connection.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import { effectiveType, type ServiceConfig, type ServiceType } from "../unit/service-config.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { FdStore, fdStoreAnswer } from "./fd-store.ts";
import { EPOLLERR } from "../sys/constants.ts";
import { openServiceFiles, realFileOpener } from "./open-files.ts";
import type { NotifyAccess } from "./notify-message.ts";
import type { NotifyReceiver } from "./notify-receive.ts";
import type { ServiceHost, ServiceSnapshot } from "./service-host.ts";
import type { ServiceResult, ServiceState } from "./service-state.ts";

/** How often a stopping unit looks whether its cgroup is empty yet. */
export const CGROUP_POLL_USEC = 20_000;

export abstract class ServiceProcesses extends UnitRuntime<ServiceState, ServiceResult> {
  state: ServiceState = "dead";
  mainPid: number | null = null;
  mainExit: ExitInfo | null = null;
  nRestarts = 0;
  /** STATUS= from sd_notify. */
  statusText: string | null = null;
  /** The unit's cgroup while it has one. */
  cgroupPath: string | null = null;
  /**
   * The cgroup directory of the last run, kept for the next start (made once, not made and
   * removed per activation: both are costly kernel operations on the activation path); removed
   * when the unit is disposed. An Accept=yes instance runs once: its directory goes at its stop.
   */
  private keptCgroup: string | null = null;
  /** An Accept=yes connection this instance owns from construction; released in dispose(). */
  readonly connection: AcceptedConnection | null;
  readonly fdStore: FdStore;
  protected main: SpawnedProcess | null = null;
  /** The ExecStart= command the main process runs, while bunit spawned it (not an adopted one). */
  protected mainCommand: ExecCommand | null = null;
  protected invocationId = "";
  /** Type=forking found no main PID: with a cgroup, the service runs while processes are left in it. */
  protected mainUnknown = false;
  /** WATCHDOG_USEC= from the service overrides WatchdogSec= until the next start. */
  protected watchdogOverrideUsec: number | null = null;
  protected readonly control: ControlSlot;
  /** The unit's timeout (start, stop, reload): one at a time. */
  protected readonly timer: UnitTimer;
  protected readonly watchdogTimer: UnitTimer;
  protected readonly cgroupPoll: UnitTimer;

  constructor(
    config: LoadedUnit,
    protected override readonly host: ServiceHost,
    connection: AcceptedConnection | null,
  ) {
    super(config, host, "success");
    this.connection = connection;
    this.timer = new UnitTimer(host.clock);
    this.control = new ControlSlot(host.killer, this.timer);
    this.watchdogTimer = new UnitTimer(host.clock);
    this.cgroupPoll = new UnitTimer(host.clock);
    this.fdStore = new FdStore(config.service?.fileDescriptorStoreMax ?? 0, {
      close: (fd) => host.closeFd(fd),
      sameFile: (a, b) => host.sameOpenFile?.(a, b) ?? null,
      watchHangup: (fd, onHangup) => {
        try {
          // No events asked for: epoll reports POLLHUP and POLLERR regardless.
          host.watcher.watch(fd, 0, onHangup);
          return true;
        } catch {
          host.watcher.forget(fd); // EPERM: a regular file cannot be polled (systemd keeps it unwatched)
          return false;
        }
      },
    });
    this.fdStore.onHangup = (e, revents) =>
      this.log.debug(`Received ${revents & EPOLLERR ? "EPOLLERR" : "EPOLLHUP"} on stored fd ${e.fd} (${e.name}), closing.`);
  }

  /** The main process exited (or the adopted one went away). */
  protected abstract onMainExit(proc: SpawnedProcess, e: ExitInfo): void;
  /** The watchdog was not fed in time. */
  protected abstract enterWatchdog(): void;

  get controlPid(): number | null {
    return this.control.current?.chain.pid ?? null;
  }

  /** NotifyAccess=, defaulting to main for Type=notify and with WatchdogSec= (systemd). */
  get notifyAccess(): NotifyAccess {
    return this.cfg.notifyAccess ?? (this.notifyType || this.cfg.watchdogUsec > 0 ? "main" : "none");
  }

  /** Type=notify and Type=notify-reload: started once READY=1 arrives. */
  protected get notifyType(): boolean {
    return this.type === "notify" || this.type === "notify-reload";
  }

  protected get watchdogUsec(): number {
    return this.watchdogOverrideUsec ?? this.cfg.watchdogUsec;
  }

  /**
   * A Type=forking service whose main PID is unknown is good while its cgroup has processes
   * (systemd's service_good(): cgroup_good() when main_pid_known is false).
   */
  protected cgroupStillUsed(): boolean {
    return this.mainUnknown && this.cgroupPath !== null && this.host.cgroups!.populated(this.cgroupPath);
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

  /**
   * Whether pid is one of the service's processes, for a MAINPID= or PID file from someone not
   * root: in its cgroup; without cgroups, in a session one of its processes leads (the exec
   * helper starts each in its own session) or shares.
   */
  belongs(pid: number): boolean {
    if (this.owns(pid)) return true;
    if (this.cgroupPath && this.host.cgroups) return false;
    const sid = this.host.probe.session(pid);
    if (sid === null) return false;
    return this.pids().some((p) => p === sid || this.host.probe.session(p) === sid);
  }

  get cfg(): ServiceConfig {
    return this.config.service!;
  }

  get type(): ServiceType {
    const t = effectiveType(this.cfg);
    return t === "dbus" || t === "idle" ? "simple" : t;
  }

  override cgroup(): string | null {
    return this.cgroupPath;
  }

  override storedFds(): readonly { fd: number; name: string }[] | string {
    return fdStoreAnswer(this.name, this.fdStore.max, this.fdStore.list());
  }

  override facts(): RuntimeFacts {
    return {
      service: {
        mainPid: this.mainPid,
        controlPid: this.controlPid,
        nRestarts: this.nRestarts,
        statusText: this.statusText,
        invocationId: this.invocationId,
        execMain: this.mainExit,
        cgroup: this.cgroupPath,
        tasks: this.tasks(),
        fdStore: this.fdStore.names(),
      },
    };
  }

  protected fdsForMain(): { fds: number[]; names: string[]; connection?: number; own: Record<string, string> } {
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

  /** OpenFile= for the main process (not an Accept=yes instance: its one fd is the connection); null when one cannot be opened. */
  protected openFilesForMain(): { fd: number; name: string }[] | null {
    if (this.connection || this.cfg.openFiles.length === 0) return [];
    try {
      return openServiceFiles(this.cfg.openFiles, this.host.fileOpener ?? realFileOpener, this.log, (fd) => this.host.closeFd(fd));
    } catch (e) {
      this.log.error(`Failed to run 'start' task: ${errorText(e)}`);
      return null;
    }
  }

  protected output(stream: "stdout" | "stderr", line: string, pid: number): void {
    this.host.logger.emit({ level: stream === "stderr" ? "warning" : "info", source: stream, unit: this.name, message: line, pid });
  }

  protected signalTargets(targets: { pid: number; group: boolean }[], sig: number, wholeCgroup: boolean): void {
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
  protected whenEmpty(next: () => void): void {
    if (this.cgroupPath !== null && this.cfg.kill.killMode === "control-group") return this.afterCgroupEmpty(next, CGROUP_POLL_USEC);
    this.cgroupPoll.cancel();
    next();
  }

  /**
   * Runs next once the unit's cgroup is empty, looking every everyUsec; gives up when the
   * state changes or `still` turns false meanwhile.
   */
  protected afterCgroupEmpty(next: () => void, everyUsec: number, still: () => boolean = () => true): void {
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

  protected setMain(proc: SpawnedProcess, command: ExecCommand | null = null): void {
    this.main = proc;
    this.mainCommand = command;
    this.mainPid = proc.pid;
    void proc.exited.then((e) => this.onMainExit(proc, e));
  }

  /** Takes a process bunit did not spawn as the main process (Type=forking, MAINPID=, daemon-reexec). */
  adoptMain(pid: number): void {
    this.setMain(this.host.processes.watch(pid));
  }

  protected enterCgroup(): void {
    const tree = this.host.cgroups;
    if (!tree) return;
    if (this.keptCgroup) {
      this.cgroupPath = this.keptCgroup;
      this.keptCgroup = null;
      return;
    }
    try {
      this.cgroupPath = tree.unitPath(this.name);
    } catch (e) {
      this.log.warning(`Failed to create cgroup, tracking by process group: ${errorText(e)}`);
      this.cgroupPath = null;
    }
  }

  protected leaveCgroup(): void {
    if (this.cgroupPath && this.host.cgroups) {
      if (this.connection) this.host.cgroups.remove(this.cgroupPath);
      else this.keptCgroup = this.cgroupPath;
    }
    this.cgroupPath = null;
  }

  /** $NOTIFY_SOCKET, and $FDSTORE (the store's size) when the service has a file descriptor store, as systemd >= 254 sets it. */
  protected notifyEnv(): Record<string, string> {
    const env: Record<string, string> = this.notifyAccess !== "none" && this.host.notifySocket ? { NOTIFY_SOCKET: this.host.notifySocket } : {};
    if (this.fdStore.max > 0) env.FDSTORE = String(this.fdStore.max);
    return env;
  }

  protected armWatchdog(): void {
    const usec = this.watchdogUsec;
    if (usec <= 0 || !this.main) return this.watchdogTimer.cancel();
    this.watchdogTimer.arm(usec, () => {
      this.log.error(`Watchdog timeout (limit ${usec / 1e6}s)!`);
      this.enterWatchdog();
    });
  }

  /** What daemon-reexec hands to the next daemon about this service. */
  snapshot(): ServiceSnapshot {
    return {
      unit: this.name,
      sub: this.state,
      result: this.result,
      mainPid: this.mainPid,
      nRestarts: this.nRestarts,
      statusText: this.statusText,
      cgroupPath: this.cgroupPath,
      invocationId: this.invocationId,
      fdStore: this.fdStore.list().map((e) => ({ ...e })),
      logFds: this.main?.logFds ?? {},
    };
  }

  /** What a notify message may touch of this service (see notify-receive.ts). */
  protected notifyReceiverOf(): NotifyReceiver {
    const svc = this;
    return {
      get notifyAccess() {
        return svc.notifyAccess;
      },
      get mainPid() {
        return svc.mainPid;
      },
      get controlPid() {
        return svc.controlPid;
      },
      get fdStore() {
        return svc.fdStore;
      },
      get log() {
        return svc.log;
      },
      get stateName() {
        return svc.state;
      },
      owns: (pid) => this.owns(pid),
      belongs: (pid) => this.belongs(pid),
      exists: (pid) => this.host.probe.exists(pid),
      daemonPid: this.host.probe.self,
      closeFd: (fd) => this.host.closeFd(fd),
      setStatus: (text) => void (this.statusText = text),
      adoptMain: (pid) => this.adoptMain(pid),
      overrideWatchdog: (usec) => {
        this.watchdogOverrideUsec = usec;
        this.armWatchdog();
      },
      extendTimeout: (usec) => this.timer.extend(usec),
    };
  }

  protected runChain(
    label: string,
    cmds: readonly ExecCommand[],
    next: (o: ChainOutcome) => void,
    timeoutUsec: number,
    onTimeout: () => void,
    asMain?: { fds: number[]; names: string[]; connection?: number; own: Record<string, string>; main: true },
  ): void {
    const own: Record<string, string> = { ...this.notifyEnv(), INVOCATION_ID: this.invocationId, ...(asMain?.own ?? {}) };
    if (this.mainPid !== null) own.MAINPID = String(this.mainPid);
    // ExecStop= and ExecStopPost= always learn the result; the main exit only when there was one
    // (systemd's EXEC_SETENV_RESULT).
    const stopping = label === "ExecStop" || label === "ExecStopPost";
    if (stopping) own.SERVICE_RESULT = this.result;
    if (stopping && this.mainExit) {
      own.EXIT_CODE = this.mainExit.signal !== null ? "killed" : "exited";
      own.EXIT_STATUS = this.mainExit.signal !== null ? String(this.mainExit.signal) : String(this.mainExit.code);
    }
    runControlChain(
      this.control,
      { spawner: this.host.spawner, lookups: this.host.lookups, log: this.log, output: (stream, line, pid) => this.output(stream, line, pid) },
      {
        label,
        commands: cmds,
        exec: {
          exec: this.cfg.exec,
          fds: asMain?.fds ?? [],
          fdNames: asMain?.names ?? [],
          connectionFd: asMain?.connection ?? this.connectionForControl(),
          own,
          nonBlocking: this.cfg.nonBlocking,
          daemonEnv: this.host.daemonEnv,
          managerEnv: this.host.managerEnv,
          ...(this.cgroupPath ? { cgroup: this.cgroupPath } : {}),
        },
        next,
        timeoutUsec,
        onTimeout,
      },
    );
  }

  /**
   * An Accept=yes instance's connection for its control commands (ExecStartPre=, ExecStop=, ...),
   * where StandardInput=, StandardOutput= or StandardError= is socket: they use it as systemd's do.
   */
  private connectionForControl(): number | undefined {
    if (!this.connection) return undefined;
    const e = this.cfg.exec;
    const socket = [e.standardInput, e.standardOutput, e.standardError].some((x) => x?.kind === "socket");
    return socket ? this.connection.fd : undefined;
  }

  protected dropControl(): void {
    this.control.drop();
  }

  /** PIDs bunit tracks for this service (main and control). */
  override pids(): number[] {
    return [this.main?.pid, this.control.current?.chain.pid].filter((p): p is number => typeof p === "number");
  }

  // ---- daemon-reexec ----------------------------------------------------------------------------

  /**
   * What daemon-reexec hands to the next process: a running service (or one with a preserved
   * fd store), an Accept=yes instance with its connection, or a pending automatic restart.
   */
  override serialize(): SerializedUnit | null {
    if (this.state === "auto-restart") return { unit: this.name, data: { restart: true }, fds: [] };
    const active = this.activeState() === "active";
    if (this.connection) return active ? { ...this.serializedState(), connection: savedConnection(this.connection) } : null;
    return active || this.fdStore.size ? this.serializedState() : null;
  }

  protected serializedState(): SerializedUnit {
    const snap = this.snapshot();
    const fds = snap.fdStore.map((e) => e.fd);
    if (snap.logFds.stdout !== undefined) fds.push(snap.logFds.stdout);
    if (snap.logFds.stderr !== undefined) fds.push(snap.logFds.stderr);
    return { unit: this.name, data: snap, fds };
  }

  override deserialize(data: unknown): string | null {
    if ((data as { restart?: boolean }).restart) {
      this.host.requestStart(this.name, "automatic restart (carried over daemon-reexec)");
      return null;
    }
    this.adopt(data as ServiceSnapshot);
    return null;
  }

  /** Continues a service the previous daemon process ran (daemon-reexec). */
  protected adopt(s: ServiceSnapshot): void {
    this.nRestarts = s.nRestarts;
    this.statusText = s.statusText;
    this.cgroupPath = s.cgroupPath;
    this.invocationId = s.invocationId;
    this.result = s.result;
    // Oldest first, so that the store's order (newest first) is what it was.
    for (const e of [...s.fdStore].reverse()) this.fdStore.add(e.name, [e.fd], e.poll ?? true);
    if (s.sub !== "running" && s.sub !== "exited") return; // only its preserved fd store
    if (s.mainPid !== null) {
      const pid = s.mainPid;
      const out = (stream: "stdout" | "stderr") => (line: string) => this.output(stream, line, pid);
      if (s.logFds.stdout !== undefined) void pumpPipe(s.logFds.stdout, out("stdout"));
      if (s.logFds.stderr !== undefined) void pumpPipe(s.logFds.stderr, out("stderr"));
      this.setMain({ ...this.host.processes.watch(pid), logFds: s.logFds });
    }
    this.state = s.sub === "exited" ? "exited" : "running";
    this.stateChangeTime = this.host.clock.now();
    this.armWatchdog();
    this.log.debug(`Adopted (${this.state}${s.mainPid !== null ? `, main PID ${s.mainPid}` : ""}).`);
    this.host.stateChanged(this, "dead", this.state);
  }

  override dispose(): void {
    this.timer.cancel();
    this.watchdogTimer.cancel();
    this.cgroupPoll.cancel();
    this.fdStore.clear();
    this.dropControl();
    this.connection?.release();
    if (this.keptCgroup && this.host.cgroups) this.host.cgroups.remove(this.keptCgroup);
    this.keptCgroup = null;
  }
}
