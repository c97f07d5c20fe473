import { describe, expect, test } from "bun:test";
import type { ActiveState } from "../runtime/unit-runtime.ts";
import { depsOf } from "../testing/deps.ts";
import { JobEngine, type JobResult, type JobType, type JobUnits } from "./job-engine.ts";
import type { Deps } from "./unit-graph.ts";

type Partial2<T> = { [K in keyof T]?: T[K] };

interface FakeUnit {
  deps: Deps;
  active: ActiveState;
  result: string;
  refusal: string | null;
  throws: boolean;
}

/**
 * Units for the job engine: run() only records the call and moves the unit to
 * activating/deactivating; the test decides when (and how) it completes.
 */
class FakeUnits implements JobUnits {
  readonly units = new Map<string, FakeUnit>();
  readonly runs: string[] = [];
  engine!: JobEngine;

  add(name: string, deps: Partial2<Deps> = {}, active: ActiveState = "inactive"): this {
    this.units.set(name, {
      deps: depsOf(deps),
      active,
      result: "success",
      refusal: null,
      throws: false,
    });
    return this;
  }
  get(name: string): FakeUnit {
    const u = this.units.get(name);
    if (!u) throw new Error(`no fake unit ${name}`);
    return u;
  }
  deps(name: string): Deps {
    return this.get(name).deps;
  }
  state(name: string) {
    const u = this.units.get(name);
    return u ? { active: u.active, result: u.result, sub: u.active } : null;
  }
  canStart(name: string): string | null {
    return this.get(name).refusal;
  }
  dependents(kind: keyof Deps, name: string): ReadonlySet<string> {
    return new Set([...this.units].filter(([, u]) => u.deps[kind].includes(name)).map(([n]) => n));
  }
  run(name: string, type: JobType): void {
    this.runs.push(`${type} ${name}`);
    const u = this.get(name);
    if (u.throws) throw new Error(`${name} exploded`);
    // Like a real unit: stopping a stopped unit or starting an active one changes nothing.
    if (type === "stop" && u.active !== "inactive" && u.active !== "failed") u.active = "deactivating";
    if (type === "start" && u.active !== "active") u.active = "activating";
  }
  /** The unit reaches a state; the engine is told, as the manager does on stateChanged. */
  set(name: string, active: ActiveState, result = "success"): void {
    const u = this.get(name);
    u.active = active;
    u.result = result;
    this.engine.check(name);
  }
}

interface Finished {
  unit: string;
  type: JobType;
  result: JobResult;
  why?: string;
}

function setup(build: (u: FakeUnits) => void) {
  const units = new FakeUnits();
  build(units);
  const finished: Finished[] = [];
  const warnings: string[] = [];
  const engine = new JobEngine(
    units,
    (unit, type, result, why) => finished.push({ unit, type, result, why }),
    (m) => warnings.push(m),
  );
  units.engine = engine;
  return { units, engine, finished, warnings };
}

/** Resolves a promise's state without waiting: "pending" or its value. */
async function peek<T>(p: Promise<T>): Promise<T | "pending"> {
  return Promise.race([p, Promise.resolve().then(() => "pending" as const)]);
}

