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

/**
 * Who may read what services said and hold (unit file contents with their Environment=
 * secrets, the log ring, the log lines of `status UNIT`): root and members of the log-reader
 * group (`bunit daemon --log-group GROUP`), as journald lets root and the adm group read
 * every journal. Everyone else sees state only.
 */
export function mayRead(c: Caller, logGid: number | null): boolean {
  if (c.cred.uid === 0) return true;
  if (logGid === null) return false;
  return c.cred.gid === logGid || c.groups.includes(logGid);
}

/** The Groups: line of /proc/PID/status. */
export function parseStatusGroups(status: string): number[] {
  const m = /^Groups:\s*(.*)$/m.exec(status);
  if (!m) return [];
  return m[1]!.trim().split(/\s+/).filter(Boolean).map(Number).filter(Number.isInteger);
}
