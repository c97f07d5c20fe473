/**
 * Reverse dependencies of the loaded units: which units name X in their Conflicts=, Requires=,
 * Before=, ... (systemd keeps both directions in each unit's dependency hashmaps; here one index
 * answers for all). Kept up to date as units load and go, so "who conflicts with X" costs the
 * answer's size, not a walk over every unit: with many Accept=yes instances loaded, each
 * connection's job would otherwise look at all of them. Pure: deps come from a lookup function.
 */
import type { Deps } from "./unit-graph.ts";

export type DepKind = keyof Deps;

const NONE: ReadonlySet<string> = new Set();

export class ReverseDeps {
  /** The deps each unit was indexed with (removed with exactly those). */
  private readonly indexed = new Map<string, Deps>();
  /** kind -> target -> units naming target in that kind. */
  private readonly by = new Map<DepKind, Map<string, Set<string>>>();
  /** Whether the index must be rebuilt from scratch (after a daemon-reload). */
  private stale = false;

  constructor(
    private readonly deps: (name: string) => Deps,
    private readonly loaded: () => Iterable<string>,
  ) {}

  /** A unit was loaded (or its deps changed): index what it names. */
  add(name: string): void {
    if (this.stale) return; // the rebuild picks it up
    this.remove(name);
    const d = this.deps(name);
    this.indexed.set(name, d);
    for (const kind of Object.keys(d) as DepKind[]) {
      let targets = this.by.get(kind);
      if (!targets) this.by.set(kind, (targets = new Map()));
      for (const t of d[kind]) {
        let s = targets.get(t);
        if (!s) targets.set(t, (s = new Set()));
        s.add(name);
      }
    }
  }

  /** A unit was forgotten. */
  remove(name: string): void {
    const d = this.indexed.get(name);
    if (!d) return;
    this.indexed.delete(name);
    for (const kind of Object.keys(d) as DepKind[]) {
      const targets = this.by.get(kind)!;
      for (const t of d[kind]) {
        const s = targets.get(t);
        if (!s) continue;
        s.delete(name);
        if (s.size === 0) targets.delete(t);
      }
    }
  }

  /** Every unit's deps may have changed (daemon-reload): rebuilt on the next question. */
  invalidate(): void {
    this.stale = true;
  }

  /** The loaded units naming target in their kind= dependency. */
  of(kind: DepKind, target: string): ReadonlySet<string> {
    if (this.stale) this.rebuild();
    return this.by.get(kind)?.get(target) ?? NONE;
  }

  private rebuild(): void {
    this.stale = false;
    this.indexed.clear();
    this.by.clear();
    for (const name of [...this.loaded()]) this.add(name);
  }
}
