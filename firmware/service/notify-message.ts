/**
 * sd_notify(3) messages: newline-separated KEY=VALUE assignments sent to $NOTIFY_SOCKET.
 * Parsing and interpretation are pure; what a unit does with them is service-unit.ts's job.
 */
import { parseBoolean } from "../unit/values.ts";

export interface NotifyUpdate {
  ready?: true;
  reloading?: true;
  stopping?: true;
  status?: string;
  mainPid?: number;
  /** WATCHDOG=1 pings, WATCHDOG=trigger fires the watchdog now. */
  watchdog?: "ping" | "trigger";
  /** WATCHDOG_USEC=: a new watchdog timeout. */
  watchdogUsec?: number;
  /** EXTEND_TIMEOUT_USEC=: the running start/reload/stop timeout ends no earlier than now + this. */
  extendTimeoutUsec?: number;
  errno?: number;
  /** FDSTORE=1 with FDNAME= (default "stored"), FDPOLL=0 to not watch the fds. */
  fdstore?: { name: string; poll: boolean };
  fdstoreRemove?: { name: string };
  /** BARRIER=1 (sd_notify_barrier): the fd sent along is closed, which releases the sender. */
  barrier?: true;
  /** Assignments that were not understood, for a debug line. */
  unknown: string[];
}

/** Splits a datagram into assignments; lines without "=" are ignored, later keys win. */
export function parseNotifyText(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

const FDNAME_RE = /^[\x21-\x39\x3b-\x7e]{1,255}$/; // printable, no ":" (systemd's fdname_is_valid)

export function interpretNotify(fields: Map<string, string>): NotifyUpdate {
  const u: NotifyUpdate = { unknown: [] };
  for (const [k, v] of fields) {
    switch (k) {
      case "READY":
        if (v === "1") u.ready = true;
        break;
      case "RELOADING":
        if (v === "1") u.reloading = true;
        break;
      case "STOPPING":
        if (v === "1") u.stopping = true;
        break;
      case "STATUS":
        u.status = v.slice(0, 4096);
        break;
      case "MAINPID": {
        const pid = Number(v);
        if (/^\d+$/.test(v) && pid > 1) u.mainPid = pid;
        else u.unknown.push(`${k}=${v}`);
        break;
      }
      case "WATCHDOG":
        if (v === "1") u.watchdog = "ping";
        else if (v === "trigger") u.watchdog = "trigger";
        else u.unknown.push(`${k}=${v}`);
        break;
      case "WATCHDOG_USEC":
      case "EXTEND_TIMEOUT_USEC": {
        if (!/^\d+$/.test(v)) {
          u.unknown.push(`${k}=${v}`);
          break;
        }
        if (k === "WATCHDOG_USEC") u.watchdogUsec = Number(v);
        else u.extendTimeoutUsec = Number(v);
        break;
      }
      case "ERRNO":
        if (/^\d+$/.test(v)) u.errno = Number(v);
        break;
      case "FDSTORE":
        if (v === "1") u.fdstore = { name: "stored", poll: true };
        break;
      case "FDSTOREREMOVE":
        if (v === "1") u.fdstoreRemove = { name: "" };
        break;
      case "BARRIER":
        if (v === "1") u.barrier = true;
        break;
      case "FDNAME":
      case "FDPOLL":
      case "MONOTONIC_USEC":
      case "NOTIFYACCESS":
        break;
      default:
        u.unknown.push(`${k}=${v}`);
    }
  }
  // FDPOLL=0: the manager does not watch the stored fds for POLLHUP/POLLERR (systemd parses it as a boolean).
  // An unparsable value leaves the default, as systemd (which logs and ignores it).
  const fdpoll = fields.get("FDPOLL");
  if (u.fdstore && fdpoll !== undefined) u.fdstore.poll = booleanOr(fdpoll, true);
  const name = fields.get("FDNAME");
  if (name !== undefined && FDNAME_RE.test(name)) {
    if (u.fdstore) u.fdstore.name = name;
    if (u.fdstoreRemove) u.fdstoreRemove.name = name;
  }
  if (u.fdstoreRemove && u.fdstoreRemove.name === "") delete u.fdstoreRemove; // needs a name
  return u;
}

function booleanOr(v: string, fallback: boolean): boolean {
  try {
    return parseBoolean(v);
  } catch {
    return fallback;
  }
}

export type NotifyAccess = "none" | "main" | "exec" | "all";

/**
 * Whether a message from senderPid is accepted (systemd's service_notify_message_authorized()).
 * Returns null when accepted, else the reason for the log.
 */
export function notifyRefusal(
  access: NotifyAccess,
  senderPid: number,
  mainPid: number | null,
  controlPid: number | null,
  inUnit: (pid: number) => boolean,
): string | null {
  switch (access) {
    case "none":
      return "notifications are disabled (NotifyAccess=none)";
    case "main":
      if (mainPid !== null && senderPid === mainPid) return null;
      return mainPid !== null ? `reception only permitted for main PID ${mainPid}` : "reception only permitted for the main process, which is not known yet";
    case "exec":
      if (senderPid === mainPid || senderPid === controlPid) return null;
      return `reception only permitted for main PID${mainPid ? ` ${mainPid}` : ""} and control PID${controlPid ? ` ${controlPid}` : ""}`;
    case "all":
      return senderPid === mainPid || senderPid === controlPid || inUnit(senderPid) ? null : "the sender is not part of this service";
  }
}
