/**
 * What a daemon that died without stopping its units (SIGKILL, the OOM killer, a crash) left
 * behind: its `bunit-PID` cgroup with the services still running in it, reparented to init.
 * They hold their listening sockets (the next daemon's bind() fails with EADDRINUSE) and would
 * run a second time beside the copies the next daemon starts. The next daemon therefore kills
 * and removes every stale `bunit-PID` beside its own before it opens any socket, and starts
 * clean. A `bunit-PID` is stale when PID is gone, or is a process that started after the
 * directory last changed (the pid was reused by something else); a live daemon's is left alone.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { killSubtree, ownCgroupDir, removeSubtree, subtreePopulated } from "../exec/cgroup.ts";

/** What the cleanup needs from the system; replaced in tests. */
export interface StaleIo {
  /** The directory our own bunit-PID goes in (this process's cgroup), or null without cgroup2. */
  parent(): string | null;
  list(dir: string): string[];
  /** Start time of a live process (ms since the epoch), or null when there is no such process. */
  processStartMs(pid: number): number | null;
  /** When a directory last changed (ms since the epoch), or null when it is gone. */
  changedMs(dir: string): number | null;
  kill(dir: string): number;
  populated(dir: string): boolean;
  remove(dir: string): string[];
  /** Waits (the caller's clock) before looking again whether killed processes are gone. */
  pause(ms: number): void;
  nowMs(): number;
}

/** Slack for comparing a process's start with a directory's time (btime has 1 s resolution). */
const CLOCK_SLACK_MS = 2000;

/** The pid of a `bunit-PID` directory name, or null for any other name. */
export function daemonPidOf(name: string): number | null {
  const m = /^bunit-([1-9]\d{0,9})$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Whether the bunit-PID directory is no live daemon's (see the module comment). */
export function isStale(pid: number, self: number, startMs: number | null, changedMs: number | null): boolean {
  if (pid === self) return false;
  if (startMs === null) return true;
  return changedMs !== null && startMs > changedMs + CLOCK_SLACK_MS;
}

export interface CleanupReport {
  /** Stale directories found and what became of them. */
  cleaned: { dir: string; processes: number; left: string[] }[];
  /** Messages for the log. */
  messages: string[];
}

/** Kills and removes stale bunit-PID cgroups beside our own. Synchronous: it runs before anything starts. */
export function cleanStaleCgroups(io: StaleIo = realStaleIo(), self = process.pid, timeoutMs = 5000): CleanupReport {
  const report: CleanupReport = { cleaned: [], messages: [] };
  const parent = io.parent();
  if (!parent) return report;
  for (const name of io.list(parent)) {
    const pid = daemonPidOf(name);
    if (pid === null) continue;
    const dir = join(parent, name);
    if (!isStale(pid, self, io.processStartMs(pid), io.changedMs(dir))) continue;
    const processes = io.kill(dir);
    const end = io.nowMs() + timeoutMs;
    while (io.populated(dir) && io.nowMs() < end) io.pause(10);
    const left = io.remove(dir);
    report.cleaned.push({ dir, processes, left });
    report.messages.push(
      left.length
        ? `A previous bunit (PID ${pid}) died without stopping its units: killed ${processes} leftover process(es) in ${dir}, but could not remove ${left.join(", ")}.`
        : `A previous bunit (PID ${pid}) died without stopping its units: killed ${processes} leftover process(es) and removed ${dir}.`,
    );
  }
  return report;
}

/** Boot time (ms since the epoch) and clock ticks, for /proc/PID/stat start times. */
function bootTimeMs(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  return m ? Number(m[1]) * 1000 : 0;
}

/** Start time from /proc/PID/stat text (field 22, clock ticks since boot), in ms since the epoch. */
export function startMsFromStat(stat: string, bootMs: number, ticksPerSecond = 100): number | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(" ");
  // Fields after the command start at field 3 (state); starttime is field 22.
  const ticks = Number(fields[22 - 3]);
  return Number.isFinite(ticks) ? bootMs + (ticks * 1000) / ticksPerSecond : null;
}

export function realStaleIo(): StaleIo {
  let boot: number | null = null;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    parent: () => ownCgroupDir(),
    list: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    processStartMs: (pid) => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        return null;
      }
      boot ??= bootTimeMs();
      return startMsFromStat(stat, boot) ?? 0;
    },
    changedMs: (dir) => {
      try {
        const st = statSync(dir);
        return Math.max(st.ctimeMs, st.mtimeMs);
      } catch {
        return null;
      }
    },
    kill: (dir) => killSubtree(dir, (pid, sig) => process.kill(pid, sig)),
    populated: (dir) => subtreePopulated(dir),
    remove: (dir) => removeSubtree(dir),
    pause: (ms) => void Atomics.wait(sleeper, 0, 0, ms),
    nowMs: () => Date.now(),
  };
}
