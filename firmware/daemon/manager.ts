/**
 * The manager: owns the running units, their jobs and the relations between them (which
 * sockets activate which service, Accept=yes instances), and answers the units' requests.
 */
import { readFileSync } from "node:fs";
import { realClock, type Clock } from "../core/clock.ts";
import type { Logger } from "../core/log.ts";
import type { SystemLookups } from "../core/exec-spec.ts";
import type { FdWatch, ProcessKiller, UnitRuntime } from "../core/unit-runtime.ts";
import * as n from "../native.ts";
import { HelperSpawner, type ProcessSpawner } from "../service/spawn.ts";
import type { CgroupTree } from "../service/cgroup.ts";
import { watchedPids } from "../service/process-watch.ts";
import { childPids, parseStat } from "./reaper.ts";
import { ServiceUnit, type ServiceHost, type ServiceSnapshot } from "../service/service-unit.ts";
import { DeviceWatch } from "./device-watch.ts";
import { DeviceUnit, devicePathsOf, devicePresent } from "./device-unit.ts";
import { SocketUnit, type AcceptedConnection, type SocketHost } from "../socket/socket-unit.ts";
import type { ConditionEnv } from "../unit/conditions.ts";
import { formatDiagnostic } from "../unit/diagnostics.ts";
import type { HostFacts } from "../unit/specifiers.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { UnitLoader } from "../unit/unit-loader.ts";
import { instantiate, parseUnitName } from "../unit/unit-name.ts";
import { socketServiceName, verifyService, verifySocket } from "../unit/unit-verify.ts";
import { DEFAULT_PATH } from "../service/environment.ts";
import { JobEngine, type JobResult, type JobType } from "./job-engine.ts";
import type { ReloadReport } from "../control/handlers.ts";
import { configChange } from "./config-change.ts";
import { conditionEnv as realConditionEnv, processKiller, systemLookups } from "./system.ts";
import { TargetUnit } from "./target-unit.ts";
import { BUILTIN_TARGETS, computeTriggeredBy, dependenciesOf, installedDependencies, type Deps, type GraphContext } from "./unit-graph.ts";

export interface ManagerOptions {
  unitPath: string[];
  logger: Logger;
  host: HostFacts;
  clock?: Clock;
  spawner?: ProcessSpawner;
  lookups?: SystemLookups;
  killer?: ProcessKiller;
  watcher?: FdWatch;
  conditionEnv?: ConditionEnv;
  dirs?: ServiceHost["dirs"];
  managerEnv?: Record<string, string>;
  daemonEnv?: Record<string, string | undefined>;
  /** Path of the daemon's $NOTIFY_SOCKET (bound by the daemon, not by the manager). */
  notifySocket?: string | null;
  cgroups?: CgroupTree | null;
}

const INACTIVE = new Set(["inactive", "failed"]);

