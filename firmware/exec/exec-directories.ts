/**
 * RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory= and
 * ConfigurationDirectory=: made before the service (or socket) starts, the runtime ones removed
 * when it ends (unless RuntimeDirectoryPreserve=yes).
 */
import { chownSync, lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { errorText } from "../core/errors.ts";
import type { ExecContext } from "../unit/exec-context.ts";
import { resolveCredentials, type SystemLookups } from "./exec-spec.ts";

export interface DirectoryRoots {
  runtime: string;
  state: string;
  cache: string;
  logs: string;
  config: string;
}

/** The file system calls the directories need (node:fs by default; tests inject a fake). */
export interface DirectoryOps {
  mkdir(path: string, mode: number): void;
  /** Owner of path, not following a link. */
  owner(path: string): { uid: number; gid: number; dir: boolean };
  list(path: string): string[];
  chown(path: string, uid: number, gid: number): void;
}

export const realDirectoryOps: DirectoryOps = {
  mkdir: (path, mode) => void mkdirSync(path, { recursive: true, mode }),
  owner: (path) => {
    const st = lstatSync(path);
    return { uid: st.uid, gid: st.gid, dir: st.isDirectory() };
  },
  list: (path) => readdirSync(path),
  chown: (path, uid, gid) => chownSync(path, uid, gid),
};

/** Gives path and, when it belonged to someone else, everything under it to uid:gid (no links followed). */
function chownTree(ops: DirectoryOps, path: string, uid: number, gid: number): void {
  const o = ops.owner(path);
  if (o.uid === uid && o.gid === gid) return;
  ops.chown(path, uid, gid);
  if (o.dir) for (const e of ops.list(path)) chownTree(ops, join(path, e), uid, gid);
}

/** User=/Group= as ids for the directories; null without them, or when they do not resolve (the spawn reports that). */
export function directoryOwner(e: ExecContext, lookups: SystemLookups): { uid: number; gid: number } | null {
  try {
    const c = resolveCredentials(e, lookups);
    return c ? { uid: c.uid, gid: c.gid } : null;
  } catch {
    return null;
  }
}

/**
 * Creates the directories; with User=/Group= (owner) the runtime, state, cache and logs ones
 * belong to that user and group, as systemd makes them (ConfigurationDirectory= stays root's).
 */
export function createDirectories(
  e: ExecContext,
  dirs: DirectoryRoots,
  log: { warning(m: string): void },
  owner: { uid: number; gid: number } | null = null,
  ops: DirectoryOps = realDirectoryOps,
): void {
  const roots: [string[], string, number, boolean][] = [
    [e.runtimeDirectory, dirs.runtime, e.runtimeDirectoryMode, true],
    [e.stateDirectory, dirs.state, e.stateDirectoryMode, true],
    [e.cacheDirectory, dirs.cache, e.cacheDirectoryMode, true],
    [e.logsDirectory, dirs.logs, e.logsDirectoryMode, true],
    [e.configurationDirectory, dirs.config, e.configurationDirectoryMode, false],
  ];
  for (const [names, root, mode, owned] of roots) {
    for (const d of names) {
      const path = join(root, d);
      try {
        ops.mkdir(path, mode);
        if (owned && owner) chownTree(ops, path, owner.uid, owner.gid);
      } catch (err) {
        log.warning(`Failed to set up directory ${path}: ${errorText(err)}`);
      }
    }
  }
}

export function removeRuntimeDirectories(e: ExecContext, dirs: DirectoryRoots): void {
  if (e.runtimeDirectoryPreserve === "yes") return;
  for (const d of e.runtimeDirectory) {
    try {
      rmSync(join(dirs.runtime, d), { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}
