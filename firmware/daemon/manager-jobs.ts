/**
 * The manager's job engine: its units reached by name (loaded on demand), and job results and
 * ordering cycles logged as systemd logs them.
 */
import type { Logger } from "../core/log.ts";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";
import { JobEngine } from "./job-engine.ts";
import type { Deps } from "./unit-graph.ts";
import type { DepKind } from "./reverse-deps.ts";

export interface JobManager {
  unit(name: string): UnitRuntime | null;
  deps(name: string): Deps;
  /** The loaded units naming name in their kind= dependency. */
  dependents(kind: DepKind, name: string): ReadonlySet<string>;
  logger: Logger;
}

export function managerJobEngine(m: JobManager): JobEngine {
  return new JobEngine(
    {
      deps: (name) => m.deps(name),
      state: (name) => {
        const u = m.unit(name);
        return u ? { active: u.activeState(), result: u.result, sub: u.subState() } : null;
      },
      canStart: (name) => {
        const u = m.unit(name);
        return u ? u.canStart() : `Unit ${name} not loaded.`;
      },
      run: (name, type) => {
        const u = m.unit(name)!;
        if (type === "start") u.start();
        else u.stop();
      },
      dependents: (kind, name) => m.dependents(kind, name),
    },
    (unit, type, result, why) => {
      if (result === "done") m.logger.debug(`Job ${unit}/${type} finished, result=${result}`);
      else if (result !== "canceled") m.logger.warning(`Job ${unit}/${type} finished, result=${result}${why ? `: ${why}` : ""}`, unit);
    },
    (message, unit) => m.logger.warning(message, unit),
  );
}
