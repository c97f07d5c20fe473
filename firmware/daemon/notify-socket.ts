/**
 * The daemon's $NOTIFY_SOCKET: one AF_UNIX datagram socket with SO_PASSCRED, so every
 * message carries the sender's pid as the kernel saw it (a process cannot claim another's).
 * Messages go to the manager, which finds the unit and checks NotifyAccess=. Anyone may send
 * (mode 0666), so what the daemon says about messages it ignores is rate-limited: a flood of
 * datagrams must not push everything else out of the log ring.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { bindUnixPath } from "../core/unix-endpoint.ts";
import { errorText } from "../core/errors.ts";
import { realClock, type Clock, type Timer } from "../core/clock.ts";
import { RateLimit } from "../core/rate-limit.ts";

/**
 * Handles one message; returns false when no unit owns the sender (the message is then dropped
 * and the rate-limited warning said here), anything else when the message was taken.
 */
export type NotifyHandler = (sender: n.Ucred, text: string, fds: number[]) => unknown;

/** Warnings about ignored messages: at most `burst` per interval, then one summary of how many were held back. */
export class NotifyWarnings {
  private readonly limit: RateLimit;
  private suppressed = 0;
  private summary: Timer | null = null;

  constructor(
    private readonly out: (m: string) => void,
    private readonly clock: Clock = realClock,
    readonly intervalUsec = 10_000_000,
    readonly burst = 20,
  ) {
    this.limit = new RateLimit(intervalUsec, burst);
  }

  warn(m: string): void {
    const now = this.clock.now();
    if (this.limit.below(now)) {
      this.flush();
      this.out(m);
      return;
    }
    this.suppressed++;
    this.summary ??= this.clock.setTimer(Math.max(0, this.limit.windowEnd() - now), () => {
      this.summary = null;
      this.flush();
    });
  }

  /** Says how many warnings were held back, if any. */
  flush(): void {
    this.summary?.cancel();
    this.summary = null;
    if (this.suppressed === 0) return;
    this.out(
      `Suppressed ${this.suppressed} more warnings about notification messages in the last ${this.intervalUsec / 1e6}s (rate limit: ${this.burst} per ${this.intervalUsec / 1e6}s).`,
    );
    this.suppressed = 0;
  }
}

/** Open fds of this process and its soft RLIMIT_NOFILE (null when /proc does not say). */
export function fdUsage(): { open: number; limit: number | null } {
  let open = 0;
  let limit: number | null = null;
  try {
    open = readdirSync("/proc/self/fd").length;
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    limit = m ? Number(m[1]) : null;
  } catch {
    /* no /proc */
  }
  return { open, limit };
}

/**
 * Why a message's control data was cut off (MSG_CTRUNC): the kernel could not install the fds
 * in the daemon (its fd limit), or the sender passed more than one message may carry.
 */
export function ctruncReason(usage: { open: number; limit: number | null }, maxFds: number): string {
  if (usage.limit !== null && usage.open + maxFds >= usage.limit) {
    return `the daemon is at its file descriptor limit (${usage.open} of ${usage.limit} open), so the file descriptors sent with it (FDSTORE=) could not be received`;
  }
  return `its file descriptors were cut off (more than ${maxFds} in one message, or the daemon is short of file descriptors)`;
}

/** systemd's limit for one notification datagram (NOTIFY_BUFFER_MAX). */
const BUFFER = 4096;
/** At most this many fds per message (systemd: 768 per service store; one message is capped lower). */
const MAX_FDS = 64;

export class NotifySocket {
  private readonly buf = new Uint8Array(BUFFER);
  private readonly warnings: NotifyWarnings;

  private constructor(
    readonly fd: number,
    readonly path: string,
    private readonly watcher: FdWatch,
    private readonly handle: NotifyHandler,
    warn: (m: string) => void,
    clock: Clock,
  ) {
    this.warnings = new NotifyWarnings(warn, clock);
    n.setsockoptInt(fd, C.SOL_SOCKET, C.SO_PASSCRED, 1);
    this.watcher.watch(fd, C.EPOLLIN, () => this.onReadable());
  }

  static bind(path: string, watcher: FdWatch, handle: NotifyHandler, warn: (m: string) => void, clock: Clock = realClock): NotifySocket {
    // Mode 0666: services running as other users must be able to send.
    const fd = bindUnixPath(path, C.SOCK_DGRAM, (s) => n.setsockoptInt(s, C.SOL_SOCKET, C.SO_RCVBUF, 8 * 1024 * 1024));
    return new NotifySocket(fd, path, watcher, handle, warn, clock);
  }

  static adopt(fd: number, path: string, watcher: FdWatch, handle: NotifyHandler, warn: (m: string) => void, clock: Clock = realClock): NotifySocket {
    return new NotifySocket(fd, path, watcher, handle, warn, clock);
  }

  private onReadable(): void {
    for (let i = 0; i < 256; i++) {
      let m: n.NotifyMessage | null;
      try {
        m = n.recvmsgNotify(this.fd, this.buf, MAX_FDS);
      } catch (e) {
        this.warnings.warn(`notify socket: ${errorText(e)}`);
        break;
      }
      if (!m) break;
      if (!m.creds) {
        closeAll(m.fds);
        this.warnings.warn("Got notification message without credentials, ignoring.");
        continue;
      }
      if (m.size > BUFFER) {
        closeAll(m.fds);
        this.warnings.warn(`Got overly long notification message from PID ${m.creds.pid} (${m.size} bytes, at most ${BUFFER}), ignoring.`);
        continue;
      }
      if (m.truncated) {
        // MSG_CTRUNC: the text is whole but the fds are not; systemd ignores such a message too.
        closeAll(m.fds);
        this.warnings.warn(`Got notification message from PID ${m.creds.pid}, but ${ctruncReason(fdUsage(), MAX_FDS)}; ignoring it.`);
        continue;
      }
      const text = new TextDecoder().decode(this.buf.subarray(0, m.size));
      let taken: unknown;
      try {
        taken = this.handle(m.creds, text, m.fds);
      } catch (e) {
        // A bug in handling one message must not leave the socket unwatched.
        this.warnings.warn(`Handling the notification message of PID ${m.creds.pid} failed: ${errorText(e)}`);
        continue;
      }
      if (taken === false) this.warnings.warn(`Cannot find unit for notify message of PID ${m.creds.pid}, ignoring.`);
    }
    this.watcher.arm(this.fd, C.EPOLLIN);
  }

  close(keepFd = false): void {
    this.warnings.flush();
    this.watcher.forget(this.fd);
    if (!keepFd) {
      n.close(this.fd);
      rmSync(this.path, { force: true });
    }
  }
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      n.close(fd);
    } catch {
      /* not ours any more */
    }
  }
}
