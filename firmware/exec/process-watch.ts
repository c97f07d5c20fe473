/**
 * Watching a process: one bunit spawned (its pidfd comes from clone3), a Type=forking daemon,
 * a MAINPID= from sd_notify, or a main process adopted across daemon-reexec. A pidfd becomes readable when
 * the process exits; if it is our child (the daemon is a child subreaper) it is reaped here,
 * which also yields its exit status. Processes that are not our children report an unknown
 * status as a clean exit, as systemd does when it cannot wait for them.
 */
import { readFileSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import type { ExitInfo, SpawnedProcess } from "./process.ts";

/** Decodes a wait(2) status. */
export function decodeWaitStatus(st: number): ExitInfo {
  const sig = st & 0x7f;
  if (sig === 0) return { code: (st >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

/**
 * What the daemon may ask about a process it did not start (a MAINPID=, a PID file): injected,
 * so that tests fake it.
 */
export interface ProcessProbe {
  /** Whether pid names a live process (kill(pid, 0)). */
  exists(pid: number): boolean;
  /** Its session id (field 6 of /proc/PID/stat), or null when it is gone. */
  session(pid: number): number | null;
  /** The daemon's own pid. */
  readonly self: number;
}

/** The session id in a /proc/PID/stat line (after the command name, which may hold spaces and parentheses). */
export function sessionOfStat(stat: string): number | null {
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const sid = Number(f[3]);
  return Number.isInteger(sid) ? sid : null;
}

export const realProcessProbe: ProcessProbe = {
  exists: (pid) => processExists(pid),
  session: (pid) => {
    try {
      return sessionOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return null;
    }
  },
  self: process.pid,
};

export function processExists(pid: number): boolean {
  try {
    n.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { errno?: number }).errno === 1; // EPERM: exists, not ours to signal
  }
}

/**
 * The processes the daemon watches (through pidfds on an injected fd watcher); the zombie
 * reaper leaves these alone, since their watch reaps them.
 */
export class ProcessWatcher {
  private readonly watched = new Set<number>();

  constructor(private readonly watcher: FdWatch) {}

  /** Whether pid is watched here. */
  has(pid: number): boolean {
    return this.watched.has(pid);
  }

  /** Watches a process bunit did not start itself (forking daemon, MAINPID=, daemon-reexec). */
  watch(pid: number): SpawnedProcess {
    let fd: number;
    try {
      fd = n.pidfdOpen(pid);
    } catch {
      return { pid, exited: Promise.resolve(reap(pid) ?? { code: 0, signal: null }) };
    }
    return this.watchPidfd(pid, fd);
  }

  /** Watches a process through a pidfd the caller has (clone3's CLONE_PIDFD); closes it at the exit. */
  watchPidfd(pid: number, fd: number): SpawnedProcess {
    this.watched.add(pid);
    const exited = new Promise<ExitInfo>((resolve) => {
      this.watcher.watch(fd, C.EPOLLIN, () => {
        this.watcher.forget(fd);
        n.close(fd);
        this.watched.delete(pid);
        resolve(reap(pid) ?? { code: 0, signal: null });
      });
    });
    return { pid, exited };
  }
}

function reap(pid: number): ExitInfo | null {
  try {
    const r = n.waitpidNoHang(pid);
    return r ? decodeWaitStatus(r.status) : null;
  } catch {
    return null;
  }
}
