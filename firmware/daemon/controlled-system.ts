/**
 * The running daemon as the control socket sees it (ControlledSystem): answers built from the
 * manager, the log ring, and the daemon's own facts. Every look-up by name goes through
 * Manager.lookup(), which creates and caches nothing: made-up names cost nothing to ask about.
 */
import { fstatSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import type { StoredFdRow } from "../control/fdstore-format.ts";
import * as n from "../native.ts";
import { F_GETFL } from "../sys/constants.ts";
import { cleanPaths, type CleanWhat } from "../control/clean.ts";
import type { LogRing } from "../core/log-ring.ts";
import type { ControlledSystem, JobOutcome, JobRow, JobType, ReloadReport } from "../control/handlers.ts";
import type { DaemonSummary, SocketRow, UnitRow } from "../control/format.ts";
import { unitInfo, type UnitInfo } from "../control/unit-info.ts";
import { unitFileStateOf, unitProperties, type Property } from "../control/unit-properties.ts";
import { installLayout } from "../install/layout.ts";
import { enablementStates } from "../install/operations.ts";
import { noFdStore, type UnitRuntime } from "../runtime/unit-runtime.ts";
import { fdStoreAnswer } from "../service/fd-store.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { socketServiceName } from "../unit/socket-relations.ts";
import type { Manager } from "./manager.ts";
import { errorText } from "../core/errors.ts";

/** systemctl try-restart acts on these states only; an inactive or failed unit is left as it is. */
const TRY_RESTARTABLE = new Set(["active", "activating", "reloading", "deactivating"]);

export interface DaemonFacts {
  version: string;
  startedMs: number;
  controlPath: string;
  controlGid: number | null;
  /** The log-reader group (`bunit daemon --log-group GROUP`); absent or null: root only. */
  logGid?: number | null;
  stopping(): boolean;
  reexec(): Promise<string | null>;
}

export class ManagerControl implements ControlledSystem {
  /** When unit files were last read as a whole (start, daemon-reload): NeedDaemonReload= compares file times with it. */
  private loadedAtMs = Date.now();

  constructor(
    private readonly manager: Manager,
    readonly ring: LogRing,
    private readonly facts: DaemonFacts,
  ) {}

  get controlGid(): number | null {
    return this.facts.controlGid;
  }

  get logGid(): number | null {
    return this.facts.logGid ?? null;
  }

  private wallMs = (monoUsec: number): number => Date.now() - (this.manager.clock.now() - monoUsec) / 1000;

  summary(): DaemonSummary {
    const units = this.manager.loadedUnits();
    const failed = units.filter((u) => u.activeState() === "failed").map((u) => u.name);
    const jobs = this.manager.jobs.size;
    return {
      pid: process.pid,
      version: this.facts.version,
      startedMs: this.facts.startedMs,
      state: this.facts.stopping() ? "stopping" : jobs > 0 ? "starting" : failed.length ? "degraded" : "running",
      units: units.length,
      failed,
      jobs,
      controlPath: this.facts.controlPath,
      cgroup: this.manager.cgroups?.root ?? null,
    };
  }

  /** The running unit or its configuration; null for a name no file or running unit answers. */
  private find(name: string): { rt: UnitRuntime | null; cfg: LoadedUnit } | null {
    const found = this.manager.lookup(name);
    if (!found.rt && found.cfg.loadState === "not-found") return null;
    return found;
  }

  /**
   * Triggers/TriggeredBy from the configuration at hand. The manager's graph is asked only
   * about names that have a unit file of their own (a bounded set), never about instances.
   */
  private relations(cfg: LoadedUnit): { triggers: string[]; triggeredBy: string[] } {
    const triggers = cfg.socket ? [cfg.socket.accept ? socketServiceName(cfg).replace(/@?\.service$/, "@*.service") : socketServiceName(cfg)] : [];
    const own = cfg.id.instance === null && cfg.fragmentPath !== undefined;
    const by = new Set(own ? this.manager.graphOf().triggeredBy(cfg.name) : []);
    for (const s of cfg.service?.sockets ?? []) by.add(s);
    return { triggers, triggeredBy: [...by].sort() };
  }

  info(name: string): UnitInfo | null {
    const f = this.find(name);
    if (!f) return null;
    const r = this.relations(f.cfg);
    return unitInfo(f.cfg, f.rt, { wallMs: this.wallMs, triggers: () => r.triggers, triggeredBy: () => r.triggeredBy });
  }

  properties(name: string, reader: boolean): Property[] | null {
    const f = this.find(name);
    if (!f) return null;
    const r = this.relations(f.cfg);
    return unitProperties(f.cfg, f.rt, {
      wallMs: this.wallMs,
      triggers: r.triggers,
      triggeredBy: r.triggeredBy,
      unitFileState: this.unitFileState(f.cfg),
      needDaemonReload: this.needsReload(f.cfg),
      showEnvironment: reader,
    });
  }

  /**
   * UnitFileState= as `bunit is-enabled` computes it from the links on the daemon's search path
   * (install/); from the [Install] section alone when that cannot be read.
   */
  private unitFileState(cfg: LoadedUnit): string {
    if (!cfg.fragmentPath) return unitFileStateOf(cfg);
    try {
      const [state] = enablementStates(installLayout(this.manager.loader.searchPath), [cfg.name]);
      return state === "not-found" ? "" : (state ?? unitFileStateOf(cfg));
    } catch {
      return unitFileStateOf(cfg);
    }
  }

  /** A unit file or drop-in changed (or went) since unit files were last read. */
  private needsReload(cfg: LoadedUnit): boolean {
    for (const p of [cfg.fragmentPath, ...cfg.dropinPaths]) {
      if (!p) continue;
      try {
        if (statSync(p).mtimeMs > this.loadedAtMs) return true;
      } catch {
        return true;
      }
    }
    return false;
  }

  names(): string[] {
    const out = new Set(this.manager.loadedUnits().map((u) => u.name));
    for (const n of this.manager.loader.listNames()) if (!n.includes("@.")) out.add(n);
    return [...out].sort();
  }

  units(all: boolean): UnitRow[] {
    const rows = new Map<string, UnitRow>();
    for (const u of this.manager.loadedUnits()) {
      const active = u.activeState();
      if (!all && active === "inactive") continue;
      rows.set(u.name, { unit: u.name, load: "loaded", active, sub: u.subState(), description: u.config.unit.description ?? u.name });
    }
    if (all) {
      for (const name of this.manager.loader.listNames()) {
        if (rows.has(name) || name.includes("@.")) continue;
        const cfg = this.manager.lookup(name).cfg;
        rows.set(name, { unit: name, load: cfg.loadState, active: "inactive", sub: "dead", description: cfg.unit.description ?? name });
      }
    }
    return [...rows.values()].sort((a, b) => (a.unit < b.unit ? -1 : 1));
  }

  sockets(all: boolean): SocketRow[] {
    const rows: SocketRow[] = [];
    for (const u of this.manager.loadedUnits()) {
      if (!all && u.activeState() !== "active") continue;
      rows.push(...u.listening());
    }
    return rows.sort((a, b) => (a.listen < b.listen ? -1 : 1));
  }

  async job(name: string, type: JobType): Promise<JobOutcome> {
    switch (type) {
      case "start":
        return this.manager.start(name);
      case "stop":
        return this.manager.stop(name);
      case "restart":
        return this.manager.restart(name);
      case "reload":
        return this.manager.reloadUnit(name);
      case "reload-or-restart":
      case "reload-or-try-restart": {
        const rt = this.manager.lookup(name).rt;
        if (rt && rt.canReload() === null) return this.manager.reloadUnit(name);
        if (type === "reload-or-try-restart" && !TRY_RESTARTABLE.has(rt?.activeState() ?? "inactive")) return "done";
        return this.manager.restart(name);
      }
    }
  }

  /**
   * One transaction for the units of one command. Restarts: a unit that can reload is reloaded
   * (reload-or-*), an inactive one left alone (reload-or-try-restart); one restart is the
   * manager's (it restarts what the stop took with it); several stop together, then start together.
   */
  async jobs(names: string[], type: JobType): Promise<JobOutcome[]> {
    if (type === "start" || type === "stop" || type === "reload") return Promise.all(this.manager.batch(() => names.map((n) => this.job(n, type))));
    const out = new Map<string, Promise<JobOutcome> | JobOutcome>();
    const restarts: string[] = [];
    for (const n of names) {
      const rt = this.manager.lookup(n).rt;
      if (type !== "restart" && rt && rt.canReload() === null) out.set(n, this.manager.reloadUnit(n));
      else if (type === "reload-or-try-restart" && !TRY_RESTARTABLE.has(rt?.activeState() ?? "inactive")) out.set(n, "done");
      else restarts.push(n);
    }
    if (restarts.length === 1) out.set(restarts[0]!, this.manager.restart(restarts[0]!));
    else if (restarts.length > 1) {
      const stopped = await Promise.all(this.manager.batch(() => restarts.map((n) => this.manager.stop(n))));
      const again = restarts.filter((_, i) => stopped[i] === "done");
      const started = await Promise.all(this.manager.batch(() => again.map((n) => this.manager.start(n))));
      restarts.forEach((n, i) => out.set(n, stopped[i]!));
      again.forEach((n, i) => out.set(n, started[i]!));
    }
    return Promise.all(names.map((n) => out.get(n)!));
  }

  clean(name: string, what: readonly CleanWhat[]): string | null {
    const f = this.find(name);
    if (!f) return `Unit ${name} not found.`;
    const state = f.rt?.activeState() ?? "inactive";
    if (state !== "inactive" && state !== "failed") return `Unit ${name} is ${state}, it can be cleaned only when inactive or failed.`;
    const exec = f.cfg.socket?.exec ?? f.cfg.service?.exec;
    if (!exec) return null;
    for (const p of cleanPaths(exec, this.manager.dirs, what)) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch (e) {
        return `cannot remove ${p}: ${errorText(e)}`;
      }
    }
    return null;
  }

  storedFds(name: string): StoredFdRow[] | string {
    const f = this.find(name);
    if (!f) return `Unit ${name} not found.`;
    // A unit without a runtime yet has never stored anything: its configuration answers.
    const fds = f.rt ? f.rt.storedFds() : f.cfg.service ? fdStoreAnswer(name, f.cfg.service.fileDescriptorStoreMax, []) : noFdStore(name);
    if (typeof fds === "string") return fds;
    const rows: StoredFdRow[] = [];
    for (const e of fds) {
      try {
        const st = fstatSync(e.fd, { bigint: true });
        let path: string | null = null;
        try {
          path = readlinkSync(`/proc/self/fd/${e.fd}`);
        } catch {
          /* no path */
        }
        // O_LARGEFILE is implied on 64-bit and not a flag of interest (systemd masks it too).
        const flags = n.fcntl(e.fd, F_GETFL) & ~0o100000;
        rows.push({ name: e.name, mode: Number(st.mode), dev: String(st.dev), inode: String(st.ino), rdev: String(st.rdev), path, flags });
      } catch {
        /* gone meanwhile: skipped, as systemd skips an fd it cannot fstat() */
      }
    }
    return rows;
  }

  jobList(): JobRow[] {
    return this.manager.jobs.list();
  }

  dependencies(name: string): string[] {
    const f = this.find(name);
    if (!f) return [];
    const u = f.cfg.unit;
    return [...u.requires, ...u.requisite, ...u.wants, ...u.bindsTo];
  }

  reloadUnits(): Promise<ReloadReport> {
    this.loadedAtMs = Date.now();
    return Promise.resolve(this.manager.reloadUnits());
  }

  catUnit(name: string): string | null {
    const cfg = this.manager.lookup(name).cfg;
    const files = [cfg.fragmentPath, ...cfg.dropinPaths].filter((p): p is string => !!p);
    if (files.length === 0) return null;
    return files
      .map((f) => {
        let text: string;
        try {
          text = readFileSync(f, "utf8");
        } catch (e) {
          text = `# (cannot read: ${errorText(e)})\n`;
        }
        return `# ${f}\n${text.endsWith("\n") ? text : text + "\n"}`;
      })
      .join("\n");
  }

  reexec(): Promise<string | null> {
    return this.facts.reexec();
  }
}
