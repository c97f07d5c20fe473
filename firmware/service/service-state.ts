/**
 * The service unit's states, as data (systemd's ServiceState): the ActiveState each reports
 * and the states that may follow. service-unit.ts refuses transitions not listed here.
 */
import type { ActiveState } from "../runtime/unit-runtime.ts";

export const SERVICE_STATE_INFO = {
  dead: "inactive",
  condition: "activating",
  "start-pre": "activating",
  start: "activating",
  "start-post": "activating",
  running: "active",
  exited: "active",
  reload: "reloading",
  "reload-signal": "reloading",
  "reload-notify": "reloading",
  stop: "deactivating",
  "stop-watchdog": "deactivating",
  "stop-sigterm": "deactivating",
  "stop-sigkill": "deactivating",
  "stop-post": "deactivating",
  "final-watchdog": "deactivating",
  "final-sigterm": "deactivating",
  "final-sigkill": "deactivating",
  failed: "failed",
  "auto-restart": "activating",
  cleaning: "maintenance",
} as const satisfies Record<string, ActiveState>;

export type ServiceState = keyof typeof SERVICE_STATE_INFO;

const STOPPING: ServiceState[] = ["stop", "stop-watchdog", "stop-sigterm", "stop-sigkill", "stop-post", "final-watchdog", "final-sigterm", "final-sigkill"];
const ENDS: ServiceState[] = ["dead", "failed", "auto-restart"];

export const SERVICE_TRANSITIONS: Record<ServiceState, readonly ServiceState[]> = {
  dead: ["condition", "start-pre", "start", "start-post", "running", "exited", "failed"],
  failed: ["condition", "start-pre", "start", "start-post", "running", "exited", "dead", "cleaning"],
  "auto-restart": ["condition", "start-pre", "start", "start-post", "running", "exited", "dead", "failed"],
  condition: ["start-pre", "start", "start-post", "running", "exited", ...STOPPING, ...ENDS],
  "start-pre": ["start", "start-post", "running", "exited", ...STOPPING, ...ENDS],
  start: ["start-post", "running", "exited", ...STOPPING, ...ENDS],
  "start-post": ["running", "exited", ...STOPPING, ...ENDS],
  running: ["reload", "reload-signal", "reload-notify", "exited", ...STOPPING, ...ENDS],
  exited: ["reload", "reload-signal", "running", ...STOPPING, ...ENDS],
  reload: ["running", "exited", ...STOPPING, ...ENDS],
  "reload-signal": ["running", "reload-notify", ...STOPPING, ...ENDS],
  "reload-notify": ["running", ...STOPPING, ...ENDS],
  stop: ["stop-sigterm", "stop-sigkill", "stop-watchdog", "stop-post", "final-sigterm", "final-sigkill", ...ENDS],
  "stop-watchdog": ["stop-sigkill", "stop-post", "final-sigterm", "final-sigkill", ...ENDS],
  "stop-sigterm": ["stop-sigkill", "stop-post", "final-sigterm", "final-sigkill", ...ENDS],
  "stop-sigkill": ["stop-post", "final-sigterm", "final-sigkill", ...ENDS],
  "stop-post": ["final-watchdog", "final-sigterm", "final-sigkill", ...ENDS],
  "final-watchdog": ["final-sigkill", ...ENDS],
  "final-sigterm": ["final-sigkill", ...ENDS],
  "final-sigkill": ENDS,
  cleaning: ["dead", "failed"],
};

export const SERVICE_RESULTS = [
  "success",
  "protocol",
  "timeout",
  "exit-code",
  "signal",
  "core-dump",
  "watchdog",
  "start-limit-hit",
  "resources",
  "oom-kill",
  "exec-condition",
  "dependency",
] as const;
export type ServiceResult = (typeof SERVICE_RESULTS)[number];

export function isStopping(s: ServiceState): boolean {
  return STOPPING.includes(s);
}
