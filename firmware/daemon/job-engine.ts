/**
 * Jobs: what the manager is starting or stopping, and in which order (systemd's job and
 * transaction model, reduced to what an embedded daemon needs):
 *   - starting a unit pulls in Requires=/BindsTo=/Wants=/Upholds= (recursively) and stops
 *     Conflicts= both ways (a unit naming it in its Conflicts= too);
 *   - stopping a unit stops the units that Requires=, BindsTo= or PartOf= it, and those of
 *     its PropagatesStopTo= or naming it in StopPropagatedFrom= (systemd's propagated stop);
 *   - a start waits for the starts of units ordered before it (After=/Before=) and for the
 *     stops of any ordered unit; a stop waits for the stops of units ordered after it;
 *   - a failed start fails the starts that require it ("dependency").
 * The units themselves are reached through JobUnits, so this is testable without processes.
 */
import type { ActiveState } from "../runtime/unit-runtime.ts";
import type { Deps } from "./unit-graph.ts";
import type { DepKind } from "./reverse-deps.ts";
import { errorText } from "../core/errors.ts";

export type JobType = "start" | "stop";
export type JobResult = "done" | "failed" | "dependency" | "canceled" | "skipped";

export interface JobUnits {
  deps(name: string): Deps;
  /** null when the unit cannot be loaded. */
  state(name: string): { active: ActiveState; result: string; sub: string } | null;
  canStart(name: string): string | null;
  run(name: string, type: JobType): void;
  /** The loaded units naming name in their kind= dependency (ConflictedBy=, RequiredBy=, ... of name). */
  dependents(kind: DepKind, name: string): ReadonlySet<string>;
}

/** A unit's After=/Before= as sets, made once per Deps object. */
interface Ordering {
  after: ReadonlySet<string>;
  before: ReadonlySet<string>;
}

interface Job {
  id: number;
  unit: string;
  type: JobType;
  running: boolean;
  /** Units whose start this job needs (Requires=/BindsTo=), and Requisite= ones. */
  needs: string[];
  requisite: string[];
  /** Set when the job is known to fail when it runs (a required unit not found). */
  doomed?: string;
  waiters: ((r: JobResult) => void)[];
  reason: string;
}

export interface JobInfo {
  id: number;
  unit: string;
  type: JobType;
  state: "waiting" | "running";
}

/** What a stop takes with it: units naming the stopped one in these (systemd's stop propagation). */
const STOPPED_WITH: readonly DepKind[] = ["requires", "bindsTo", "partOf", "stopPropagatedFrom"];

export class JobEngine {
  private jobs = new Map<string, Job>();
  private nextId = 1;
  private dispatching = false;
  private cancelling = false;
  private again = false;
  private readonly orderings = new WeakMap<Deps, Ordering>();

  constructor(
    private readonly units: JobUnits,
    private readonly onFinished: (unit: string, type: JobType, result: JobResult, why?: string) => void = () => {},
    /** Warnings that are not a job's result (an ordering cycle found and how it was broken). */
    private readonly warn: (message: string, unit: string) => void = () => {},
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
    if (anchor) this.breakCycles(anchor);
    const p = anchor ? new Promise<JobResult>((resolve) => anchor.waiters.push(resolve)) : Promise.resolve<JobResult>("done");
    this.dispatch();
    return p;
  }

  private newJob(unit: string, type: JobType, reason: string, needs: string[] = [], requisite: string[] = []): Job {
    const old = this.jobs.get(unit);
    if (old && old.type !== type) this.finish(old, "canceled");
    const j: Job = { id: this.nextId++, unit, type, running: false, needs, requisite, waiters: [], reason };
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
    const job = active && !existing ? null : this.newJob(unit, "start", reason, needs, d.requisite);
    for (const r of needs) {
      if (!this.units.state(r)) {
        // Finished when it runs, so that enqueue()'s caller sees the result.
        if (job) job.doomed = `required unit ${r} not found`;
        return job;
      }
      this.addStart(r, `required by ${unit}`, seen);
    }
    for (const w of [...d.wants, ...d.upholds]) if (this.units.state(w)) this.addStart(w, `wanted by ${unit}`, seen);
    // Conflicts= works both ways (systemd implies ConflictedBy= on the other unit).
    const conflicting = new Set(d.conflicts);
    for (const o of this.units.dependents("conflicts", unit)) if (o !== unit) conflicting.add(o);
    for (const c of conflicting) {
      const cs = this.units.state(c);
      if (cs && cs.active !== "inactive" && cs.active !== "failed") this.addStop(c, `conflicts with ${unit}`);
      else if (this.jobs.get(c)?.type === "start") this.addStop(c, `conflicts with ${unit}`);
    }
    return job;
  }

  private addStop(unit: string, reason: string, seen = new Set<string>()): Job | null {
    const st = this.units.state(unit);
    if (!st) return null;
    seen.add(unit);
    // Units that Requires=, BindsTo= or PartOf= this one stop with it, even when it is stopped already.
    const dependents = new Set<string>();
    for (const kind of STOPPED_WITH) for (const o of this.units.dependents(kind, unit)) dependents.add(o);
    for (const o of dependents) if (!seen.has(o)) this.addStop(o, `stopped with ${unit}`, seen);
    for (const o of this.units.deps(unit).propagatesStopTo) if (!seen.has(o)) this.addStop(o, `stop propagated from ${unit}`, seen);
    const existing = this.jobs.get(unit);
    if (existing?.type === "stop") return existing;
    if ((st.active === "inactive" || st.active === "failed") && !existing) return null;
    return this.newJob(unit, "stop", reason);
  }

