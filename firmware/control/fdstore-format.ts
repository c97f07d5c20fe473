/**
 * `bunit fdstore`: a service's stored fds as systemd-analyze fdstore prints them (FDNAME, TYPE,
 * DEVNO, INODE, RDEVNO, PATH, FLAGS). The daemon fstat()s each fd and sends the raw numbers;
 * turning them into columns is pure and lives here.
 */
import { table } from "./format.ts";

/** One stored fd as the daemon reports it: fstat's mode, dev, ino and rdev, the fd's path and F_GETFL flags. */
export interface StoredFdRow {
  name: string;
  mode: number;
  /** dev_t as a decimal string (it may exceed 2^53). */
  dev: string;
  inode: string;
  rdev: string;
  path: string | null;
  flags: number;
}

const S_IFMT = 0o170000;
const TYPES: Record<number, string> = {
  [0o140000]: "sock",
  [0o120000]: "lnk",
  [0o100000]: "reg",
  [0o060000]: "blk",
  [0o040000]: "dir",
  [0o020000]: "chr",
  [0o010000]: "fifo",
};

/** systemd's inode_type_to_string(); "-" for a type it has no name for (an anonymous inode: eventfd, epoll). */
export function inodeType(mode: number): string {
  return TYPES[mode & S_IFMT] ?? "-";
}

/** A dev_t as MAJOR:MINOR (glibc's major()/minor() encoding); "-" for 0:0, as systemd's table shows it. */
export function devnum(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return major === 0n && minor === 0n ? "-" : `${major}:${minor}`;
}

/** systemd's accmode_to_string(): the access mode of F_GETFL flags. */
export function accessMode(flags: number): string {
  switch (flags & 3) {
    case 0:
      return "ro";
    case 1:
      return "wo";
    case 2:
      return "rw";
    default:
      return "-";
  }
}

/** The table, or null when the store is empty (the CLI then says so on stderr, as systemd-analyze). */
export function formatStoredFds(rows: readonly StoredFdRow[]): string | null {
  if (rows.length === 0) return null;
  // INODE is right-aligned, header included, as systemd-analyze aligns it.
  const w = Math.max(5, ...rows.map((r) => r.inode.length));
  return table(
    ["FDNAME", "TYPE", "DEVNO", "INODE".padStart(w), "RDEVNO", "PATH", "FLAGS"],
    rows.map((r) => [r.name, inodeType(r.mode), devnum(BigInt(r.dev)), r.inode.padStart(w), devnum(BigInt(r.rdev)), r.path ?? "-", accessMode(r.flags)]),
  );
}