export class Manager implements SocketHost, ServiceHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly spawner: ProcessSpawner;
  readonly lookups: SystemLookups;
  readonly killer: ProcessKiller;
  readonly watcher: FdWatch;
  readonly conditionEnv: ConditionEnv;
  readonly dirs: ServiceHost["dirs"];
  readonly managerEnv: Record<string, string>;
  readonly daemonEnv: Record<string, string | undefined>;
  readonly notifySocket: string | null;
  readonly cgroups: CgroupTree | null;
  readonly loader: UnitLoader;
  readonly jobs: JobEngine;
  private units = new Map<string, UnitRuntime>();
  /** uevents: device units follow their devices; sockets waiting for one try again. */
  private readonly devices = new DeviceWatch(
    (ev) => {
      const paths = devicePathsOf(ev);
      for (const u of this.units.values()) {
        if (u instanceof DeviceUnit && paths.includes(u.path)) this.deviceChanged(u, ev.action);
      }
      if (ev.action === "add" && (ev.subsystem === "net" || ev.subsystem === "module")) this.retryWaitingSockets(`${ev.subsystem} ${ev.devpath} appeared`);
    },
    () => {
      for (const u of this.units.values()) if (u instanceof DeviceUnit) this.deviceChanged(u, devicePresent(u.path) ? "add" : "remove");
      this.retryWaitingSockets("rescan");
    },
    { debug: (m) => this.logger.debug(m), warning: (m) => this.logger.warning(m) },
  );

  private retryWaitingSockets(why: string): void {
    for (const u of this.units.values()) {
      if (u instanceof SocketUnit && u.pendingPorts.length) {
        this.logger.debug(`${why}, retrying`, u.name);
        u.retryPending();
      }
    }
  }

  /** A device came or went: when it came, what it Wants (WantedBy=the device) starts. */
  private deviceChanged(u: DeviceUnit, action: string): void {
    const was = u.plugged;
    u.deviceEvent(action);
    if (!was && u.plugged) void this.enqueue(u.name, "start", "device appeared");
  }
  private graph: GraphContext;
  private depsCache = new Map<string, Deps>();
  private refused = new Set<string>();

  constructor(opts: ManagerOptions) {
    this.clock = opts.clock ?? realClock;
    this.logger = opts.logger;
    this.watcher = opts.watcher ?? n.fdWatcher();
    this.spawner = opts.spawner ?? new HelperSpawner(undefined, this.watcher);
    this.lookups = opts.lookups ?? systemLookups;
    this.killer = opts.killer ?? processKiller;
    this.conditionEnv = opts.conditionEnv ?? realConditionEnv;
    this.dirs = opts.dirs ?? { runtime: "/run", state: "/var/lib", cache: "/var/cache", logs: "/var/log", config: "/etc" };
    this.managerEnv = opts.managerEnv ?? { PATH: DEFAULT_PATH };
    this.daemonEnv = opts.daemonEnv ?? process.env;
    this.notifySocket = opts.notifySocket ?? null;
    this.cgroups = opts.cgroups ?? null;
    this.loader = new UnitLoader(opts.unitPath, opts.host);
    this.graph = this.buildGraph();
    this.jobs = new JobEngine(
      {
        deps: (name) => this.deps(name),
        state: (name) => {
          const u = this.unit(name);
          return u ? { active: u.activeState(), result: u.result, sub: u.subState() } : null;
        },
        canStart: (name) => {
          const u = this.unit(name);
          return u ? u.canStart() : `Unit ${name} not loaded.`;
        },
        run: (name, type) => {
          const u = this.unit(name)!;
          if (type === "start") u.start();
          else u.stop();
        },
      },
      (unit, type, result, why) => {
        if (result === "done") this.logger.debug(`Job ${unit}/${type} finished, result=${result}`);
        else if (result !== "canceled") this.logger.warning(`Job ${unit}/${type} finished, result=${result}${why ? `: ${why}` : ""}`, unit);
      },
    );
  }

  private buildGraph(): GraphContext {
    const names = this.loader.listNames();
    const load = (x: string) => this.loadedUnit(x);
    return {
      load,
      installed: installedDependencies(names, load),
      triggeredBy: computeTriggeredBy(names.filter((x) => x.endsWith(".socket") && !x.includes("@.")), load),
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

  // ---- UnitHost -----------------------------------------------------------------------------

  unit(name: string): UnitRuntime | null {
    const existing = this.units.get(name);
    if (existing) return existing;
    const id = parseUnitName(name);
    if (!id || id.instance === "") return null;
    const cfg = this.loadedUnit(name);
    if (cfg.name !== name) return this.unit(cfg.name);
    let u: UnitRuntime | null = null;
    if (id.type === "device" && (cfg.loadState === "not-found" || cfg.loadState === "loaded")) {
      u = new DeviceUnit(cfg, this);
      this.devices.ensure();
    } else if (cfg.loadState === "not-found") {
      if (id.type === "target" && BUILTIN_TARGETS[name]) u = new TargetUnit(cfg, this);
    } else if (cfg.loadState === "loaded") {
      const problems = cfg.socket ? verifySocket(cfg) : cfg.service ? verifyService(cfg) : [];
      const errors = problems.filter((d) => d.level === "error");
      if (errors.length) {
        this.refuse(name, errors.map(formatDiagnostic));
      } else if (id.type === "socket") u = new SocketUnit(cfg, this);
      else if (id.type === "service") u = new ServiceUnit(cfg, this);
      else if (id.type === "target") u = new TargetUnit(cfg, this);
    } else if (cfg.loadState === "bad-setting") {
      this.refuse(name, cfg.diagnostics.filter((d) => d.level === "error").map(formatDiagnostic));
    }
    if (u) {
      for (const d of cfg.diagnostics) if (d.level === "warning") this.logger.warning(formatDiagnostic(d), name);
      this.units.set(name, u);
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

  requestStart(name: string, reason: string): boolean {
    try {
      void this.jobs.enqueue(name, "start", reason);
      return true;
    } catch (e) {
      this.logger.error(`Failed to queue start of ${name}: ${(e as Error).message}`);
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
    if (u instanceof SocketUnit && u.pendingPorts.length) this.devices.ensure();
    const active = u.activeState();
    if (u instanceof ServiceUnit) {
      for (const s of this.socketsOf(u.name)) s.serviceStateChanged(u.subState(), active, u.startLimitHit);
    }
    if (INACTIVE.has(active)) {
      for (const other of this.units.values()) if (other instanceof SocketUnit) other.unitStopped();
      // BindsTo=: units bound to this one stop with it.
      for (const other of this.units.values()) {
        if (other === u || INACTIVE.has(other.activeState())) continue;
        if (this.deps(other.name).bindsTo.includes(u.name)) this.enqueue(other.name, "stop", `bound to ${u.name}`);
      }
      if (active === "failed" && from !== to) {
        for (const f of this.deps(u.name).onFailure) this.enqueue(f, "start", `OnFailure= of ${u.name}`);
      }
    }
  }

  closeFd(fd: number): void {
    try {
      n.close(fd);
    } catch {
      /* already closed */
    }
  }

  orphanChildren(): number[] {
    return childPids().filter((pid) => !watchedPids.has(pid));
  }

  /** The service a process belongs to: main or control process, cgroup, or session (setsid by the exec helper). */
  serviceOfPid(pid: number): ServiceUnit | null {
    const services = [...this.units.values()].filter((u): u is ServiceUnit => u instanceof ServiceUnit);
    for (const s of services) if (s.mainPid === pid || s.controlPid === pid) return s;
    if (this.cgroups) {
      try {
        const m = /^0::(\/.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
        if (m) for (const s of services) if (s.cgroupPath && s.cgroupPath.endsWith(m[1]!)) return s;
      } catch {
        /* gone */
      }
    }
    try {
      const st = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
      if (st) for (const s of services) if (s.pids().includes(st.sid)) return s;
    } catch {
      /* gone */
    }
    return null;
  }

  /** A datagram on $NOTIFY_SOCKET. */
  notify(sender: { pid: number }, text: string, fds: number[]): void {
    const svc = this.serviceOfPid(sender.pid);
    if (!svc) {
      for (const fd of fds) this.closeFd(fd);
      this.logger.warning(`Cannot find unit for notify message of PID ${sender.pid}, ignoring.`);
      return;
    }
    svc.notify(sender.pid, text, fds);
  }

  /** `reload UNIT`: ExecReload= of a running service. */
  reloadUnit(name: string): Promise<JobResult> {
    const u = this.unit(name);
    if (!(u instanceof ServiceUnit)) {
      this.logger.error(`${name} cannot be reloaded (not a service).`, name);
      return Promise.resolve("failed");
    }
    return new Promise((resolve) => u.reload((ok) => resolve(ok ? "done" : "failed")));
  }

  // ---- sockets and services -------------------------------------------------------------------

  /** Socket units that activate this service (Accept=no), running or not. */
  private socketsOf(serviceName: string): SocketUnit[] {
    const names = new Set<string>(this.graph.triggeredBy.get(serviceName) ?? []);
    const svc = this.loadedUnit(serviceName).service;
    for (const s of svc?.sockets ?? []) names.add(s);
    const out: SocketUnit[] = [];
    for (const nm of names) {
      const u = this.units.get(nm) ?? this.unit(nm);
      if (u instanceof SocketUnit && (!u.cfg.accept)) out.push(u);
    }
    return out;
  }

  socketFds(service: ServiceUnit): { fd: number; name: string }[] {
    // Sockets= order first, then the others by name (systemd leaves the order unspecified).
    const listed = service.cfg.sockets;
    const socks = this.socketsOf(service.name).sort((a, b) => {
      const ia = listed.indexOf(a.name), ib = listed.indexOf(b.name);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
      return a.name < b.name ? -1 : 1;
    });
    return socks.filter((s) => s.ports.length > 0).flatMap((s) => s.collectFds());
  }

  socketEnvironment(service: ServiceUnit): Record<string, string> {
    return Object.assign({}, ...this.socketsOf(service.name).map((s) => s.serviceEnvironment()));
  }

  startAcceptedInstance(socket: SocketUnit, instance: string, conn: AcceptedConnection): boolean {
    const name = instantiate(socketServiceName(socket.config), instance);
    if (!this.instanceUnit(name, conn)) return false;
    try {
      void this.jobs.enqueue(name, "start", `connection on ${socket.name}`);
    } catch {
      this.units.delete(name);
      return false;
    }
    return true;
  }

  /** An Accept=yes instance the previous daemon process started (daemon-reexec). */
  adoptAcceptedInstance(name: string, conn: AcceptedConnection, snapshot: ServiceSnapshot): boolean {
    const svc = this.instanceUnit(name, conn);
    if (!svc) return false;
    svc.adopt(snapshot);
    return true;
  }

  /** The service unit of one Accept=yes connection, loaded fresh from its template. */
  private instanceUnit(name: string, conn: AcceptedConnection): ServiceUnit | null {
    const cfg = this.loader.load(name);
    this.loader.forget(name);
    if (cfg.loadState !== "loaded" || !cfg.service) {
      this.logger.error(`Failed to load ${name}: ${cfg.loadState}`, conn.socket);
      return null;
    }
    const instanceCfg = { ...cfg, unit: { ...cfg.unit, description: `${cfg.unit.description ?? name} (${conn.description})` } };
    const svc = new ServiceUnit(instanceCfg, this);
    svc.connection = conn;
    this.units.set(name, svc);
    return svc;
  }

  /** Holds (or releases) every socket: connections wait in the kernel meanwhile. */
  holdActivation(on: boolean): void {
    for (const u of this.units.values()) if (u instanceof SocketUnit) u.hold(on);
  }

  instanceFinished(service: ServiceUnit): void {
    // Collect the instance once its job bookkeeping is over.
    queueMicrotask(() => {
      if (this.units.get(service.name) !== service || this.jobs.has(service.name)) return;
      if (!INACTIVE.has(service.activeState())) return;
      service.dispose();
      this.units.delete(service.name);
      this.depsCache.delete(service.name);
    });
  }

  startWouldConflict(serviceName: string): boolean {
    const mine = this.deps(serviceName).conflicts;
    for (const u of this.units.values()) {
      if (INACTIVE.has(u.activeState()) || u.name === serviceName) continue;
      if (mine.includes(u.name) || this.deps(u.name).conflicts.includes(serviceName)) return true;
    }
    return false;
  }

  // ---- control --------------------------------------------------------------------------------

  enqueue(name: string, type: JobType, reason: string): Promise<JobResult> {
    try {
      return this.jobs.enqueue(name, type, reason);
    } catch (e) {
      this.logger.error((e as Error).message, name);
      return Promise.resolve("failed");
    }
  }

  start(name: string): Promise<JobResult> {
    return this.enqueue(name, "start", "requested");
  }

  stop(name: string): Promise<JobResult> {
    return this.enqueue(name, "stop", "requested");
  }

  async restart(name: string): Promise<JobResult> {
    const r = await this.stop(name);
    if (r !== "done") return r;
    return this.start(name);
  }

  /** Starts default.target (which pulls in every enabled unit). */
  boot(target = "default.target"): Promise<JobResult> {
    // Devices that units want (WantedBy=x.device): present ones start their wants now
    // (coldplug), absent ones are watched and start them when they appear.
    for (const name of this.graph.installed.wants.keys()) {
      if (!name.endsWith(".device")) continue;
      const d = this.unit(name);
      if (d instanceof DeviceUnit && d.plugged) void this.enqueue(name, "start", "device present at start");
    }
    return this.start(target);
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
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((r) => this.clock.setTimer(timeoutUsec, () => ((timedOut = true), r()))),
    ]);
    if (timedOut) this.logger.warning("Shutdown timed out; forcing.");
    for (const u of this.units.values()) u.dispose();
    this.units.clear();
  }

  /** Which units a unit triggers and is triggered by (sockets and their services). */
  graphOf(): { triggers(name: string): string[]; triggeredBy(name: string): string[] } {
    return {
      triggers: (name) => {
        const cfg = this.loadedUnit(name);
        return cfg.socket ? [cfg.socket.accept ? socketServiceName(cfg).replace(/@?\.service$/, "@*.service") : socketServiceName(cfg)] : [];
      },
      triggeredBy: (name) => {
        const set = new Set(this.graph.triggeredBy.get(name) ?? []);
        for (const s of this.loadedUnit(name).service?.sockets ?? []) set.add(s);
        return [...set].sort();
      },
    };
  }

  /**
   * daemon-reload: reads every unit file again. Running units take their new configuration;
   * a socket keeps its open fds unless its ports changed (then, while it only listens, it is
   * closed and opened again); a unit whose new file has errors keeps its old configuration;
   * a unit whose file is gone is stopped.
   */
  reloadUnits(): ReloadReport {
    const before = new Set(this.loader.listNames());
    const running = [...this.units.values()].filter((u) => !(u instanceof ServiceUnit && u.connection) && !(u instanceof DeviceUnit) && !(u instanceof TargetUnit && u.config.loadState === "not-found"));
    this.loader.clear();
    this.depsCache.clear();
    this.refused.clear();
    this.graph = this.buildGraph();
    const after = this.loader.listNames();
    const report: ReloadReport = { added: after.filter((x) => !before.has(x)), changed: [], removed: [], rejected: [], reopened: [] };
    for (const u of running) {
      const cfg = this.loadedUnit(u.name);
      if (cfg.loadState === "not-found") {
        report.removed.push(u.name);
        this.logger.info("Unit file removed, stopping.", u.name);
        void this.enqueue(u.name, "stop", "unit file removed").then(() => {
          if (this.units.get(u.name) === u && INACTIVE.has(u.activeState())) {
            u.dispose();
            this.units.delete(u.name);
          }
        });
        continue;
      }
      const problems = cfg.loadState === "loaded" ? (cfg.socket ? verifySocket(cfg) : cfg.service ? verifyService(cfg) : []) : cfg.diagnostics;
      const errors = problems.filter((d) => d.level === "error").map(formatDiagnostic);
      if (cfg.loadState !== "loaded" || errors.length) {
        report.rejected.push({ unit: u.name, errors: errors.length ? errors : [`load state ${cfg.loadState}`] });
        for (const e of errors) this.logger.error(e, u.name);
        this.logger.error("New configuration has errors; the unit keeps its previous one.", u.name);
        this.loader.pin(u.name, u.config);
        continue;
      }
      const change = configChange(u.config, cfg);
      if (change === "none") {
        u.config = cfg; // same settings; file/line bookkeeping may differ
        continue;
      }
      report.changed.push(u.name);
      if (u instanceof SocketUnit) {
        const listening = u.subState() === "listening";
        u.reconfigure(cfg);
        if (change === "ports" && listening) {
          report.reopened.push(u.name);
          this.logger.info("Listening settings changed, reopening the socket.", u.name);
          void this.enqueue(u.name, "stop", "reload").then(() => this.enqueue(u.name, "start", "reload"));
        } else if (change === "ports" && u.activeState() === "active") {
          this.logger.notice("Listening settings changed; they take effect when the socket is restarted (its service holds the fds now).", u.name);
        }
      } else if (u instanceof ServiceUnit) u.reconfigure(cfg);
      else u.config = cfg;
    }
    this.logger.info(`Reloaded unit files: ${report.changed.length} changed, ${report.added.length} added, ${report.removed.length} removed, ${report.rejected.length} rejected.`);
    return report;
  }
}
