/**
 * The running daemon as the control socket sees it (ControlledSystem): answers built from the
 * manager, the log ring, and the daemon's own facts.
 */
import { readFileSync } from "node:fs";
import type { LogRing } from "../core/log-ring.ts";
import type { ControlledSystem, JobOutcome, ReloadReport } from "../control/handlers.ts";
import type { DaemonSummary, SocketRow, UnitRow } from "../control/format.ts";
import { listenInfo, unitInfo, type UnitInfo } from "../control/unit-info.ts";
import { SocketUnit } from "../socket/socket-unit.ts";
import type { Manager } from "./manager.ts";

export interface DaemonFacts {
  version: string;
  startedMs: number;
  controlPath: string;
  controlGid: number | null;
  stopping(): boolean;
  reexec(): Promise<string | null>;
}

export class ManagerControl implements ControlledSystem {
  constructor(
    private readonly manager: Manager,
    readonly ring: LogRing,
    private readonly facts: DaemonFacts,
  ) {}

  get controlGid(): number | null {
    return this.facts.controlGid;
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

  info(name: string): UnitInfo | null {
    // unit() answers with the running unit (or loads it); without one, only a unit file counts.
    const rt = this.manager.unit(name);
    const cfg = rt?.config ?? this.manager.loadedUnit(name);
    if (!rt && cfg.loadState === "not-found") return null;
    const g = this.manager.graphOf();
    return unitInfo(cfg, rt, {
      wallMs: this.wallMs,
      triggers: (n) => g.triggers(n),
      triggeredBy: (n) => g.triggeredBy(n),
    });
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
        const cfg = this.manager.loadedUnit(name);
        rows.set(name, { unit: name, load: cfg.loadState, active: "inactive", sub: "dead", description: cfg.unit.description ?? name });
      }
    }
    return [...rows.values()].sort((a, b) => (a.unit < b.unit ? -1 : 1));
  }

  sockets(all: boolean): SocketRow[] {
    const rows: SocketRow[] = [];
    for (const u of this.manager.loadedUnits()) {
      if (!(u instanceof SocketUnit)) continue;
      if (!all && u.activeState() !== "active") continue;
      for (const p of u.cfg.listen) {
        const l = listenInfo(p);
        rows.push({
          listen: l.address, type: l.type, unit: u.name, state: u.subState(),
          activates: u.cfg.accept ? u.serviceName.replace(/@?\.service$/, "@*.service") : u.serviceName,
          accepted: u.connections.nAccepted, connections: u.connections.nConnections,
        });
      }
    }
    return rows.sort((a, b) => (a.listen < b.listen ? -1 : 1));
  }

  async job(name: string, type: "start" | "stop" | "restart" | "reload"): Promise<JobOutcome> {
    switch (type) {
      case "start": return this.manager.start(name);
      case "stop": return this.manager.stop(name);
      case "restart": return this.manager.restart(name);
      case "reload": return this.manager.reloadUnit(name);
    }
  }

  reloadUnits(): Promise<ReloadReport> {
    return Promise.resolve(this.manager.reloadUnits());
  }

  catUnit(name: string): string | null {
    const cfg = this.manager.loadedUnit(name);
    const files = [cfg.fragmentPath, ...cfg.dropinPaths].filter((p): p is string => !!p);
    if (files.length === 0) return null;
    return files.map((f) => {
      let text: string;
      try {
        text = readFileSync(f, "utf8");
      } catch (e) {
        text = `# (cannot read: ${(e as Error).message})\n`;
      }
      return `# ${f}\n${text.endsWith("\n") ? text : text + "\n"}`;
    }).join("\n");
  }

  reexec(): Promise<string | null> {
    return this.facts.reexec();
  }
}
