/**
 * No zombies: the daemon is a child subreaper, so orphans of services (the parent of a
 * double-forking daemon, helpers a service left behind) become its children. watchProcess()
 * reaps what it watches (every process bunit spawned among them); this reaps the rest, found
 * among the children the kernel lists for each of the daemon's threads.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as n from "../native.ts";

/** The state letter, parent pid and session id from /proc/PID/stat text (the command may contain spaces and parentheses). */
export function parseStat(text: string): { state: string; ppid: number; sid: number } | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(" ");
  const ppid = Number(rest[1]);
  const sid = Number(rest[3]);
  return rest[0] && Number.isInteger(ppid) && Number.isInteger(sid) ? { state: rest[0], ppid, sid } : null;
}

/**
 * The daemon's children, from /proc/self/task/TID/children of each of its threads (a child
 * belongs to the thread that forked it, and orphans to whichever thread the kernel picks):
 * far cheaper than scanning every process in /proc, which matters on slow boards.
 */
export function childPids(self = process.pid): number[] {
  const out = new Set<number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${self}/task`);
  } catch {
    return [];
  }
  for (const t of tasks) {
    try {
      for (const w of readFileSync(`/proc/${self}/task/${t}/children`, "utf8").trim().split(/\s+/)) if (w) out.add(Number(w));
    } catch {
      /* thread gone */
    }
  }
  return [...out];
}

/** Reaps zombie children that neither Bun nor a process watch owns; returns their pids. */
export function reapOrphans(watched: (pid: number) => boolean, self = process.pid): number[] {
  const out: number[] = [];
  for (const pid of childPids(self)) {
    if (watched(pid)) continue;
    let st: ReturnType<typeof parseStat>;
    try {
      st = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      continue;
    }
    if (!st || st.state !== "Z") continue;
    try {
      if (n.waitpidNoHang(pid)) out.push(pid);
    } catch {
      /* reaped meanwhile */
    }
  }
  return out;
}
