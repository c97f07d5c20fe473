/**
 * daemon-reload: reads every unit file again. Running units take their new configuration;
 * a socket keeps its open fds unless its ports changed (then, while it only listens, it is
 * closed and opened again); a unit whose new file has errors keeps its old configuration;
 * an active unit whose file is gone keeps running with its last configuration (systemd keeps
 * it loaded: LoadState=not-found, still active) and is forgotten once it stops; an inactive one
 * is forgotten at once. The manager's state is reached through ReloadContext.
 */
import type { Logger } from "../core/log.ts";
import type { ReloadReport } from "../control/handlers.ts";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";
import { formatDiagnostic } from "../unit/diagnostics.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { parseUnitName } from "../unit/unit-name.ts";
import { reloadDecision } from "./config-change.ts";
import type { JobResult, JobType } from "./job-engine.ts";
import { unitType } from "./unit-types.ts";

export interface ReloadContext {
  listNames(): string[];
  /** Units that follow their unit file (not Accept=yes instances). */
  running(): UnitRuntime[];
  /** Forgets every parsed file and rebuilds the dependency graph. */
  reread(): void;
  loadedUnit(name: string): LoadedUnit;
  pin(name: string, cfg: LoadedUnit): void;
  current(name: string): UnitRuntime | undefined;
  enqueue(name: string, type: JobType, reason: string): Promise<JobResult>;
  forget(u: UnitRuntime): void;
  /** Units running on without their unit file (this reload adds and clears them). */
  filesGone: Set<string>;
  logger: Logger;
}

const INACTIVE = new Set(["inactive", "failed"]);

export function reloadUnitFiles(m: ReloadContext): ReloadReport {
  const before = new Set(m.listNames());
  const running = m.running();
  m.reread();
  const after = m.listNames();
  const report: ReloadReport = { added: after.filter((x) => !before.has(x)), changed: [], removed: [], rejected: [], reopened: [] };
  const verifyErrors = (name: string) => (cfg: LoadedUnit) =>
    (unitType(parseUnitName(name)?.type ?? "")?.verify(cfg) ?? []).filter((d) => d.level === "error").map(formatDiagnostic);
  for (const u of running) {
    const cfg = m.loadedUnit(u.name);
    const d = reloadDecision(u.config, cfg, verifyErrors(u.name));
    const wasGone = m.filesGone.has(u.name);
    if (d.kind === "removed") m.filesGone.add(u.name);
    else m.filesGone.delete(u.name);
    if (d.kind === "removed") {
      report.removed.push(u.name);
      if (INACTIVE.has(u.activeState())) {
        m.filesGone.delete(u.name);
        m.forget(u);
      } else if (!wasGone) {
        m.logger.notice("Unit file removed; the unit keeps running with its last configuration until it stops.", u.name);
        u.unitFileRemoved();
      }
    } else if (d.kind === "rejected") {
      report.rejected.push({ unit: u.name, errors: d.errors });
      for (const e of d.errors) m.logger.error(e, u.name);
      m.logger.error("New configuration has errors; the unit keeps its previous one.", u.name);
      m.pin(u.name, u.config);
    } else if (d.kind === "same") {
      u.config = cfg; // same settings; file/line bookkeeping may differ
    } else {
      report.changed.push(u.name);
      if (u.reconfigure(cfg, d.change) === "reopen") {
        report.reopened.push(u.name);
        m.logger.info("Listening settings changed, reopening the socket.", u.name);
        void m.enqueue(u.name, "stop", "reload").then(() => m.enqueue(u.name, "start", "reload"));
      }
    }
  }
  m.logger.info(
    `Reloaded unit files: ${report.changed.length} changed, ${report.added.length} added, ${report.removed.length} removed, ${report.rejected.length} rejected.`,
  );
  return report;
}
