import { realClock, type Clock } from "../core/clock.ts";
import type { Logger } from "../core/log.ts";
import type { SystemLookups } from "../exec/exec-spec.ts";
import type { SavedConnection, SerializedUnit, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import type { ProcessKiller } from "../exec/process-killer.ts";
import * as n from "../native.ts";
import { ProgramSpawner, type ProcessSpawner } from "../exec/spawn.ts";
import type { CgroupTree } from "../exec/cgroup.ts";
import { ProcessWatcher, realProcessProbe, type ProcessProbe } from "../exec/process-watch.ts";
import { FunctionReadiness } from "../usb/function-readiness.ts";
import { kernelEp0Io, type Ep0Io } from "../usb/ep0-reader.ts";
import { childPids } from "./reaper.ts";
import type { ServiceRef } from "../service/service-host.ts";
import { DeviceWatch } from "./device-watch.ts";
import { devicePathsOf } from "./device-unit.ts";
import type { AcceptedConnection } from "../runtime/connection.ts";
import { createInstance, unitType, type ManagerHost } from "./unit-types.ts";
import type { ConditionEnv } from "../unit/conditions.ts";
import { formatDiagnostic } from "../unit/diagnostics.ts";
import type { HostFacts } from "../unit/specifiers.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { UnitLoader } from "../unit/unit-loader.ts";
import { instantiate, parseUnitName } from "../unit/unit-name.ts";
import { socketServiceName } from "../unit/socket-relations.ts";
import { DEFAULT_PATH } from "../exec/environment.ts";
import type { JobEngine, JobResult, JobType } from "./job-engine.ts";
import { managerJobEngine } from "./manager-jobs.ts";
import type { ReloadReport } from "../control/handlers.ts";
import { reloadUnitFiles } from "./unit-file-reload.ts";
import { unitOfPid } from "./unit-of-pid.ts";
import { conditionEnv as realConditionEnv, processKiller, systemLookups } from "./system.ts";
import { computeTriggeredBy, dependenciesOf, triggerView, type Deps, type GraphContext, type TriggerView } from "./unit-graph.ts";
import { installedDependencies } from "./install-graph.ts";
import { DependencyReactions } from "./dependency-reactions.ts";
import { ReverseDeps, type DepKind } from "./reverse-deps.ts";
import { errorText } from "../core/errors.ts";

export interface ManagerOptions {
  unitPath: string[];
  logger: Logger;
  host: HostFacts;
  clock?: Clock;
  spawner?: ProcessSpawner;
  lookups?: SystemLookups;
  killer?: ProcessKiller;
  watcher?: FdWatch;
  processes?: ProcessWatcher;
  probe?: ProcessProbe;
  /** FunctionFS readiness shared with the gadget composer (commands/daemon.ts). */
  usbReadiness?: FunctionReadiness;
  ep0?: Ep0Io;
  conditionEnv?: ConditionEnv;
  dirs?: ManagerHost["dirs"];
  managerEnv?: Record<string, string>;
  daemonEnv?: Record<string, string | undefined>;
  /** Path of the daemon's $NOTIFY_SOCKET (bound by the daemon, not by the manager). */
  notifySocket?: string | null;
  cgroups?: CgroupTree | null;
}

const INACTIVE = new Set(["inactive", "failed"]);

export class Manager implements ManagerHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly spawner: ProcessSpawner;
  readonly lookups: SystemLookups;
  readonly killer: ProcessKiller;
  readonly watcher: FdWatch;
  readonly processes: ProcessWatcher;
  readonly probe: ProcessProbe;
  readonly usbReadiness: FunctionReadiness;
  readonly ep0: Ep0Io;
  readonly conditionEnv: ConditionEnv;
  readonly dirs: ManagerHost["dirs"];
  readonly managerEnv: Record<string, string>;
  readonly daemonEnv: Record<string, string | undefined>;
  readonly notifySocket: string | null;
  readonly cgroups: CgroupTree | null;
  readonly loader: UnitLoader;
  readonly jobs: JobEngine;
  private units = new Map<string, UnitRuntime>();
  /** Active units whose unit file daemon-reload found gone: kept until they stop. */
  private readonly filesGone = new Set<string>();
  /** BindsTo=, OnFailure=, Upholds=, StopWhenUnneeded=, RefuseManual*=, reload propagation. */
  private readonly reactions: DependencyReactions;
  /** uevents: device units follow their devices; sockets waiting for one try again. */
  private readonly devices: DeviceWatch;
  private retryWaiting(why: string): void {
    for (const u of [...this.units.values()]) if (u.retryWaiting()) this.logger.debug(`${why}, retried waiting ports`, u.name);
  }

  /** A device appeared: what it Wants (WantedBy=the device) starts. */
  private deviceAppeared(u: UnitRuntime): void {
    void this.enqueue(u.name, "start", "device appeared");
  }
  private graph: GraphContext;
  private depsCache = new Map<string, Deps>();
  /** Who names whom, over the loaded units (this.units). */
  private readonly reverse = new ReverseDeps(
    (name) => this.deps(name),
    () => this.units.keys(),
  );
  private refused = new Set<string>();

  constructor(opts: ManagerOptions) {
    this.clock = opts.clock ?? realClock;
    this.logger = opts.logger;
    this.watcher = opts.watcher ?? n.fdWatcher();
    this.processes = opts.processes ?? new ProcessWatcher(this.watcher);
    this.probe = opts.probe ?? realProcessProbe;
    this.spawner = opts.spawner ?? new ProgramSpawner(this.processes);
    this.lookups = opts.lookups ?? systemLookups;
    this.killer = opts.killer ?? processKiller;
    this.conditionEnv = opts.conditionEnv ?? realConditionEnv;
    this.dirs = opts.dirs ?? { runtime: "/run", state: "/var/lib", cache: "/var/cache", logs: "/var/log", config: "/etc" };
    this.managerEnv = opts.managerEnv ?? { PATH: DEFAULT_PATH };
    this.daemonEnv = opts.daemonEnv ?? process.env;
    this.notifySocket = opts.notifySocket ?? null;
    this.cgroups = opts.cgroups ?? null;
    this.usbReadiness = opts.usbReadiness ?? new FunctionReadiness();
    this.ep0 = opts.ep0 ?? kernelEp0Io;
    this.devices = new DeviceWatch(
      (ev) => {
        const paths = devicePathsOf(ev);
        for (const u of [...this.units.values()]) if (u.deviceEvent(paths, ev.action)) this.deviceAppeared(u);
        if (ev.action === "add" && (ev.subsystem === "net" || ev.subsystem === "module")) this.retryWaiting(`${ev.subsystem} ${ev.devpath} appeared`);
      },
      () => {
        for (const u of [...this.units.values()]) if (u.deviceRescan()) this.deviceAppeared(u);
        this.retryWaiting("rescan");
      },
      { debug: (m) => this.logger.debug(m), warning: (m) => this.logger.warning(m) },
      this.watcher,
    );
    this.reactions = new DependencyReactions({
      units: () => this.units.values(),
      get: (name) => this.units.get(name),
      deps: (name) => this.deps(name),
      dependents: (kind, name) => this.dependents(kind, name),
      hasJob: (name, type) => this.jobs.has(name, type),
      enqueue: (name, type, reason) => this.enqueue(name, type, reason),
      log: { info: (m, unit) => this.logger.info(m, unit), error: (m, unit) => this.logger.error(m, unit) },
    });
    this.loader = new UnitLoader(opts.unitPath, opts.host);
    this.graph = this.buildGraph();
    this.jobs = managerJobEngine({
      unit: (name) => this.unit(name),
      deps: (name) => this.deps(name),
      dependents: (kind, name) => this.dependents(kind, name),
      logger: this.logger,
    });
  }

  private buildGraph(): GraphContext {
    const names = this.loader.listNames();
    const load = (x: string) => this.loadedUnit(x);
    return {
      load,
      installed: installedDependencies(names, load, this.loader.searchPath),
      triggeredBy: computeTriggeredBy(
        names.filter((x) => x.endsWith(".socket") && !x.includes("@.")),
        load,
      ),
    };
  }

  /** The configuration of a unit; built-in targets exist even without a file. */
  loadedUnit(name: string): LoadedUnit {
    return this.loader.load(name);
  }

  deps(name: string): Deps {
    let d = this.depsCache.get(name);
    if (!d) {
      d = dependenciesOf(this.loadedUnit(name), this.graph);
      this.depsCache.set(name, d);
    }
    return d;
  }

  /** The loaded units naming name in their kind= dependency. */
  dependents(kind: DepKind, name: string): ReadonlySet<string> {
    return this.reverse.of(kind, name);
  }

  // ---- UnitHost -----------------------------------------------------------------------------

  unit(name: string): UnitRuntime | null {
    const existing = this.units.get(name);
    if (existing) return existing;
    const id = parseUnitName(name);
    if (!id || id.instance === "") return null;
    const cfg = this.loadedUnit(name);
    if (cfg.name !== name) return this.unit(cfg.name);
    const type = unitType(id.type);
    if (!type) return null;
    let u: UnitRuntime | null = null;
    if (cfg.loadState === "not-found") {
      if (type.existsWithoutFile(name)) u = type.create(cfg, this);
    } else if (cfg.loadState === "loaded") {
      const errors = type.verify(cfg).filter((d) => d.level === "error");
      if (errors.length) this.refuse(name, errors.map(formatDiagnostic));
      else u = type.create(cfg, this);
    } else if (cfg.loadState === "bad-setting") {
      this.refuse(name, cfg.diagnostics.filter((d) => d.level === "error").map(formatDiagnostic));
    }
    if (u) {
      for (const d of cfg.diagnostics) if (d.level === "warning") this.logger.warning(formatDiagnostic(d), name);
      this.setUnit(name, u);
      if (u.wantsUevents()) this.devices.ensure();
    }
    return u;
  }

  private refuse(name: string, lines: string[]): void {
    if (this.refused.has(name)) return;
    this.refused.add(name);
    for (const l of lines) this.logger.error(l, name);
    this.logger.error("Unit configuration has fatal error, unit will not be started.", name);
  }

  loadedUnits(): UnitRuntime[] {
    return [...this.units.values()];
  }

  /**
   * A unit as the control interface looks it up: the running one (by name or alias), else its
   * configuration read without keeping anything. Looking up made-up names creates nothing.
   */
  lookup(name: string): { rt: UnitRuntime | null; cfg: LoadedUnit } {
    const rt = this.units.get(name) ?? null;
    if (rt) return { rt, cfg: rt.config };
    const cfg = this.loader.peek(name);
    const alias = cfg.name !== name ? (this.units.get(cfg.name) ?? null) : null;
    return { rt: alias, cfg: alias?.config ?? cfg };
  }

  requestStart(name: string, reason: string): boolean {
    try {
      void this.jobs.enqueue(name, "start", reason);
      return true;
    } catch (e) {
      this.logger.error(`Failed to queue start of ${name}: ${errorText(e)}`);
      return false;
    }
  }

  hasJob(name: string): boolean {
    return name === "*" ? this.jobs.size > 0 : this.jobs.has(name);
  }

  hasStopJob(name: string): boolean {
    return this.jobs.has(name, "stop");
  }

  stateChanged(u: UnitRuntime, from: string, to: string): void {
    this.jobs.check(u.name);
    if (u.wantsUevents()) this.devices.ensure();
    const active = u.activeState();
    for (const t of this.triggering(u.name)) t.triggeredUnitChanged(u);
    if (INACTIVE.has(active)) for (const other of [...this.units.values()]) other.unitStopped();
    this.reactions.stateChanged(u, from, to);
    if (INACTIVE.has(active) && this.filesGone.has(u.name)) this.collect(u, () => this.filesGone.delete(u.name));
  }

  closeFd(fd: number): void {
    try {
      n.close(fd);
    } catch {
      /* already closed */
    }
  }

  sameOpenFile(a: number, b: number): boolean | null {
    return n.sameOpenFile(a, b);
  }

  orphanChildren(): number[] {
    return childPids().filter((pid) => !this.processes.has(pid));
  }

  /**
   * A datagram on $NOTIFY_SOCKET; false when no unit owns the sender (the notify socket logs
   * that, rate-limited: a flood of strangers must not wipe the log ring).
   */
  notify(sender: { pid: number; uid?: number }, text: string, fds: number[]): boolean {
    const svc = unitOfPid(sender.pid, [...this.units.values()], this.cgroups !== null);
    if (!svc) {
      for (const fd of fds) this.closeFd(fd);
      return false;
    }
    svc.notify(sender.pid, text, fds, sender.uid);
    return true;
  }

  /** `reload UNIT`: ExecReload= of a running service, propagated (PropagatesReloadTo=, ReloadPropagatedFrom=). */
  reloadUnit(name: string, propagate = true): Promise<JobResult> {
    const u = this.unit(name);
    if (!u) {
      this.logger.error(`Unit ${name} not found.`, name);
      return Promise.resolve("failed");
    }
    if (propagate) {
      for (const t of this.reactions.reloadTargets(name)) {
        const other = this.units.get(t);
        if (other && other.activeState() === "active" && other.canReload() === null) void this.reloadUnit(t, false);
      }
    }
    return new Promise((resolve) => u.reload((ok) => resolve(ok ? "done" : "failed")));
  }

  // ---- sockets and services -------------------------------------------------------------------

  /**
   * Units that trigger this one (its sockets: TriggeredBy= from the graph, and Sockets=), loaded
   * when needed, running or not.
   */
  private triggering(name: string, sockets: readonly string[] = this.units.get(name)?.config.service?.sockets ?? []): UnitRuntime[] {
    const names = new Set<string>(this.graph.triggeredBy.get(name) ?? []);
    for (const s of sockets) names.add(s);
    const out: UnitRuntime[] = [];
    for (const nm of names) {
      const u = this.units.get(nm) ?? this.unit(nm);
      if (u) out.push(u);
    }
    return out;
  }

  socketFds(service: ServiceRef): { fd: number; name: string }[] {
    // Sockets= order first, then the others by name (systemd leaves the order unspecified).
    const listed = service.cfg.sockets;
    const units = this.triggering(service.name, listed).sort((a, b) => {
      const ia = listed.indexOf(a.name),
        ib = listed.indexOf(b.name);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
      return a.name < b.name ? -1 : 1;
    });
    return units.flatMap((u) => u.fdsFor(service.name));
  }

  socketEnvironment(service: ServiceRef): Record<string, string> {
    return Object.assign({}, ...this.triggering(service.name, service.cfg.sockets).map((u) => u.environmentFor(service.name)));
  }

  startAcceptedInstance(socket: UnitRuntime, instance: string, conn: AcceptedConnection): boolean {
    const name = instantiate(socketServiceName(socket.config), instance);
    if (!this.instanceUnit(name, conn)) return false;
    try {
      void this.jobs.enqueue(name, "start", `connection on ${socket.name}`);
    } catch {
      this.dropUnit(name);
      return false;
    }
    return true;
  }

  /**
   * An Accept=yes instance the previous daemon process started (daemon-reexec): its socket
   * takes the connection back, the instance continues from its serialized state.
   */
  adoptAcceptedInstance(s: SerializedUnit & { connection: SavedConnection }): string | null {
    const sock = this.unit(s.connection.socket);
    const conn = sock?.reclaimConnection(s.connection) ?? null;
    if (!conn) {
      this.closeFd(s.connection.fd);
      return `${s.unit}: ${s.connection.socket} is not a loadable socket any more; the instance runs on unsupervised`;
    }
    const svc = this.instanceUnit(s.unit, conn);
    if (!svc) {
      conn.release();
      return `${s.unit}: its template cannot be loaded any more; the instance runs on unsupervised`;
    }
    return svc.deserialize(s.data);
  }

  /** The service unit of one Accept=yes connection, loaded fresh from its template; it owns the connection. */
  private instanceUnit(name: string, conn: AcceptedConnection): UnitRuntime | null {
    const cfg = this.loader.load(name);
    this.loader.forget(name);
    if (cfg.loadState !== "loaded" || !cfg.service) {
      this.logger.error(`Failed to load ${name}: ${cfg.loadState}`, conn.socket);
      return null;
    }
    const instanceCfg = { ...cfg, unit: { ...cfg.unit, description: `${cfg.unit.description ?? name} (${conn.description})` } };
    const svc = createInstance(instanceCfg, this, conn);
    // Its deps from this configuration: asking the loader again would read the file again and keep it.
    this.depsCache.set(name, dependenciesOf(instanceCfg, this.graph));
    this.setUnit(name, svc);
    return svc;
  }

  /** Holds (or releases) every socket: connections wait in the kernel meanwhile. */
  holdActivation(on: boolean): void {
    for (const u of this.units.values()) u.hold(on);
  }

  instanceFinished(service: UnitRuntime): void {
    this.collect(service);
  }

  /** Whether daemon-reload found this running unit's file gone (it runs on until it stops; NeedDaemonReload-like). */
  unitFileGone(name: string): boolean {
    return this.filesGone.has(name);
  }

  /** Forgets a stopped unit once its job bookkeeping is over. */
  private collect(u: UnitRuntime, then: () => void = () => {}): void {
    queueMicrotask(() => {
      if (this.units.get(u.name) !== u || this.jobs.has(u.name) || !INACTIVE.has(u.activeState())) return;
      this.forget(u);
      then();
    });
  }

  /** Removes a unit: dispose() releases what it holds. */
  private forget(u: UnitRuntime): void {
    u.dispose();
    this.dropUnit(u.name);
  }

  private setUnit(name: string, u: UnitRuntime): void {
    this.units.set(name, u);
    this.reverse.add(name);
  }

  private dropUnit(name: string): void {
    this.units.delete(name);
    this.reverse.remove(name);
    this.depsCache.delete(name);
  }

  startWouldConflict(serviceName: string): boolean {
    return this.reactions.conflictsWithActive(serviceName);
  }

  // ---- control --------------------------------------------------------------------------------

  enqueue(name: string, type: JobType, reason: string): Promise<JobResult> {
    try {
      return this.jobs.enqueue(name, type, reason);
    } catch (e) {
      this.logger.error(errorText(e), name);
      return Promise.resolve("failed");
    }
  }

  /** Runs fn's start()/stop()/restart() calls as one transaction: every job is queued before any runs, so After=/Before= between them apply. */
  batch<T>(fn: () => T): T {
    return this.jobs.batch(fn);
  }

  /** A start asked for by hand (the control interface): RefuseManualStart= applies. */
  start(name: string): Promise<JobResult> {
    return this.manual(name, "start") ?? this.enqueue(name, "start", "requested");
  }

  /** A stop asked for by hand: RefuseManualStop= applies. */
  stop(name: string): Promise<JobResult> {
    return this.manual(name, "stop") ?? this.enqueue(name, "stop", "requested");
  }

  /** Stop and start; the units the stop took with it (Requires=, BindsTo=, PartOf=) start again. */
  async restart(name: string): Promise<JobResult> {
    const refused = this.manual(name, "stop") ?? this.manual(name, "start");
    if (refused) return refused;
    // Active and activating ones, as systemd's restart propagates (a try-restart: inactive ones stay so).
    const dependents = this.reactions
      .stopDependents(name)
      .filter((d) => ["active", "activating", "reloading"].includes(this.units.get(d)?.activeState() ?? ""));
    const r = await this.enqueue(name, "stop", "restart");
    if (r !== "done") return r;
    return this.jobs.batch(() => {
      const started = this.enqueue(name, "start", "restart");
      for (const d of dependents) void this.enqueue(d, "start", `restarted with ${name}`);
      return started;
    });
  }

  private manual(name: string, type: JobType): Promise<JobResult> | null {
    const why = this.reactions.manualRefusal(this.loadedUnit(name).unit, type);
    if (!why) return null;
    this.logger.error(why, name);
    return Promise.resolve("failed");
  }

  /** Starts default.target (which pulls in every enabled unit). */
  boot(target = "default.target"): Promise<JobResult> {
    // Devices that units want (WantedBy=x.device): present ones start their wants now
    // (coldplug), absent ones are watched and start them when they appear.
    // Wanted through [Install] before presets were applied, or through enablement links after.
    const devices = new Set([...this.graph.installed.wants.keys(), ...this.loader.namesWithDependencyDirs()]);
    for (const name of devices) {
      if (!name.endsWith(".device")) continue;
      if (this.unit(name)?.presentAtBoot()) void this.enqueue(name, "start", "device present at start");
    }
    return this.enqueue(target, "start", "boot");
  }

  /** Stops every unit, sockets last, and waits (at most timeoutUsec). */
  async shutdown(timeoutUsec = 90e6): Promise<void> {
    this.jobs.cancelAll();
    this.devices.close();
    const waits: Promise<JobResult>[] = [];
    for (const u of [...this.units.values()]) {
      if (!INACTIVE.has(u.activeState())) waits.push(this.enqueue(u.name, "stop", "shutdown"));
    }
    let timedOut = false;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => this.clock.setTimer(timeoutUsec, () => ((timedOut = true), r())))]);
    if (timedOut) this.logger.warning("Shutdown timed out; forcing.");
    for (const u of [...this.units.values()]) {
      u.dispose();
      this.dropUnit(u.name);
    }
  }

  /** Which units a unit triggers and is triggered by (sockets and their services). */
  graphOf(): TriggerView {
    return triggerView((name) => this.loadedUnit(name), this.graph.triggeredBy);
  }

  /** daemon-reload: reads every unit file again (see unit-file-reload.ts). */
  reloadUnits(): ReloadReport {
    return reloadUnitFiles({
      listNames: () => this.loader.listNames(),
      running: () => [...this.units.values()].filter((u) => u.followsUnitFile()),
      reread: () => {
        this.loader.clear();
        this.depsCache.clear();
        this.reverse.invalidate();
        this.refused.clear();
        this.graph = this.buildGraph();
      },
      loadedUnit: (name) => this.loadedUnit(name),
      pin: (name, cfg) => this.loader.pin(name, cfg),
      current: (name) => this.units.get(name),
      enqueue: (name, type, reason) => this.enqueue(name, type, reason),
      forget: (u) => this.forget(u),
      filesGone: this.filesGone,
      logger: this.logger,
    });
  }
}