  /** Jobs j must wait for (blocked()'s relation). */
  private blockers(j: Job): Job[] {
    const out: Job[] = [];
    for (const o of this.orderedWith(j)) if (o !== j && this.blocks(o, j)) out.push(o);
    return out;
  }

  /**
   * The jobs that may block j or be blocked by it: those of units ordered with j's unit either
   * way (its After=/Before= and the units naming it in theirs), or all jobs when they are fewer.
   */
  private orderedWith(j: Job): Iterable<Job> {
    const own = this.ordering(j.unit);
    const revBefore = this.units.dependents("before", j.unit);
    const revAfter = this.units.dependents("after", j.unit);
    const count = own.after.size + own.before.size + revBefore.size + revAfter.size;
    if (count >= this.jobs.size) return this.jobs.values();
    const out = new Set<Job>();
    for (const names of [own.after, own.before, revBefore, revAfter])
      for (const name of names) {
        const o = this.jobs.get(name);
        if (o) out.add(o);
      }
    return out;
  }

  private ordering(unit: string): Ordering {
    const d = this.units.deps(unit);
    let o = this.orderings.get(d);
    if (!o) this.orderings.set(d, (o = { after: new Set(d.after), before: new Set(d.before) }));
    return o;
  }

  /**
   * An ordering cycle among waiting jobs would block them for ever. Like systemd's
   * transaction_verify_order(), a job in the cycle that the anchor does not need (pulled in by
   * Wants= only) is dropped; when every one is needed, the anchor's start fails.
   */
  private breakCycles(anchor: Job): void {
    for (;;) {
      const cycle = this.findCycle(anchor);
      if (!cycle) return;
      const needed = this.neededBy(anchor);
      const victim = cycle.find((j) => j !== anchor && !needed.has(j.unit) && !j.running);
      const names = cycle.map((j) => `${j.unit}/${j.type}`).join(" -> ");
      // systemd's wording (transaction_verify_order_one()), one line per job of the cycle.
      const first = `${cycle[0]!.unit}/${cycle[0]!.type}`;
      this.warn(`Found ordering cycle on ${first}`, cycle[0]!.unit);
      for (const j of cycle.slice(1)) this.warn(`Found dependency on ${j.unit}/${j.type}`, cycle[0]!.unit);
      if (victim) {
        this.warn(`Job ${victim.unit}/${victim.type} deleted to break ordering cycle starting with ${first}`, victim.unit);
        this.onFinished(victim.unit, victim.type, "canceled", `ordering cycle ${names}; job deleted to break it`);
        if (this.jobs.get(victim.unit) === victim) this.jobs.delete(victim.unit);
        for (const w of victim.waiters) w("canceled");
        continue;
      }
      this.warn(`Unable to break cycle starting with ${first}; transaction order is cyclic`, cycle[0]!.unit);
      for (const j of cycle) if (!j.running) j.doomed = `ordering cycle ${names}`;
      return;
    }
  }

  /** Units the anchor's start needs, transitively (Requires=/BindsTo=). */
  private neededBy(anchor: Job): Set<string> {
    const out = new Set<string>([anchor.unit]);
    const todo = [anchor.unit];
    while (todo.length) {
      const u = todo.pop()!;
      const j = this.jobs.get(u);
      for (const r of j?.needs ?? []) if (!out.has(r)) out.add(r), todo.push(r);
    }
    return out;
  }

  /** A cycle of waiting jobs reachable from start through "waits for", or null. */
  private findCycle(start: Job): Job[] | null {
    const path: Job[] = [];
    const done = new Set<Job>();
    const visit = (j: Job): Job[] | null => {
      const at = path.indexOf(j);
      if (at >= 0) return path.slice(at);
      if (done.has(j) || j.running) return null;
      path.push(j);
      for (const b of this.blockers(j)) {
        const c = visit(b);
        if (c) return c;
      }
      path.pop();
      done.add(j);
      return null;
    };
    for (const j of [start, ...this.jobs.values()]) {
      const c = visit(j);
      if (c) return c;
    }
    return null;
  }

  /** Units ordered before u (u has After= on them, or they have Before= on u). */
  private orderedBefore(u: string, other: string): boolean {
    return this.ordering(u).after.has(other) || this.ordering(other).before.has(u);
  }

  /** Whether job o must finish before job j runs. */
  private blocks(o: Job, j: Job): boolean {
    if (j.doomed) return false;
    if (j.type === "start") {
      if (o.type === "start") return this.orderedBefore(j.unit, o.unit);
      return this.orderedBefore(j.unit, o.unit) || this.orderedBefore(o.unit, j.unit);
    }
    return o.type === "stop" && this.orderedBefore(o.unit, j.unit);
  }

  private blocked(j: Job): boolean {
    for (const o of this.orderedWith(j)) if (o !== j && this.blocks(o, j)) return true;
    return false;
  }

  /** Queues several jobs (fn's enqueue() calls) before any of them runs, so that their order applies. */
  batch<T>(fn: () => T): T {
    if (this.dispatching) return fn();
    this.dispatching = true;
    try {
      return fn();
    } finally {
      this.dispatching = false;
      this.dispatch();
    }
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
    if (j.doomed) return this.finish(j, "dependency", j.doomed);
    if (j.type === "start") {
      // Requires=/BindsTo= only count when ordered (After=): unordered units start together.
      for (const r of [...j.requisite, ...j.needs.filter((r) => this.orderedBefore(j.unit, r))]) {
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
      return this.finish(j, "failed", `internal error: ${errorText(e)}`);
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
    if (this.jobs.get(j.unit) !== j) return; // finished already
    this.jobs.delete(j.unit);
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
