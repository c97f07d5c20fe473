/**
 * What daemon-reexec hands from one daemon process image to the next: the state (every unit's
 * serialize(), the control and notify sockets, the last log records) in a file only root can
 * reach, and the fds it names, inherited across execve(). The orchestration (hold, settle,
 * exec, give up) is reexec.ts.
 */
import { closeSync, constants as fsc, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import * as n from "../native.ts";
import type { LogRecord } from "../core/log.ts";
import { errorText } from "../core/errors.ts";
import type { SavedConnection, SerializedUnit } from "../runtime/unit-runtime.ts";
import type { Manager } from "./manager.ts";

export const STATE_ENV = "BUNIT_REEXEC_STATE";

export interface ReexecState {
  version: 3;
  startedMs: number;
  control: { fd: number; path: string } | null;
  notify: { fd: number; path: string } | null;
  /** Every unit with something to hand over, each in its own type's words (serialize()). */
  units: SerializedUnit[];
  logs: LogRecord[];
  gadget: boolean;
}

/** Why the daemon cannot be replaced now, or null. */
export function reexecBlocker(m: Manager): string | null {
  if (m.jobs.size > 0) return `${m.jobs.size} jobs are running; try again when they are done`;
  for (const u of m.loadedUnits()) if (u.inTransition()) return `${u.name} is ${u.activeState()}; try again when it settled`;
  return null;
}

export function collectState(m: Manager, extra: Pick<ReexecState, "startedMs" | "control" | "notify" | "logs" | "gadget">): ReexecState {
  const units: SerializedUnit[] = [];
  for (const u of m.loadedUnits()) {
    const s = u.serialize();
    if (s) units.push(s);
  }
  return { version: 3, ...extra, units };
}

/** Every fd the new process must inherit. */
export function stateFds(s: ReexecState): number[] {
  const fds: number[] = [];
  if (s.control) fds.push(s.control.fd);
  if (s.notify) fds.push(s.notify.fd);
  for (const u of s.units) {
    fds.push(...u.fds);
    if (u.connection) fds.push(u.connection.fd);
  }
  return fds;
}

/**
 * Writes the state to a new file in dir (made 0700 if missing; refused when it is a symlink,
 * not ours, or open to others), created with O_EXCL|O_NOFOLLOW, mode 0600, synced. Throws on
 * any failure (ENOSPC, a planted link...), leaving nothing behind.
 */
export function writeState(state: ReexecState, dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a directory owned by uid ${process.getuid!()} with mode 0700`);
  }
  const path = join(dir, `state-${process.pid}-${randomBytes(6).toString("hex")}.json`);
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    const data = Buffer.from(JSON.stringify(state));
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
  closeSync(fd);
  return path;
}

/**
 * Clears FD_CLOEXEC on the handed-over fds and execs the same command line with the state
 * file named in the environment. Returns (with an error) only when execve() failed; the fds are
 * then made close-on-exec again and the state file removed.
 */
export function execSelf(state: ReexecState, statePath: string, argv: string[] = [process.execPath, ...process.argv.slice(1)]): string {
  const fds = stateFds(state);
  for (const fd of fds) n.setCloexec(fd, false);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env[STATE_ENV] = statePath;
  try {
    n.execve(argv[0]!, argv, env);
  } catch (e) {
    for (const fd of fds) n.setCloexec(fd, true);
    rmSync(statePath, { force: true });
    return `execve ${argv[0]}: ${errorText(e)}`;
  }
  return "execve returned";
}

/** Reads (and removes) the state a previous process left; null when there is none. */
export function takeState(env: Record<string, string | undefined> = process.env): ReexecState | null {
  const path = env[STATE_ENV];
  if (!path) return null;
  delete process.env[STATE_ENV];
  try {
    const fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    let text: string;
    try {
      const st = fstatSync(fd);
      if (st.uid !== process.getuid!() || (st.mode & 0o077) !== 0) throw new Error("not a private file of ours");
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
    rmSync(path, { force: true });
    const s = JSON.parse(text) as ReexecState;
    if (s.version !== 3) throw new Error(`unknown state version ${String(s.version)}`);
    for (const fd2 of stateFds(s)) n.setCloexec(fd2, true);
    return s;
  } catch (e) {
    throw new Error(`daemon-reexec state ${path}: ${errorText(e)}`);
  }
}

/**
 * Gives the new manager what the old process ran: each unit takes its own state back
 * (deserialize()); an Accept=yes instance goes back to its socket with its connection. Returns
 * problems (unit by unit) for the log.
 */
export function adoptState(m: Manager, s: ReexecState): string[] {
  const problems: string[] = [];
  // Sockets and plain units first: instances reclaim their connections from adopted sockets.
  for (const v of s.units.filter((x) => !x.connection)) {
    const u = m.unit(v.unit);
    if (!u) {
      problems.push(`${v.unit}: not loadable any more; closing what it held (${v.fds.length} fds), its processes run on unsupervised`);
      for (const fd of v.fds) closeQuietly(fd);
      continue;
    }
    const p = u.deserialize(v.data);
    if (p) problems.push(p);
  }
  for (const v of s.units) {
    if (!v.connection) continue;
    const p = m.adoptAcceptedInstance(v as SerializedUnit & { connection: SavedConnection });
    if (p) problems.push(p);
  }
  return problems;
}

function closeQuietly(fd: number): void {
  try {
    n.close(fd);
  } catch {
    /* already closed */
  }
}
