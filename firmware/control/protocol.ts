/**
 * The control socket's protocol: one JSON request per line from the client, one JSON reply
 * per line from the daemon. `logs --follow` keeps the connection and sends one record per line
 * until the client closes it. Pure types and framing.
 */
import type { LogRecord } from "../core/log.ts";

export const DEFAULT_CONTROL_PATH = "/run/bunit/control";

export const COMMANDS = [
  "status",
  "list-units",
  "list-sockets",
  "start",
  "stop",
  "restart",
  "reload",
  "cat",
  "show",
  "logs",
  "daemon-reexec",
  "reload-unit",
  "reload-or-restart",
  "reload-or-try-restart",
  "list-dependencies",
  "list-jobs",
  "clean",
  "fdstore",
] as const;
export type ControlCommand = (typeof COMMANDS)[number];

/** Commands that change what runs: allowed to root and the configured group only. */
export const MUTATING: ReadonlySet<ControlCommand> = new Set([
  "start",
  "stop",
  "restart",
  "reload",
  "daemon-reexec",
  "reload-unit",
  "reload-or-restart",
  "reload-or-try-restart",
  "clean",
]);

export interface ControlRequest {
  command: ControlCommand;
  units: string[];
  all?: boolean;
  lines?: number;
  follow?: boolean;
  /** start/stop/restart/reload UNIT: queue the jobs and answer at once (systemctl --no-block). */
  noBlock?: boolean;
  /** list-dependencies --type=: the unit types shown (socket, service, ...); absent: all. */
  types?: string[];
  /** clean --what=: configuration, state, cache, logs, runtime, fdstore, all; absent: runtime and cache. */
  what?: string[];
}

/** code: the exit status the CLI should end with (systemctl's: 4 no such unit, 5 job not queued). */
export type ControlReply = { ok: true; data: unknown } | { ok: false; error: string; code?: number };
/** A followed record, or the marker for records a slow reader missed. */
export type FollowLine = { record: LogRecord } | { dropped: number };

/** The largest request the daemon reads; anything longer is refused. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export function isCommand(s: string): s is ControlCommand {
  return (COMMANDS as readonly string[]).includes(s);
}

/** Validates a request line; throws a message for the client on bad input. */
export function parseRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error("request is not JSON");
  }
  if (typeof v !== "object" || v === null) throw new Error("request is not an object");
  const o = v as Record<string, unknown>;
  if (typeof o.command !== "string" || !isCommand(o.command)) throw new Error(`unknown command ${JSON.stringify(o.command)}`);
  const units = o.units ?? [];
  if (!Array.isArray(units) || units.some((u) => typeof u !== "string")) throw new Error("units must be a list of strings");
  const req: ControlRequest = { command: o.command, units: units as string[] };
  if (o.all !== undefined) req.all = o.all === true;
  if (o.follow !== undefined) req.follow = o.follow === true;
  if (o.noBlock !== undefined) req.noBlock = o.noBlock === true;
  if (o.what !== undefined) {
    if (!Array.isArray(o.what) || o.what.some((t) => typeof t !== "string")) throw new Error("what must be a list of strings");
    req.what = o.what as string[];
  }
  if (o.types !== undefined) {
    if (!Array.isArray(o.types) || o.types.some((t) => typeof t !== "string")) throw new Error("types must be a list of strings");
    req.types = o.types as string[];
  }
  if (o.lines !== undefined) {
    if (typeof o.lines !== "number" || !Number.isInteger(o.lines) || o.lines < 0) throw new Error("lines must be a non-negative integer");
    req.lines = o.lines;
  }
  return req;
}