describe("pulling in dependencies", () => {
  test("Requires=, BindsTo= and Wants= are pulled in recursively; Requires= are needed first", async () => {
    const { units, engine } = setup((u) =>
      u
        .add("a", { requires: ["b"], wants: ["w"], after: ["b"] })
        .add("b", { bindsTo: ["c"], after: ["c"] })
        .add("c", { wants: ["d"] })
        .add("d")
        .add("w", { requires: ["w2"], after: ["w2"] })
        .add("w2"),
    );
    const p = engine.enqueue("a", "start", "test");
    expect(new Set(engine.list().map((j) => j.unit))).toEqual(new Set(["a", "b", "c", "d", "w", "w2"]));
    // a waits for b (After=), b for c; c, d, w, w2 have no ordering and start at once.
    expect(new Set(units.runs)).toEqual(new Set(["start c", "start d", "start w2"]));
    expect(engine.list().find((j) => j.unit === "a")?.state).toBe("waiting");
    units.set("c", "active");
    expect(units.runs).toContain("start b");
    expect(units.runs).not.toContain("start a");
    units.set("b", "active");
    expect(units.runs).toContain("start a");
    units.set("a", "active");
    expect(await p).toBe("done");
    for (const n of ["d", "w2", "w"]) units.set(n, "active");
    expect(engine.size).toBe(0);
  });

  test("a start of an active unit is no job, but its dependencies are still pulled in", async () => {
    const { units, engine } = setup((u) => u.add("a", { wants: ["b"] }, "active").add("b"));
    expect(await engine.enqueue("a", "start", "test")).toBe("done");
    expect(units.runs).toEqual(["start b"]);
    expect(engine.has("b", "start")).toBe(true);
    expect(engine.has("a")).toBe(false);
  });

  test("a wanted unit that cannot be found is ignored; a required one fails the start", async () => {
    const wanted = setup((u) => u.add("a", { wants: ["missing"] }));
    const p = wanted.engine.enqueue("a", "start", "test");
    wanted.units.set("a", "active");
    expect(await p).toBe("done");

    const required = setup((u) => u.add("a", { requires: ["missing"] }));
    void required.engine.enqueue("a", "start", "test");
    expect(required.finished).toEqual([{ unit: "a", type: "start", result: "dependency", why: "required unit missing not found" }]);
    expect(required.units.runs).toEqual([]);
  });

  // Was a bug: addStart() finished the new job before enqueue() attached the caller's waiter,
  // so enqueue() resolved "done" for a start that never ran.
  test("the caller sees 'dependency' when a required unit is not found", async () => {
    const { engine } = setup((u) => u.add("a", { requires: ["missing"] }));
    expect(await engine.enqueue("a", "start", "test")).toBe("dependency");
  });

  // systemd.unit(5), Requires=: without ordering both units start at the same time and the
  // dependant is not failed because the required unit is still activating.
  test("Requires= without After= starts both units together", async () => {
    const { units, engine } = setup((u) => u.add("w", { requires: ["w2"] }).add("w2"));
    const p = engine.enqueue("w", "start", "test");
    expect(new Set(units.runs)).toEqual(new Set(["start w", "start w2"]));
    units.set("w2", "active");
    units.set("w", "active");
    expect(await p).toBe("done");
  });

  test("enqueue throws for a unit that cannot be loaded", () => {
    const { engine } = setup((u) => u.add("a"));
    expect(() => engine.enqueue("nope", "start", "test")).toThrow("Unit nope not found.");
  });

  test("Requisite= is not pulled in: the start fails when the unit is not active", async () => {
    const { units, engine, finished } = setup((u) => u.add("a", { requisite: ["r"] }).add("r"));
    expect(await engine.enqueue("a", "start", "test")).toBe("dependency");
    expect(units.runs).toEqual([]);
    expect(finished[0]?.why).toBe("dependency r is not active");
  });

  test("Requisite= of an active unit lets the start run", async () => {
    const { units, engine } = setup((u) => u.add("a", { requisite: ["r"] }).add("r", {}, "active"));
    const p = engine.enqueue("a", "start", "test");
    expect(units.runs).toEqual(["start a"]);
    units.set("a", "active");
    expect(await p).toBe("done");
  });

  test("Conflicts= stops an active unit, and cancels a queued start of it", async () => {
    const active = setup((u) => u.add("a", { conflicts: ["x"] }).add("x", {}, "active"));
    const p = active.engine.enqueue("a", "start", "test");
    expect(active.units.runs).toEqual(["start a", "stop x"]);
    expect(active.engine.has("x", "stop")).toBe(true);
    active.units.set("x", "inactive");
    active.units.set("a", "active");
    expect(await p).toBe("done");
    expect(active.finished.map((f) => `${f.type} ${f.unit} ${f.result}`)).toEqual(["stop x done", "start a done"]);

    const inactive = setup((u) => u.add("a", { conflicts: ["x"] }).add("x"));
    inactive.engine.enqueue("a", "start", "test");
    expect(inactive.units.runs).toEqual(["start a"]); // nothing to stop

    const queued = setup((u) =>
      u
        .add("a", { conflicts: ["x"], after: ["b"] })
        .add("b")
        .add("x", { after: ["b"] }),
    );
    queued.engine.enqueue("b", "start", "test");
    const px = queued.engine.enqueue("x", "start", "test");
    queued.engine.enqueue("a", "start", "test");
    expect(await px).toBe("canceled");
    expect(queued.units.runs).toEqual(["start b", "stop x"]); // the stop of an inactive unit ...
    expect(queued.engine.has("x")).toBe(false); // ... completes at once
  });
});

