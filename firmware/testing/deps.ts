/** A unit's Deps for tests: every list empty except those given. */
import { DEP_KINDS, type Deps } from "../daemon/unit-graph.ts";

export function depsOf(d: Partial<Deps> = {}): Deps {
  const out = {} as Deps;
  for (const k of DEP_KINDS) out[k] = d[k] ?? [];
  return out;
}
