/**
 * Watching a process: one bunit spawned (its pidfd comes from clone3), a Type=forking daemon,
 * a MAINPID= from sd_notify, or a main process adopted across daemon-reexec. A pidfd becomes readable when
 * the process exits; if it is our child (the daemon is a child subreaper) it is reaped here,
 * which also yields its exit status. Processes that are not our children report an unknown
 * status as a clean exit, as systemd does when it cannot wait for them.
 */
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { FdWatch } from "../core/unit-runtime.ts";
import type { ExitInfo, SpawnedProcess } from "./spawn.ts";

/** Pids watched here: the zombie reaper leaves them alone. */
export const watchedPids = new Set<number>();

/** Decodes a wait(2) status. */
export function decodeWaitStatus(st: number): ExitInfo {
  const sig = st & 0x7f;
  if (sig === 0) return { code: (st >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

export function processExists(pid: number): boolean {
  try {
    n.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { errno?: number }).errno === 1; // EPERM: exists, not ours to signal
  }
}

export function watchProcess(pid: number, watcher: FdWatch): SpawnedProcess {
  let fd: number;
  try {
    fd = n.pidfdOpen(pid);
  } catch {
    return { pid, exited: Promise.resolve(reap(pid) ?? { code: 0, signal: null }) };
  }
  return watchPidfd(pid, fd, watcher);
}

/** Watches a process through a pidfd the caller has (clone3's CLONE_PIDFD); closes it at the exit. */
export function watchPidfd(pid: number, fd: number, watcher: FdWatch): SpawnedProcess {
  watchedPids.add(pid);
  const exited = new Promise<ExitInfo>((resolve) => {
    watcher.watch(fd, C.EPOLLIN, () => {
      watcher.forget(fd);
      n.close(fd);
      watchedPids.delete(pid);
      resolve(reap(pid) ?? { code: 0, signal: null });
    });
  });
  return { pid, exited };
}

function reap(pid: number): ExitInfo | null {
  try {
    const r = n.waitpidNoHang(pid);
    return r ? decodeWaitStatus(r.status) : null;
  } catch {
    return null;
  }
}