describe("ordering", () => {
  test("After= and Before= order starts; unordered starts run at once", async () => {
    const { units, engine } = setup((u) =>
      u
        .add("t", { wants: ["a", "b", "c"] })
        .add("a")
        .add("b", { after: ["a"] })
        .add("c", { before: ["b"] }),
    );
    engine.enqueue("t", "start", "test");
    expect(new Set(units.runs)).toEqual(new Set(["start t", "start a", "start c"]));
    units.set("a", "active");
    expect(units.runs).not.toContain("start b"); // c (Before=b) still runs
    units.set("c", "active");
    expect(units.runs).toContain("start b");
  });

  test("stops run in reverse order: a unit ordered after another stops first", async () => {
    const { units, engine } = setup((u) =>
      u
        .add("a", {}, "active")
        .add("b", { after: ["a"] }, "active")
        .add("c", { before: ["a"] }, "active"),
    );
    const pb = engine.enqueue("b", "stop", "test");
    const pc = engine.enqueue("c", "stop", "test");
    const pa = engine.enqueue("a", "stop", "test");
    expect(units.runs).toEqual(["stop b", "stop c"]); // b is after a; a is not after c
    expect(engine.list().find((j) => j.unit === "a")?.state).toBe("waiting");
    units.set("b", "inactive");
    expect(units.runs).toEqual(["stop b", "stop c", "stop a"]);
    units.set("a", "inactive");
    units.set("c", "failed");
    expect([await pa, await pb, await pc]).toEqual(["done", "done", "done"]);
  });

  test("a start waits for the stop of a unit ordered either way", () => {
    const { units, engine } = setup((u) =>
      u
        .add("a", { after: ["s"] })
        .add("s", {}, "active")
        .add("z", { before: ["s2"] })
        .add("s2", {}, "active"),
    );
    engine.enqueue("s", "stop", "test");
    engine.enqueue("s2", "stop", "test");
    engine.enqueue("a", "start", "test");
    engine.enqueue("z", "start", "test");
    expect(units.runs).toEqual(["stop s", "stop s2"]);
    units.set("s", "inactive");
    expect(units.runs).toEqual(["stop s", "stop s2", "start a"]);
    units.set("s2", "inactive");
    expect(units.runs).toContain("start z");
  });
});

