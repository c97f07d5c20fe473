/**
 * Restart=: whether a service that ended with this result (and main exit) is started again,
 * with RestartPreventExitStatus= and RestartForceExitStatus= first, as in systemd's
 * service_shall_restart(). Pure.
 */
import type { ExitInfo } from "../exec/spawn.ts";
import type { ServiceConfig } from "../unit/service-config.ts";
import type { ServiceResult } from "./service-state.ts";

export function shouldRestart(cfg: ServiceConfig, r: ServiceResult, e: ExitInfo | null): boolean {
  if (e) {
    if (e.code !== null && cfg.restartPreventExitStatus.codes.includes(e.code)) return false;
    if (e.signal !== null && cfg.restartPreventExitStatus.signals.includes(e.signal)) return false;
    if (e.code !== null && cfg.restartForceExitStatus.codes.includes(e.code)) return true;
    if (e.signal !== null && cfg.restartForceExitStatus.signals.includes(e.signal)) return true;
  }
  switch (cfg.restart) {
    case "no":
      return false;
    // A start skipped by ExecCondition= is never restarted (systemd's SERVICE_SKIP_CONDITION).
    case "always":
      return r !== "start-limit-hit" && r !== "exec-condition";
    case "on-success":
      return r === "success";
    case "on-failure":
      return r !== "success" && r !== "start-limit-hit" && r !== "exec-condition";
    case "on-abnormal":
      return r === "signal" || r === "core-dump" || r === "timeout" || r === "watchdog";
    case "on-watchdog":
      return r === "watchdog";
    case "on-abort":
      return r === "signal" || r === "core-dump";
  }
}

/**
 * The delay before the n-th automatic restart (n counts from 1): RestartSec=, growing with
 * RestartSteps= towards RestartMaxDelaySec= geometrically (systemd's service_restart_usec_next()).
 */
export function restartDelayUsec(cfg: ServiceConfig, n: number): number {
  const base = cfg.restartUsec;
  const max = cfg.restartMaxDelayUsec;
  if (n <= 1 || cfg.restartSteps === 0 || base === 0 || max === undefined || max === Infinity || base >= max) return base;
  if (n > cfg.restartSteps) return max;
  return Math.round(base * (max / base) ** ((n - 1) / cfg.restartSteps));
}
