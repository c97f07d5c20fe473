/**
 * Process tracking through cgroup v2: each service runs in its own directory under the
 * daemon's subtree, so forked children, double forks and setsid() daemons are all found,
 * counted and killed together. Where no writable cgroup2 hierarchy exists, bunit falls back to
 * process groups (the spawned child's setsid()).
 */
import { type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The cgroup2 mount point from /proc/self/mountinfo text, or null. */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const post = line.slice(sep + 3).split(" ");
    if (post[0] === "cgroup2") return line.slice(0, sep).split(" ")[4] ?? null;
  }
  return null;
}

/** This process's cgroup v2 path from /proc/self/cgroup text ("0::/path"), or null. */
export function ownCgroup(procCgroup: string): string | null {
  const m = /^0::(\/.*)$/m.exec(procCgroup);
  return m ? m[1]! : null;
}

/** A unit name as a cgroup directory name (systemd escapes "\\" and leading dots; names are already safe). */
export function cgroupName(unit: string): string {
  return unit.replace(/\\/g, "\\x5c").replace(/^\./, "_.");
}

/** The pids listed in a cgroup.procs file. */
export function parseProcs(text: string): number[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** Where this process's cgroup v2 directory is (`<mount><own cgroup>`), or null without cgroup2. */
export function ownCgroupDir(read = (p: string) => readFileSync(p, "utf8")): string | null {
  try {
    const mnt = cgroup2Mount(read("/proc/self/mountinfo"));
    const own = ownCgroup(read("/proc/self/cgroup"));
    return mnt && own !== null ? join(mnt, own) : null;
  } catch {
    return null;
  }
}

/** Every cgroup directory under (and including) path, deepest first (the order rmdir needs). */
export function cgroupDirsDeepestFirst(path: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(p, { withFileTypes: true });
    } catch {
      /* gone */
    }
    for (const e of entries) if (e.isDirectory()) walk(join(p, e.name));
    out.push(p);
  };
  walk(path);
  return out;
}

/**
 * SIGKILLs every process in a cgroup subtree: one write to cgroup.kill (recursive, Linux 5.14+),
 * else each pid listed in every directory's cgroup.procs. Returns how many processes were there.
 */
export function killSubtree(path: string, kill: (pid: number, sig: number) => void): number {
  const dirs = cgroupDirsDeepestFirst(path);
  let n = 0;
  for (const d of dirs) {
    try {
      n += parseProcs(readFileSync(join(d, "cgroup.procs"), "utf8")).length;
    } catch {
      /* gone */
    }
  }
  if (existsSync(join(path, "cgroup.kill"))) {
    try {
      writeFileSync(join(path, "cgroup.kill"), "1");
      return n;
    } catch {
      /* fall back to signals */
    }
  }
  for (const d of dirs) {
    let pids: number[] = [];
    try {
      pids = parseProcs(readFileSync(join(d, "cgroup.procs"), "utf8"));
    } catch {
      continue;
    }
    for (const pid of pids) {
      try {
        kill(pid, 9);
      } catch {
        /* gone */
      }
    }
  }
  return n;
}

/** Whether any process is left in a cgroup subtree (cgroup.events "populated"). */
export function subtreePopulated(path: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(path, "cgroup.events"), "utf8"));
  } catch {
    return false;
  }
}

/** Removes a cgroup subtree, deepest first; returns the directories that could not be removed. */
export function removeSubtree(path: string): string[] {
  const left: string[] = [];
  for (const d of cgroupDirsDeepestFirst(path)) {
    try {
      rmdirSync(d);
    } catch {
      left.push(d);
    }
  }
  return left;
}

export class CgroupTree {
  private constructor(readonly root: string) {}

  /**
   * A subtree for this daemon (`<own cgroup>/bunit-<pid>`) when cgroup2 is mounted and
   * writable; null otherwise. An existing directory (daemon-reexec) is reused.
   */
  static create(name = `bunit-${process.pid}`, read = (p: string) => readFileSync(p, "utf8")): CgroupTree | null {
    try {
      const mnt = cgroup2Mount(read("/proc/self/mountinfo"));
      const own = ownCgroup(read("/proc/self/cgroup"));
      if (!mnt || own === null) return null;
      const root = join(mnt, own, name);
      mkdirSync(root, { recursive: true });
      // Writable only if we may move processes into children; probe with a child directory.
      const probe = join(root, ".probe");
      mkdirSync(probe, { recursive: true });
      rmdirSync(probe);
      return new CgroupTree(root);
    } catch {
      return null;
    }
  }

  /** The directory for a unit, created when missing. */
  unitPath(unit: string): string {
    const p = join(this.root, cgroupName(unit));
    mkdirSync(p, { recursive: true });
    return p;
  }

  procs(path: string): number[] {
    try {
      return parseProcs(readFileSync(join(path, "cgroup.procs"), "utf8"));
    } catch {
      return [];
    }
  }

  populated(path: string): boolean {
    try {
      return /^populated 1$/m.test(readFileSync(join(path, "cgroup.events"), "utf8"));
    } catch {
      return false;
    }
  }

  /** Signals every process in the unit's cgroup; SIGKILL uses cgroup.kill where the kernel has it. */
  kill(path: string, signal: number, kill: (pid: number, sig: number) => void): number {
    if (signal === 9 && existsSync(join(path, "cgroup.kill"))) {
      const n = this.procs(path).length;
      try {
        writeFileSync(join(path, "cgroup.kill"), "1");
        return n;
      } catch {
        /* fall through to per-process kill */
      }
    }
    let n = 0;
    for (const pid of this.procs(path)) {
      try {
        kill(pid, signal);
        n++;
      } catch {
        /* gone */
      }
    }
    return n;
  }

  /** Removes an empty unit directory (fails quietly while processes remain). */
  remove(path: string): void {
    try {
      rmdirSync(path);
    } catch {
      /* still populated, or gone */
    }
  }

  /** Removes the daemon's subtree at shutdown. */
  removeRoot(): void {
    try {
      rmdirSync(this.root);
    } catch {
      /* something is left */
    }
  }
}
