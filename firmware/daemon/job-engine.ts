/**
 * Jobs: what the manager is starting or stopping, and in which order (systemd's job and
 * transaction model, reduced to what an embedded daemon needs):
 *   - starting a unit pulls in Requires=/BindsTo=/Wants= (recursively) and stops Conflicts=;
 *   - a start waits for the starts of units ordered before it (After=/Before=) and for the
 *     stops of any ordered unit; a stop waits for the stops of units ordered after it;
 *   - a failed start fails the starts that require it ("dependency").
 * The units themselves are reached through JobUnits, so this is testable without processes.
 */
import type { ActiveState } from "../core/unit-runtime.ts";
import type { Deps } from "./unit-graph.ts";

export type JobType = "start" | "stop";
export type JobResult = "done" | "failed" | "dependency" | "canceled" | "skipped";

export interface JobUnits {
  deps(name: string): Deps;
  /** null when the unit cannot be loaded. */
  state(name: string): { active: ActiveState; result: string; sub: string } | null;
  canStart(name: string): string | null;
  run(name: string, type: JobType): void;
}

interface Job {
  id: number;
  unit: string;
  type: JobType;
  running: boolean;
  /** Units whose start this job needs (Requires=/BindsTo=/Requisite=). */
  needs: string[];
  waiters: ((r: JobResult) => void)[];
  reason: string;
}

export interface JobInfo {
  id: number;
  unit: string;
  type: JobType;
  state: "waiting" | "running";
}

export class JobEngine {
  private jobs = new Map<string, Job>();
  private nextId = 1;
  private dispatching = false;
  private cancelling = false;
  private again = false;

