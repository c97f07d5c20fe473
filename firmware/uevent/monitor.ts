/**
 * A uevent monitor: a NETLINK_KOBJECT_UEVENT socket on the kernel's group, every message
 * validated (uevent.ts: sender port 0, uid 0, not truncated, well-formed), forged or broken
 * ones dropped with the reason reported. When the socket overflows (ENOBUFS: events were
 * lost), the monitor says so and rescans /sys for the subsystems it was asked to coldplug, so
 * a listener's view of which devices exist is right again.
 *
 *   const m = UeventMonitor.open({ coldplug: ["net"] });   // { watcher } too; default n.fdWatcher()
 *   m.onEvent((ev) => ...);          // kernel events, and "coldplug" add events after a rescan
 *   m.onReject((why, bytes) => ...); // forged, truncated or malformed messages
 *   m.coldplug();                    // devices present now, as add events
 */
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { errorText } from "../core/errors.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import * as n from "../native.ts";
import {
  AF_NETLINK,
  EPOLLIN,
  F_GETFL,
  F_SETFL,
  MSG_TRUNC,
  O_NONBLOCK,
  SO_PASSCRED,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../sys/constants.ts";
import { isErrno } from "../sys/errno.ts";
import { parseKernelUevent, rejectSender, ueventFromSysfs, UEVENT_MAX, type Uevent } from "./uevent.ts";

export const NETLINK_KOBJECT_UEVENT = 15;
/** The kernel multicasts uevents on group 1 (udevd rebroadcasts on group 2). */
export const KERNEL_GROUP = 1;

export interface MonitorOptions {
  /** Subsystems to rescan (from /sys/class) on coldplug() and after an overflow. */
  coldplug?: string[];
  /** Receive buffer (SO_RCVBUFFORCE as root, SO_RCVBUF otherwise). */
  receiveBuffer?: number;
  /** /sys, for tests. */
  sysRoot?: string;
  /** Watches the socket; open() and fromFd() default to the process's n.fdWatcher(). */
  watcher?: FdWatch;
}

export class UeventMonitor {
  private eventFns: ((ev: Uevent) => void)[] = [];
  private rejectFns: ((why: string, bytes: Uint8Array) => void)[] = [];
  private overflowFns: (() => void)[] = [];
  private readonly buf = new Uint8Array(UEVENT_MAX + 1);
  private closed = false;
  overflows = 0;
  rejected = 0;

  private constructor(
    readonly fd: number,
    private readonly opts: MonitorOptions,
    private readonly watcher: FdWatch,
  ) {
    watcher.watch(fd, EPOLLIN, () => this.drain());
  }

  static open(opts: MonitorOptions = {}): UeventMonitor {
    const fd = n.socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    try {
      n.setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
      const size = opts.receiveBuffer ?? 8 * 1024 * 1024;
      try {
        n.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size);
      } catch {
        n.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, size);
      }
      n.bind(fd, { family: "netlink", pid: 0, groups: KERNEL_GROUP }, "NETLINK_KOBJECT_UEVENT group 1");
    } catch (e) {
      n.close(fd);
      throw e;
    }
    return new UeventMonitor(fd, opts, opts.watcher ?? n.fdWatcher());
  }

  /** A socket passed by bunit or systemd (ListenNetlink=kobject-uevent 1, LISTEN_FDS). */
  static fromFd(fd: number, opts: MonitorOptions = {}): UeventMonitor {
    n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
    return new UeventMonitor(fd, opts, opts.watcher ?? n.fdWatcher());
  }

  onEvent(fn: (ev: Uevent) => void): void {
    this.eventFns.push(fn);
  }
  onReject(fn: (why: string, bytes: Uint8Array) => void): void {
    this.rejectFns.push(fn);
  }
  onOverflow(fn: () => void): void {
    this.overflowFns.push(fn);
  }

  private reject(why: string, bytes: Uint8Array): void {
    this.rejected++;
    for (const f of this.rejectFns) f(why, bytes);
  }

  /** Reads every queued message; called when the socket is readable. */
  drain(): void {
    for (;;) {
      if (this.closed) return;
      let m: n.ReceivedMessage | null;
      try {
        // MSG_TRUNC: the real size, so a truncated message is recognised and dropped.
        m = n.recvmsgCreds(this.fd, this.buf, MSG_TRUNC);
      } catch (e) {
        if (isErrno(e, "ENOBUFS")) {
          this.overflows++;
          for (const f of this.overflowFns) f();
          this.coldplug();
          continue;
        }
        throw e;
      }
      if (!m) break;
      const bytes = this.buf.slice(0, Math.min(m.size, this.buf.length));
      const from = m.from?.family === "netlink" ? m.from : null;
      const why = rejectSender({ portId: from ? from.pid : null, groups: from ? from.groups : 0, creds: m.creds, truncated: m.truncated });
      if (why) {
        this.reject(why, bytes);
        continue;
      }
      let ev: Uevent;
      try {
        ev = parseKernelUevent(bytes);
      } catch (e) {
        this.reject(errorText(e), bytes);
        continue;
      }
      for (const f of this.eventFns) f(ev);
    }
    if (!this.closed) this.watcher.arm(this.fd, EPOLLIN);
  }

  /** The devices of the coldplug subsystems present now, as "add" events (also returned). */
  coldplug(): Uevent[] {
    const sys = this.opts.sysRoot ?? "/sys";
    const out: Uevent[] = [];
    for (const subsystem of this.opts.coldplug ?? []) {
      let names: string[] = [];
      try {
        names = readdirSync(`${sys}/class/${subsystem}`);
      } catch {
        continue;
      }
      for (const name of names) {
        try {
          const real = realpathSync(`${sys}/class/${subsystem}/${name}`);
          const ev = ueventFromSysfs(real.slice(sys.length), readFileSync(`${real}/uevent`, "utf8"), subsystem);
          out.push(ev);
        } catch {
          // gone meanwhile
        }
      }
    }
    for (const ev of out) for (const f of this.eventFns) f(ev);
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.forget(this.fd);
    n.close(this.fd);
  }
}
