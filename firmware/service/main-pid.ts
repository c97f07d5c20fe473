/**
 * Type=forking: the main PID once the started process has exited: PIDFile=, else a guess
 * (GuessMainPID=): the one process left in the unit's cgroup, or the one orphan re-parented to
 * the daemon. "wait" while the PID file is not there yet; "refused" when it names a process the
 * service may not claim (systemd's service_load_pid_file()).
 */
import { closeSync, fstatSync, lstatSync, openSync, readFileSync } from "node:fs";
import type { ServiceConfig } from "../unit/service-config.ts";

/** A PID file's text, who owns it, and whether it was reached through a symbolic link; null: not there. */
export interface PidFileReader {
  read(path: string): { text: string; uid: number; viaLink: boolean } | null;
}

export const realPidFileReader: PidFileReader = {
  read: (path) => {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    try {
      let viaLink = false;
      try {
        viaLink = lstatSync(path).isSymbolicLink();
      } catch {
        /* replaced meanwhile: judged by what was opened */
      }
      return { text: readFileSync(fd, "utf8"), uid: fstatSync(fd).uid, viaLink };
    } finally {
      closeSync(fd);
    }
  },
};

/** What the PID file's PID is checked against. */
export interface PidCheck {
  exists(pid: number): boolean;
  /** Whether pid is one of the service's processes (its cgroup, or its session without one). */
  belongs(pid: number): boolean;
  /** The daemon's own pid. */
  readonly self: number;
  readonly files?: PidFileReader;
}

type Log = { warning(m: string): void; error(m: string): void; debug(m: string): void };

export function forkedMainPid(cfg: ServiceConfig, log: Log, candidates: () => number[], check: PidCheck): number | null | "wait" | "refused" {
  if (cfg.pidFile) {
    const f = (check.files ?? realPidFileReader).read(cfg.pidFile);
    if (!f) return "wait";
    const text = f.text.trim();
    const pid = Number(text);
    if (!/^\d+$/.test(text) || pid <= 1) {
      log.warning(`PID file ${cfg.pidFile} not readable as a PID: "${text.slice(0, 32)}"`);
      return null;
    }
    if (pid === check.self) {
      log.error(`New main PID ${pid} is the manager itself, refusing.`);
      return "refused";
    }
    if (!check.exists(pid)) {
      log.warning(`PID ${pid} read from file ${cfg.pidFile} does not exist.`);
      return null;
    }
    if (!check.belongs(pid)) {
      // A process outside the service: only a root-owned PID file, reached without a link, may say so.
      if (f.viaLink) {
        log.error(`Refusing to accept PID outside of service control group, acquired through unsafe symlink chain: ${cfg.pidFile}`);
        return "refused";
      }
      if (f.uid !== 0) {
        log.error(`New main PID ${pid} does not belong to service, and PID file is not owned by root. Refusing.`);
        return "refused";
      }
      log.debug(`New main PID ${pid} does not belong to service, but we'll accept it since PID file is owned by root.`);
    }
    return pid;
  }
  if (!cfg.guessMainPID) return null;
  const found = candidates();
  if (found.length === 1) return found[0]!;
  if (found.length > 1) log.debug(`Cannot guess the main PID among ${found.join(" ")}.`);
  return null;
}