  constructor(
    private readonly units: JobUnits,
    private readonly onFinished: (unit: string, type: JobType, result: JobResult, why?: string) => void = () => {},
  ) {}

  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => ({ id: j.id, unit: j.unit, type: j.type, state: j.running ? "running" : "waiting" }));
  }

  has(unit: string, type?: JobType): boolean {
    const j = this.jobs.get(unit);
    return !!j && (type === undefined || j.type === type);
  }

  get size(): number {
    return this.jobs.size;
  }

  /**
   * Queues a job for unit and what it pulls in. Resolves with the anchor job's result.
   * Throws when the unit cannot be loaded.
   */
  enqueue(unit: string, type: JobType, reason: string): Promise<JobResult> {
    if (!this.units.state(unit)) throw new Error(`Unit ${unit} not found.`);
    const anchor = type === "start" ? this.addStart(unit, reason, new Set()) : this.addStop(unit, reason);
    const p = anchor
      ? new Promise<JobResult>((resolve) => anchor.waiters.push(resolve))
      : Promise.resolve<JobResult>("done");
    this.dispatch();
    return p;
  }

  private newJob(unit: string, type: JobType, reason: string, needs: string[] = []): Job {
    const old = this.jobs.get(unit);
    if (old && old.type !== type) this.finish(old, "canceled");
    const j: Job = { id: this.nextId++, unit, type, running: false, needs, waiters: [], reason };
    this.jobs.set(unit, j);
    return j;
  }

  private addStart(unit: string, reason: string, seen: Set<string>): Job | null {
    if (seen.has(unit)) return this.jobs.get(unit) ?? null;
    seen.add(unit);
    const st = this.units.state(unit);
    if (!st) return null;
    const existing = this.jobs.get(unit);
    if (existing?.type === "start") return existing;
    const d = this.units.deps(unit);
    const needs = [...d.requires, ...d.bindsTo];
    const active = st.active === "active" || st.active === "reloading";
    const job = active && !existing ? null : this.newJob(unit, "start", reason, [...needs, ...d.requisite]);
    for (const r of needs) {
      if (!this.units.state(r)) {
        if (job) this.finish(job, "dependency", `required unit ${r} not found`);
        return null;
      }
      this.addStart(r, `required by ${unit}`, seen);
    }
    for (const w of d.wants) if (this.units.state(w)) this.addStart(w, `wanted by ${unit}`, seen);
    for (const c of d.conflicts) {
      const cs = this.units.state(c);
      if (cs && cs.active !== "inactive" && cs.active !== "failed") this.addStop(c, `conflicts with ${unit}`);
      else if (this.jobs.get(c)?.type === "start") this.addStop(c, `conflicts with ${unit}`);
    }
    return job;
  }

  private addStop(unit: string, reason: string): Job | null {
    const st = this.units.state(unit);
    if (!st) return null;
    const existing = this.jobs.get(unit);
    if (existing?.type === "stop") return existing;
    if ((st.active === "inactive" || st.active === "failed") && !existing) return null;
    return this.newJob(unit, "stop", reason);
  }

  /** Units ordered before u (u has After= on them, or they have Before= on u). */
  private orderedBefore(u: string, other: string): boolean {
    return this.units.deps(u).after.includes(other) || this.units.deps(other).before.includes(u);
  }

  private blocked(j: Job): boolean {
    for (const o of this.jobs.values()) {
      if (o === j) continue;
      if (j.type === "start") {
        if (o.type === "start" && this.orderedBefore(j.unit, o.unit)) return true;
        if (o.type === "stop" && (this.orderedBefore(j.unit, o.unit) || this.orderedBefore(o.unit, j.unit))) return true;
      } else if (o.type === "stop" && this.orderedBefore(o.unit, j.unit)) {
        return true;
      }
    }
    return false;
  }

  dispatch(): void {
    if (this.cancelling) return;
    if (this.dispatching) {
      this.again = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.again = false;
        for (const j of [...this.jobs.values()]) {
          if (j.running || this.jobs.get(j.unit) !== j || this.blocked(j)) continue;
          this.runJob(j);
        }
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
  }

  private runJob(j: Job): void {
    if (j.type === "start") {
      for (const r of j.needs) {
        const st = this.units.state(r);
        if (!st || (st.active !== "active" && st.active !== "reloading")) {
          return this.finish(j, "dependency", `dependency ${r} is not active`);
        }
      }
      const refusal = this.units.canStart(j.unit);
      if (refusal) return this.finish(j, "failed", refusal);
    }
    j.running = true;
    try {
      this.units.run(j.unit, j.type);
    } catch (e) {
      // One unit's failure must not disturb the others' jobs.
      return this.finish(j, "failed", `internal error: ${(e as Error).message}`);
    }
    this.check(j.unit);
  }

  /** Called whenever a unit's state changes: completes its running job when it is done. */
  check(unit: string): void {
    const j = this.jobs.get(unit);
    if (!j || !j.running) return;
    const st = this.units.state(unit);
    if (!st) return this.finish(j, "failed");
    if (j.type === "start") {
      if (st.active === "active" || st.active === "reloading") return this.finish(j, "done");
      if (st.active === "failed") return this.finish(j, "failed");
      if (st.active === "inactive") return this.finish(j, st.result === "success" ? "done" : "failed");
    } else if (st.active === "inactive" || st.active === "failed") {
      return this.finish(j, "done");
    }
  }

  private finish(j: Job, r: JobResult, why?: string): void {
    if (this.jobs.get(j.unit) === j) this.jobs.delete(j.unit);
    for (const w of j.waiters) w(r);
    this.onFinished(j.unit, j.type, r, why);
    if (j.type === "start" && r !== "done") {
      // Fail the starts that need this one.
      for (const o of [...this.jobs.values()]) {
        if (o.type === "start" && !o.running && o.needs.includes(j.unit)) this.finish(o, "dependency");
      }
    }
    this.dispatch();
  }

  /** Cancels every job (daemon shutdown). */
  cancelAll(): void {
    this.cancelling = true;
    try {
      for (const j of [...this.jobs.values()]) this.finish(j, "canceled");
    } finally {
      this.cancelling = false;
    }
  }
}
