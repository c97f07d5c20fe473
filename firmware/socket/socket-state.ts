/**
 * The socket unit's states, as data (systemd's SocketState, unit-def.h and socket.c):
 * what each state reports as ActiveState, whether the listening fds stay open in it, and
 * which states may follow it. socket-unit.ts refuses any transition not listed here.
 */
import type { ActiveState } from "../runtime/unit-runtime.ts";

export const SOCKET_STATE_INFO = {
  dead: { active: "inactive", fdsOpen: false },
  "start-pre": { active: "activating", fdsOpen: false },
  "start-open": { active: "activating", fdsOpen: true },
  "start-chown": { active: "activating", fdsOpen: true },
  "start-post": { active: "activating", fdsOpen: true },
  listening: { active: "active", fdsOpen: true },
  deferred: { active: "active", fdsOpen: true },
  running: { active: "active", fdsOpen: true },
  "stop-pre": { active: "deactivating", fdsOpen: true },
  "stop-pre-sigterm": { active: "deactivating", fdsOpen: true },
  "stop-pre-sigkill": { active: "deactivating", fdsOpen: true },
  "stop-post": { active: "deactivating", fdsOpen: false },
  "final-sigterm": { active: "deactivating", fdsOpen: false },
  "final-sigkill": { active: "deactivating", fdsOpen: false },
  failed: { active: "failed", fdsOpen: false },
  cleaning: { active: "maintenance", fdsOpen: false },
} as const satisfies Record<string, { active: ActiveState; fdsOpen: boolean }>;

export type SocketState = keyof typeof SOCKET_STATE_INFO;

const STOP_CHAIN: SocketState[] = ["stop-pre", "stop-pre-sigterm", "stop-pre-sigkill", "stop-post", "final-sigterm", "final-sigkill", "dead", "failed"];

/**
 * Allowed successors of each state. Like systemd, a step with nothing to do is skipped
 * (start-open -> listening without SocketUser= or ExecStartPost=; listening -> dead without
 * ExecStopPre=/ExecStopPost=), so later states of a chain are reachable directly.
 */
export const SOCKET_TRANSITIONS: Record<SocketState, readonly SocketState[]> = {
  dead: ["start-pre", "start-open", "failed"],
  failed: ["start-pre", "start-open", "dead", "cleaning"],
  "start-pre": ["start-open", ...STOP_CHAIN],
  "start-open": ["start-chown", "start-post", "listening", ...STOP_CHAIN],
  "start-chown": ["start-post", "listening", ...STOP_CHAIN],
  "start-post": ["listening", ...STOP_CHAIN],
  listening: ["running", "deferred", ...STOP_CHAIN],
  deferred: ["running", "listening", ...STOP_CHAIN],
  running: ["listening", ...STOP_CHAIN],
  "stop-pre": STOP_CHAIN.slice(1),
  "stop-pre-sigterm": STOP_CHAIN.slice(2),
  "stop-pre-sigkill": STOP_CHAIN.slice(3),
  "stop-post": STOP_CHAIN.slice(4),
  "final-sigterm": STOP_CHAIN.slice(5),
  "final-sigkill": STOP_CHAIN.slice(6),
  cleaning: ["dead", "failed"],
};

export const SOCKET_RESULTS = [
  "success",
  "resources",
  "timeout",
  "exit-code",
  "signal",
  "core-dump",
  "start-limit-hit",
  "trigger-limit-hit",
  "service-start-limit-hit",
] as const;
export type SocketResult = (typeof SOCKET_RESULTS)[number];

export function isStartingState(s: SocketState): boolean {
  return s === "start-pre" || s === "start-open" || s === "start-chown" || s === "start-post";
}

export function isStoppingState(s: SocketState): boolean {
  return SOCKET_STATE_INFO[s].active === "deactivating";
}
