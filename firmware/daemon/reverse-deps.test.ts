import { describe, expect, test } from "bun:test";
import { ReverseDeps } from "./reverse-deps.ts";
import { depsOf } from "../testing/deps.ts";
import type { Deps } from "./unit-graph.ts";

function index(table: Record<string, Partial<Deps>>) {
  const t = new Map(Object.entries(table).map(([k, v]) => [k, depsOf(v)]));
  const r = new ReverseDeps(
    (n) => t.get(n)!,
    () => t.keys(),
  );
  return { t, r };
}

describe("reverse dependencies of the loaded units", () => {
  test("who names a unit, per kind; nobody is an empty set", () => {
    const { r } = index({ "a.service": { conflicts: ["b.service"], requires: ["c.service"] }, "d.service": { conflicts: ["b.service"] } });
    r.add("a.service");
    r.add("d.service");
    expect([...r.of("conflicts", "b.service")].sort()).toEqual(["a.service", "d.service"]);
    expect([...r.of("requires", "c.service")]).toEqual(["a.service"]);
    expect(r.of("requires", "b.service").size).toBe(0);
    expect(r.of("bindsTo", "x.service").size).toBe(0);
  });

  test("a forgotten unit leaves the index, and only the entries it made", () => {
    const { r } = index({ "a.service": { before: ["t.target"] }, "b.service": { before: ["t.target"] } });
    r.add("a.service");
    r.add("b.service");
    r.remove("a.service");
    expect([...r.of("before", "t.target")]).toEqual(["b.service"]);
    r.remove("b.service");
    r.remove("b.service"); // twice: nothing happens
    expect(r.of("before", "t.target").size).toBe(0);
  });

  test("adding again replaces the unit's old entries with its current deps", () => {
    const { t, r } = index({ "a.service": { partOf: ["old.service"] } });
    r.add("a.service");
    t.set("a.service", depsOf({ partOf: ["new.service"] }));
    r.add("a.service");
    expect(r.of("partOf", "old.service").size).toBe(0);
    expect([...r.of("partOf", "new.service")]).toEqual(["a.service"]);
  });

  test("after invalidate() (daemon-reload) the next question rebuilds from every loaded unit's current deps", () => {
    const { t, r } = index({ "a.service": { bindsTo: ["x.device"] } });
    r.add("a.service");
    t.set("a.service", depsOf({ bindsTo: ["y.device"] }));
    t.set("b.service", depsOf({ bindsTo: ["x.device"] }));
    r.invalidate();
    r.add("c.service"); // not loaded: the rebuild goes by the loaded set only
    expect([...r.of("bindsTo", "x.device")]).toEqual(["b.service"]);
    expect([...r.of("bindsTo", "y.device")]).toEqual(["a.service"]);
  });
});
