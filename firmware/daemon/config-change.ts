/**
 * What a daemon-reload changed for one unit: nothing, only settings that apply from the next
 * start, or a socket's ports (anything that decides how its fds are opened). Pure.
 */
import type { LoadedUnit } from "../unit/unit-file.ts";
import { formatDiagnostic } from "../unit/diagnostics.ts";
import type { SocketConfig } from "../unit/socket-config.ts";

export type ConfigChange = "none" | "settings" | "ports";

/** Socket settings that do not touch the open fds: limits, commands, the service side. */
const SOCKET_RUNTIME_KEYS = new Set<keyof SocketConfig>([
  "maxConnections",
  "maxConnectionsPerSource",
  "triggerLimitIntervalUsec",
  "triggerLimitBurst",
  "pollLimitIntervalUsec",
  "pollLimitBurst",
  "deferTrigger",
  "deferTriggerMaxUsec",
  "timeoutUsec",
  "execStartPre",
  "execStartPost",
  "execStopPre",
  "execStopPost",
  "exec",
  "kill",
  "service",
  "flushPending",
  "fileDescriptorName",
  "passFileDescriptorsToExec",
  "usbActivation",
  "usbEndpointNames",
]);

/** JSON of a value without the bookkeeping that changes when only lines move (file, line). */
function canon(v: unknown): string {
  return JSON.stringify(v, (k, x) => (k === "file" || k === "line" ? undefined : x instanceof Uint8Array ? Array.from(x) : x));
}

function withoutBookkeeping(u: LoadedUnit): unknown {
  const { diagnostics, keyLines, ...rest } = u;
  void diagnostics;
  void keyLines;
  return rest;
}

export function configChange(before: LoadedUnit, after: LoadedUnit): ConfigChange {
  if (canon(withoutBookkeeping(before)) === canon(withoutBookkeeping(after))) return "none";
  if (before.socket && after.socket) {
    const fdSide = (c: SocketConfig) => Object.fromEntries(Object.entries(c).filter(([k]) => !SOCKET_RUNTIME_KEYS.has(k as keyof SocketConfig)));
    if (canon(fdSide(before.socket)) !== canon(fdSide(after.socket))) return "ports";
  }
  return "settings";
}

/** What daemon-reload does with one running unit, given its new configuration. */
export type ReloadDecision =
  | { kind: "removed" }
  | { kind: "rejected"; errors: string[] }
  | { kind: "same" }
  | { kind: "changed"; change: "settings" | "ports" };

/** verify: the unit type's checks of a loaded configuration, as formatted error lines. */
export function reloadDecision(before: LoadedUnit, after: LoadedUnit, verifyErrors: (cfg: LoadedUnit) => string[]): ReloadDecision {
  if (after.loadState === "not-found") return { kind: "removed" };
  if (after.loadState !== "loaded") {
    const errors = after.diagnostics.filter((d) => d.level === "error").map(formatDiagnostic);
    return { kind: "rejected", errors: errors.length ? errors : [`load state ${after.loadState}`] };
  }
  const errors = verifyErrors(after);
  if (errors.length) return { kind: "rejected", errors };
  const change = configChange(before, after);
  return change === "none" ? { kind: "same" } : { kind: "changed", change };
}
