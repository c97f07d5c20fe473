/**
 * What the manager does when units change state, beyond the jobs themselves (systemd's
 * unit_notify() and its queues): BindsTo= stops the bound units, OnFailure= starts its units,
 * Upholds= starts an upheld unit found inactive, StopWhenUnneeded= stops a unit nothing active
 * needs any more; and the checks and propagation around requests: RefuseManualStart=/Stop=,
 * PropagatesReloadTo=/ReloadPropagatedFrom=. Reaches units through DependencyUnits only.
 */
import type { JobResult, JobType } from "./job-engine.ts";
import type { Deps } from "./unit-graph.ts";
import type { DepKind } from "./reverse-deps.ts";

/** What the reactions see of a unit. */
export interface DependencyUnit {
  readonly name: string;
  activeState(): string;
  readonly config: { unit: { stopWhenUnneeded: boolean; refuseManualStart: boolean; refuseManualStop: boolean } };
}

export interface DependencyUnits {
  units(): Iterable<DependencyUnit>;
  /** A loaded unit by name. */
  get(name: string): DependencyUnit | undefined;
  deps(name: string): Deps;
  /** The loaded units naming name in their kind= dependency. */
  dependents(kind: DepKind, name: string): ReadonlySet<string>;
  hasJob(name: string, type?: JobType): boolean;
  enqueue(name: string, type: JobType, reason: string): Promise<JobResult>;
  log: { info(m: string, unit?: string): void; error(m: string, unit?: string): void };
}

const INACTIVE = new Set(["inactive", "failed"]);

export class DependencyReactions {
  private unneededCheck = false;

  constructor(private readonly u: DependencyUnits) {}

  /** A unit changed state (from -> to, its sub-states). */
  stateChanged(unit: DependencyUnit, from: string, to: string): void {
    const active = unit.activeState();
    if (INACTIVE.has(active)) {
      // BindsTo=: units bound to this one stop with it.
      for (const name of [...this.u.dependents("bindsTo", unit.name)]) {
        const other = this.u.get(name);
        if (!other || other === unit || INACTIVE.has(other.activeState())) continue;
        void this.u.enqueue(other.name, "stop", `bound to ${unit.name}`);
      }
      // Upholds=: an active unit keeps the units it upholds running.
      // Not while the upholding unit is on its way down (a stop job: shutdown, a stop by hand).
      for (const name of [...this.u.dependents("upholds", unit.name)]) {
        const other = this.u.get(name);
        if (!other || other === unit || this.u.deps(other.name).bindsTo.includes(unit.name)) continue;
        if (!this.u.hasJob(unit.name) && !this.u.hasJob(other.name, "stop") && other.activeState() === "active") {
          this.u.log.info(`Unit is upheld by ${other.name}, starting it again.`, unit.name);
          void this.u.enqueue(unit.name, "start", `upheld by ${other.name}`);
        }
      }
      if (active === "failed" && from !== to) {
        for (const f of this.u.deps(unit.name).onFailure) void this.u.enqueue(f, "start", `OnFailure= of ${unit.name}`);
      }
    }
    this.scheduleUnneededCheck();
  }

  /** StopWhenUnneeded=: looked at once the current round of changes is over. */
  private scheduleUnneededCheck(): void {
    if (this.unneededCheck) return;
    this.unneededCheck = true;
    queueMicrotask(() => {
      this.unneededCheck = false;
      for (const name of this.unneeded()) {
        this.u.log.info("Unit not needed anymore. Stopping.", name);
        void this.u.enqueue(name, "stop", "not needed anymore");
      }
    });
  }

  /** Active units with StopWhenUnneeded=yes that no active (or starting) unit pulls in. */
  unneeded(): string[] {
    const all = [...this.u.units()];
    if (!all.some((unit) => unit.config.unit.stopWhenUnneeded)) return [];
    const live = all.filter((o) => !INACTIVE.has(o.activeState()) || this.u.hasJob(o.name, "start"));
    const out: string[] = [];
    for (const unit of all) {
      if (!unit.config.unit.stopWhenUnneeded || INACTIVE.has(unit.activeState()) || this.u.hasJob(unit.name)) continue;
      const needed = live.some((o) => {
        if (o === unit) return false;
        const d = this.u.deps(o.name);
        return [d.requires, d.requisite, d.wants, d.bindsTo, d.upholds].some((l) => l.includes(unit.name));
      });
      if (!needed) out.push(unit.name);
    }
    return out;
  }

  /** Whether an active unit conflicts with name (its Conflicts=, or theirs naming it). */
  conflictsWithActive(name: string): boolean {
    for (const other of [...this.u.deps(name).conflicts, ...this.u.dependents("conflicts", name)]) {
      const o = this.u.get(other);
      if (o && o.name !== name && !INACTIVE.has(o.activeState())) return true;
    }
    return false;
  }

  /** RefuseManualStart=/RefuseManualStop=: the refusal of a request made by hand, or null. */
  manualRefusal(unit: DependencyUnit["config"]["unit"], type: JobType): string | null {
    if (type === "start" ? !unit.refuseManualStart : !unit.refuseManualStop) return null;
    return `Operation refused, unit may be requested by dependency only (it is configured to refuse manual ${type}).`;
  }

  /** Units a stop of name propagates to (Requires=, BindsTo=, PartOf= on it), transitively. */
  stopDependents(name: string): string[] {
    const seen = new Set([name]);
    const todo = [name];
    while (todo.length) {
      const from = todo.shift()!;
      for (const kind of ["requires", "bindsTo", "partOf"] as const) for (const o of this.u.dependents(kind, from)) if (!seen.has(o)) seen.add(o), todo.push(o);
    }
    seen.delete(name);
    return [...seen];
  }

  /** PropagatesReloadTo= of name, and the units whose ReloadPropagatedFrom= names it, transitively. */
  reloadTargets(name: string): string[] {
    const seen = new Set([name]);
    const todo = [name];
    const out: string[] = [];
    while (todo.length) {
      const from = todo.shift()!;
      const to = new Set(this.u.deps(from).propagatesReloadTo);
      for (const o of this.u.dependents("reloadPropagatedFrom", from)) to.add(o);
      for (const t of to) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push(t);
        todo.push(t);
      }
    }
    return out;
  }
}
