/**
 * Who may change what runs: root, or a member of the configured control group, as the kernel
 * reports the caller (SO_PEERCRED, plus the supplementary groups of that pid). Pure.
 */
import type { Ucred } from "../native.ts";

export interface Caller {
  cred: Ucred;
  /** Supplementary groups of the caller's process (from /proc/PID/status). */
  groups: number[];
}

export function mayMutate(c: Caller, controlGid: number | null): boolean {
  if (c.cred.uid === 0) return true;
  if (controlGid === null) return false;
  return c.cred.gid === controlGid || c.groups.includes(controlGid);
}

/** The Groups: line of /proc/PID/status. */
export function parseStatusGroups(status: string): number[] {
  const m = /^Groups:\s*(.*)$/m.exec(status);
  if (!m) return [];
  return m[1]!.trim().split(/\s+/).filter(Boolean).map(Number).filter(Number.isInteger);
}
