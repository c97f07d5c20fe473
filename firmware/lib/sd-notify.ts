/**
 * sd_notify(3) for services written in TypeScript: READY=1, STATUS=, WATCHDOG=1, FDSTORE=1
 * with fds, sent to $NOTIFY_SOCKET (a path or an @abstract name). The receiver learns the
 * sender's pid from the kernel, so messages must come from the process NotifyAccess= allows.
 */
import * as n from "../native.ts";
import { AF_UNIX, SOCK_DGRAM } from "../sys/constants.ts";

export type NotifyState = string | Record<string, string | number>;

function encodeState(s: NotifyState): string {
  return typeof s === "string"
    ? s
    : Object.entries(s)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n");
}

/** Sends one notification; false when $NOTIFY_SOCKET is unset (not run under a service manager). */
export function sdNotify(state: NotifyState, opts: { fds?: number[]; env?: Record<string, string | undefined> } = {}): boolean {
  const path = (opts.env ?? process.env).NOTIFY_SOCKET;
  if (!path) return false;
  const addr = path.startsWith("@") ? { family: "unix" as const, path: path.slice(1), abstract: true } : { family: "unix" as const, path, abstract: false };
  const fd = n.socket(AF_UNIX, SOCK_DGRAM, 0, true);
  try {
    n.connect(fd, addr);
    const data = new TextEncoder().encode(encodeState(state));
    if (opts.fds?.length) n.sendFds(fd, data, opts.fds);
    else n.send(fd, data);
  } finally {
    n.close(fd);
  }
  return true;
}

/** The watchdog interval the manager expects pings within (µs), or null when no watchdog is set for this process. */
export function watchdogUsec(env: Record<string, string | undefined> = process.env, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec;
}