describe("results", () => {
  test("a failed start fails the queued starts that require it with 'dependency'", async () => {
    const { units, engine, finished } = setup((u) =>
      u
        .add("a", { requires: ["b"], after: ["b"] })
        .add("b", { wants: ["w"] })
        .add("c", { bindsTo: ["b"], after: ["b"] })
        .add("w", { after: ["b"] }),
    );
    const pa = engine.enqueue("a", "start", "test");
    const pc = engine.enqueue("c", "start", "test");
    expect(units.runs).toEqual(["start b"]);
    units.set("b", "failed", "exit-code");
    expect(await pa).toBe("dependency");
    expect(await pc).toBe("dependency");
    // A unit that only wanted b (and is ordered after it) still starts.
    expect(units.runs).toEqual(["start b", "start w"]);
    expect(new Set(finished.filter((f) => f.result === "dependency").map((f) => f.unit))).toEqual(new Set(["a", "c"]));
  });

  // Was a bug: finishing the first dependant dispatched (and failed) the next one, which the
  // loop over the snapshot then finished a second time (waiters and the log line twice).
  test("each job finishes once when a required start fails", () => {
    const { units, engine, finished } = setup((u) =>
      u
        .add("a", { requires: ["b"], after: ["b"] })
        .add("b")
        .add("c", { bindsTo: ["b"], after: ["b"] }),
    );
    engine.enqueue("a", "start", "test");
    engine.enqueue("c", "start", "test");
    units.set("b", "failed", "exit-code");
    expect(finished.map((f) => `${f.unit} ${f.result}`).sort()).toEqual(["a dependency", "b failed", "c dependency"]);
  });

  test("a start whose required unit went inactive before it ran fails with 'dependency'", async () => {
    const { units, engine } = setup((u) => u.add("a", { requires: ["b"], after: ["b"] }).add("b"));
    const p = engine.enqueue("a", "start", "test");
    units.set("b", "inactive"); // a oneshot-like success without staying active
    expect(await p).toBe("dependency");
    expect(units.runs).toEqual(["start b"]);
  });

  test("check(): active or inactive+success completes a start; failed or inactive+error fails it", async () => {
    const cases: [ActiveState, string, JobResult][] = [
      ["active", "success", "done"],
      ["reloading", "success", "done"],
      ["inactive", "success", "done"],
      ["inactive", "exit-code", "failed"],
      ["failed", "timeout", "failed"],
    ];
    for (const [state, result, expected] of cases) {
      const { units, engine } = setup((u) => u.add("a"));
      const p = engine.enqueue("a", "start", "test");
      units.set("a", "activating");
      expect(await peek(p)).toBe("pending");
      units.set("a", state, result);
      expect(await p).toBe(expected);
    }
  });

  test("check(): a stop is done at inactive or failed, not while deactivating", async () => {
    for (const end of ["inactive", "failed"] as const) {
      const { units, engine } = setup((u) => u.add("a", {}, "active"));
      const p = engine.enqueue("a", "stop", "test");
      units.set("a", "deactivating");
      expect(await peek(p)).toBe("pending");
      units.set("a", end, end === "failed" ? "signal" : "success");
      expect(await p).toBe("done");
    }
  });

  test("a stop of an inactive unit is no job", async () => {
    const { units, engine } = setup((u) => u.add("a"));
    expect(await engine.enqueue("a", "stop", "test")).toBe("done");
    expect(units.runs).toEqual([]);
  });

  test("a unit that disappears while its job runs fails the job", async () => {
    const { units, engine } = setup((u) => u.add("a"));
    const p = engine.enqueue("a", "start", "test");
    units.units.delete("a");
    engine.check("a");
    expect(await p).toBe("failed");
  });

  test("run() completing synchronously finishes the job at once", async () => {
    const { units, engine } = setup((u) => u.add("a"));
    const orig = units.run.bind(units);
    units.run = (n, t) => {
      orig(n, t);
      units.get(n).active = "active";
    };
    expect(await engine.enqueue("a", "start", "test")).toBe("done");
  });

  test("canStart() refusal fails the start without running it, and its dependants", async () => {
    const { units, engine, finished } = setup((u) => u.add("a", { requires: ["b"], after: ["b"] }).add("b"));
    units.get("b").refusal = "start limit hit";
    expect(await engine.enqueue("a", "start", "test")).toBe("dependency");
    expect(units.runs).toEqual([]);
    expect(finished).toContainEqual({ unit: "b", type: "start", result: "failed", why: "start limit hit" });
  });

  test("a unit that throws in run() fails its own job only", async () => {
    const { units, engine, finished } = setup((u) =>
      u
        .add("t", { wants: ["bad", "good"] })
        .add("bad")
        .add("good"),
    );
    units.get("bad").throws = true;
    const p = engine.enqueue("t", "start", "test");
    expect(finished).toContainEqual({ unit: "bad", type: "start", result: "failed", why: "internal error: bad exploded" });
    expect(units.runs).toEqual(["start t", "start bad", "start good"]);
    units.set("good", "active");
    units.set("t", "active");
    expect(await p).toBe("done");
    expect(engine.size).toBe(0);
  });
});

describe("replacing and cancelling jobs", () => {
  test("a stop replaces a queued start (canceled) and the other way round", async () => {
    const { units, engine } = setup((u) => u.add("a", { after: ["b"] }).add("b"));
    engine.enqueue("b", "start", "test");
    const start = engine.enqueue("a", "start", "test");
    expect(engine.has("a", "start")).toBe(true);
    const stop = engine.enqueue("a", "stop", "test");
    expect(await start).toBe("canceled");
    // a was never started: the stop runs and is done at once.
    expect(await stop).toBe("done");
    expect(units.runs).toEqual(["start b", "stop a"]);
    expect(engine.has("a")).toBe(false);

    // A running start is replaced by a stop that waits for the unit to go down.
    units.set("b", "active");
    const s2 = engine.enqueue("a", "start", "test");
    expect(units.runs).toEqual(["start b", "stop a", "start a"]);
    const st2 = engine.enqueue("a", "stop", "test");
    expect(await s2).toBe("canceled");
    expect(engine.has("a", "stop")).toBe(true);
    expect(units.runs).toEqual(["start b", "stop a", "start a", "stop a"]);
    units.set("a", "inactive");
    expect(await st2).toBe("done");

    // A start replaces a running stop.
    units.set("a", "active");
    const st3 = engine.enqueue("a", "stop", "test");
    const s3 = engine.enqueue("a", "start", "test");
    expect(await st3).toBe("canceled");
    expect(engine.has("a", "start")).toBe(true);
    units.set("a", "active");
    expect(await s3).toBe("done");
  });

  test("a second job of the same type joins the first", async () => {
    const { units, engine } = setup((u) => u.add("a"));
    const p1 = engine.enqueue("a", "start", "one");
    const p2 = engine.enqueue("a", "start", "two");
    expect(engine.size).toBe(1);
    expect(units.runs).toEqual(["start a"]);
    units.set("a", "active");
    expect([await p1, await p2]).toEqual(["done", "done"]);
  });

  test("cancelAll() cancels waiting and running jobs and starts nothing more", async () => {
    const { units, engine, finished } = setup((u) => u.add("a", { after: ["b"] }).add("b"));
    const pb = engine.enqueue("b", "start", "test");
    const pa = engine.enqueue("a", "start", "test");
    expect(
      engine
        .list()
        .map((j) => j.state)
        .sort(),
    ).toEqual(["running", "waiting"]);
    engine.cancelAll();
    expect([await pa, await pb]).toEqual(["canceled", "canceled"]);
    expect(engine.size).toBe(0);
    expect(units.runs).toEqual(["start b"]); // a was not started by b's cancellation
    expect(finished.every((f) => f.result === "canceled")).toBe(true);
    units.set("b", "active"); // a late state change is harmless
    expect(engine.size).toBe(0);
  });

  test("list() reports ids, types and waiting/running", () => {
    const { engine } = setup((u) => u.add("a", { after: ["b"] }).add("b"));
    engine.enqueue("b", "start", "test");
    engine.enqueue("a", "start", "test");
    const l = engine.list().sort((x, y) => x.id - y.id);
    expect(l).toEqual([
      { id: 1, unit: "b", type: "start", state: "running" },
      { id: 2, unit: "a", type: "start", state: "waiting" },
    ]);
  });
});

