/**
 * Which unit a process belongs to (the sender of a notify message): a main or control process
 * bunit started, a process in the unit's cgroup, or one in a session the spawned child opened
 * for the unit (setsid).
 */
import { readFileSync } from "node:fs";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";
import { parseStat } from "./reaper.ts";

export interface ProcFs {
  /** /proc/PID/cgroup and /proc/PID/stat; throws when the process is gone. */
  read(path: string): string;
}

const realProc: ProcFs = { read: (p) => readFileSync(p, "utf8") };

export function unitOfPid(pid: number, units: readonly UnitRuntime[], useCgroups: boolean, proc: ProcFs = realProc): UnitRuntime | null {
  for (const u of units) if (u.pids().includes(pid)) return u;
  if (useCgroups) {
    try {
      const m = /^0::(\/.*)$/m.exec(proc.read(`/proc/${pid}/cgroup`));
      if (m) for (const u of units) if (u.cgroup()?.endsWith(m[1]!)) return u;
    } catch {
      /* gone */
    }
  }
  try {
    const st = parseStat(proc.read(`/proc/${pid}/stat`));
    if (st) for (const u of units) if (u.pids().includes(st.sid)) return u;
  } catch {
    /* gone */
  }
  return null;
}