describe("propagated stops", () => {
  test("Requires=, BindsTo=, PartOf=, StopPropagatedFrom= on the stopped unit and its PropagatesStopTo= stop too, transitively", () => {
    const { units, engine } = setup((u) =>
      u
        .add("x", { propagatesStopTo: ["p"] }, "active")
        .add("r", { requires: ["x"] }, "active")
        .add("b", { bindsTo: ["x"] }, "active")
        .add("o", { partOf: ["x"] }, "active")
        .add("s", { stopPropagatedFrom: ["x"] }, "active")
        .add("p", {}, "active")
        .add("rr", { requires: ["r"] }, "active")
        .add("w", { wants: ["x"] }, "active"),
    );
    engine.enqueue("x", "stop", "test");
    expect(new Set(units.runs)).toEqual(new Set(["stop x", "stop r", "stop b", "stop o", "stop s", "stop p", "stop rr"]));
  });
});

describe("batch", () => {
  test("jobs queued in a batch run in their order, whatever order they were queued in", () => {
    const { units, engine } = setup((u) => u.add("a", { after: ["b"] }).add("b"));
    engine.batch(() => {
      engine.enqueue("a", "start", "test");
      engine.enqueue("b", "start", "test");
    });
    expect(units.runs).toEqual(["start b"]);
  });
});

describe("ordering cycles", () => {
  // systemd finds the cycle when it builds the transaction (transaction_verify_order): it drops
  // a job that does not matter to the anchor, and when every job in the cycle does (as here,
  // both are required) it refuses the transaction, logging the cycle.
  test("A Requires+After B and B Requires+After A: the start does not hang", async () => {
    const { units, engine, warnings } = setup((u) => u.add("A", { requires: ["B"], after: ["B"] }).add("B", { requires: ["A"], after: ["A"] }));
    let settled: JobResult | "threw" | "pending" = "pending";
    try {
      settled = await peek(engine.enqueue("A", "start", "test"));
    } catch {
      settled = "threw";
    }
    expect(settled).toBe("dependency");
    expect(units.runs).toEqual([]);
    expect(engine.size).toBe(0);
    expect(warnings).toEqual([
      "Found ordering cycle on A/start",
      "Found dependency on B/start",
      "Unable to break cycle starting with A/start; transaction order is cyclic",
    ]);
  });

  // With Wants= systemd deletes the wanted job B (it does not matter to the anchor), logs it,
  // and starts A.
  test("A Wants+After B and B Wants+After A: the cycle is broken and A starts", async () => {
    const { units, engine, warnings } = setup((u) => u.add("A", { wants: ["B"], after: ["B"] }).add("B", { wants: ["A"], after: ["A"] }));
    const p = engine.enqueue("A", "start", "test");
    expect(units.runs).toContain("start A");
    expect(units.runs).not.toContain("start B");
    expect(warnings).toContain("Job B/start deleted to break ordering cycle starting with A/start");
    units.set("A", "active");
    expect(await p).toBe("done");
  });
});
