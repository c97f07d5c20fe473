/** Names (interfaces, users, groups) and processes: signals, waiting, pidfds, execve, the clone3 spawn. Calls into libbunit.so through lib.ts. */
import { check, cstr, L, ptr } from "./lib.ts";

// ---- names and processes -------------------------------------------------------------------

export function ifNameToIndex(name: string): number {
  return check(L().bunit_if_nametoindex(cstr(name)), "if_nametoindex", name);
}
export interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
  shell: string;
}
function cbuf(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
}
/** getpwnam(); null when the user does not exist. */
export function getpwnam(name: string): PasswdEntry | null {
  const out = new Int32Array(2);
  const home = new Uint8Array(1024);
  const shell = new Uint8Array(256);
  const r = L().bunit_getpwnam(cstr(name), out, home, home.length, shell, shell.length);
  if (r === -3 /* ESRCH */ || r === -2) return null;
  check(r, "getpwnam", name);
  return { uid: out[0]! >>> 0, gid: out[1]! >>> 0, home: cbuf(home), shell: cbuf(shell) };
}
export function getpwuid(uid: number): { name: string; home: string; gid: number } | null {
  const name = new Uint8Array(256);
  const home = new Uint8Array(1024);
  const r = L().bunit_getpwuid(uid, name, name.length, home, home.length);
  if (r === -3 || r === -2) return null;
  const gid = check(r, "getpwuid", String(uid));
  return { name: cbuf(name), home: cbuf(home), gid };
}
/** getgrnam(); null when the group does not exist. */
export function getgrnam(name: string): number | null {
  const r = L().bunit_getgrnam(cstr(name));
  if (r === -3 || r === -2) return null;
  return check(r, "getgrnam", name);
}
export function getgrgid(gid: number): string | null {
  const name = new Uint8Array(256);
  const r = L().bunit_getgrgid(gid, name, name.length);
  if (r === -3 || r === -2) return null;
  check(r, "getgrgid", String(gid));
  return cbuf(name);
}
export function kill(pid: number, sig: number): void {
  check(L().bunit_kill(pid, sig), "kill", `${pid} ${sig}`);
}
export function getuid(): number {
  return L().bunit_getuid() >>> 0;
}
export function waitpidNoHang(pid: number): { pid: number; status: number } | null {
  const st = new Int32Array(1);
  const r = L().bunit_waitpid_nohang(pid, st);
  if (r === -10 /* ECHILD */) return null;
  const got = check(r, "waitpid");
  return got === 0 ? null : { pid: got, status: st[0]! };
}
export function setChildSubreaper(on: boolean): void {
  check(L().bunit_prctl_subreaper(on ? 1 : 0), "prctl", "PR_SET_CHILD_SUBREAPER");
}

/** An fd that becomes readable when the process exits (pidfd_open(2)). */
export function pidfdOpen(pid: number): number {
  return check(L().bunit_pidfd_open(pid), "pidfd_open", String(pid));
}
/** This process's RLIMIT_NOFILE; with `set`, replaced by it, and the old limits returned. */
export function fdLimit(set?: { soft: number; hard: number }): { soft: number; hard: number } {
  const out = new BigUint64Array(2);
  const big = (v: number) => (Number.isFinite(v) ? BigInt(v) : 0xffffffffffffffffn);
  check(L().bunit_prlimit_nofile(set ? 1 : 0, big(set?.soft ?? 0), big(set?.hard ?? 0), out), "prlimit", "RLIMIT_NOFILE");
  const num = (v: bigint) => (v === 0xffffffffffffffffn ? Number.POSITIVE_INFINITY : Number(v));
  return { soft: num(out[0]!), hard: num(out[1]!) };
}
export function setCloexec(fd: number, on: boolean): void {
  check(L().bunit_set_cloexec(fd, on ? 1 : 0), "fcntl", `F_SETFD ${fd}`);
}
/** NULL-terminated char* tables for argv and envp; `keep` holds the strings alive. */
function cTables(argv: string[], env: string[]): { a: BigUint64Array; e: BigUint64Array; keep: Uint8Array[] } {
  const keep: Uint8Array[] = [];
  const table = (items: string[]) => {
    const t = new BigUint64Array(items.length + 1);
    items.forEach((x, i) => {
      const b = cstr(x);
      keep.push(b);
      t[i] = BigInt(ptr(b));
    });
    return t;
  };
  return { a: table(argv), e: table(env), keep };
}

/** Replaces this process with another program (same pid; fds without FD_CLOEXEC stay open). Returns only on failure. */
export function execve(path: string, argv: string[], env: Record<string, string>): never {
  const t = cTables(
    argv,
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
  );
  const r = L().bunit_execve(cstr(path), t.a, t.e);
  void t.keep;
  check(r, "execve", path);
  throw new Error("execve returned");
}

/**
 * What the child does between clone3() and execve() (native/bunit-spawn.c performs it; what to
 * do is decided by firmware/exec/spawn.ts). Users and groups are already numbers here.
 */
export interface ExecPlan {
  /** fds 3..3+listenFds-1 are the sockets: O_NONBLOCK set on them or cleared (NonBlocking=). */
  listenFds: number;
  nonBlocking: boolean;
  /** fds 0 and 1 are the connection (StandardInput=socket): NonBlocking= applies to them. */
  inetd: boolean;
  ignoreSIGPIPE: boolean;
  privateNetwork: boolean;
  /** The last fd is the exec status pipe: one byte (the exit code) when a step fails, EOF on exec. */
  execStatus: boolean;
  credentials?: { uid: number; gid: number; groups: number[] };
  workingDirectory?: { path: string; optional: boolean };
  umask?: number;
  nice?: number;
  oomScoreAdjust?: number;
  /** setrlimit() resource numbers; Infinity for no limit. */
  limits: { resource: number; soft: number; hard: number }[];
  /** Signal the program gets when the daemon dies (PR_SET_PDEATHSIG); 0: none. */
  parentDeathSignal: number;
  /** Variables set to the child's own pid (LISTEN_PID, WATCHDOG_PID), which only it knows. */
  pidVariables: string[];
}

/** A step of the plan failed in the child: systemd's exit code for it, and the errno. */
export interface SpawnFailure {
  code: number;
  errno: number;
}

// Slots and flags of the plan as native/bunit-spawn.c reads them (keep in step).
const PLAN = { flags: 0, listenFds: 1, uid: 2, gid: 3, ngroups: 4, umask: 5, nice: 6, oom: 7, nlimits: 8, pdeathsig: 9, pidEnv: 10, slots: 11 };
const F = { nonBlocking: 1, inetd: 2, ignoreSIGPIPE: 4, privateNetwork: 8, execStatus: 16, credentials: 32, umask: 64, nice: 128, oom: 256, dirOptional: 512 };
const RLIM_INFINITY = 0xffffffffffffffffn;

function planSlots(plan: ExecPlan, pidEnvIndex: number): Int32Array {
  const p = new Int32Array(PLAN.slots);
  const f = (on: boolean | undefined, bit: number) => (on ? bit : 0);
  p[PLAN.flags] =
    f(plan.nonBlocking, F.nonBlocking) |
    f(plan.inetd, F.inetd) |
    f(plan.ignoreSIGPIPE, F.ignoreSIGPIPE) |
    f(plan.privateNetwork, F.privateNetwork) |
    f(plan.execStatus, F.execStatus) |
    f(!!plan.credentials, F.credentials) |
    f(plan.umask !== undefined, F.umask) |
    f(plan.nice !== undefined, F.nice) |
    f(plan.oomScoreAdjust !== undefined, F.oom) |
    f(plan.workingDirectory?.optional, F.dirOptional);
  p[PLAN.listenFds] = plan.listenFds;
  p[PLAN.uid] = plan.credentials?.uid ?? 0;
  p[PLAN.gid] = plan.credentials?.gid ?? 0;
  p[PLAN.ngroups] = plan.credentials?.groups.length ?? 0;
  p[PLAN.umask] = plan.umask ?? 0;
  p[PLAN.nice] = plan.nice ?? 0;
  p[PLAN.oom] = plan.oomScoreAdjust ?? 0;
  p[PLAN.nlimits] = plan.limits.length;
  p[PLAN.pdeathsig] = plan.parentDeathSignal;
  p[PLAN.pidEnv] = pidEnvIndex;
  return p;
}

/**
 * Starts a program with fds[i] at fd i (-1: closed), born in the cgroup whose directory is
 * open as cgroupFd (-1: ours), doing the plan in between. Returns the pid, a pidfd that becomes
 * readable at its exit, and the step that failed if one did (the child then exited with its code).
 */
export function spawn(
  path: string,
  argv: string[],
  env: Record<string, string>,
  fds: number[],
  cgroupFd: number,
  plan: ExecPlan,
): { pid: number; pidfd: number; failure?: SpawnFailure } {
  const entries = Object.entries(env)
    .filter(([k]) => !plan.pidVariables.includes(k))
    .map(([k, v]) => `${k}=${v}`);
  // The child completes these "NAME=" entries, placed last, with its pid.
  const pidEnvIndex = plan.pidVariables.length ? entries.length : -1;
  const t = cTables(argv, [...entries, ...plan.pidVariables.map((k) => `${k}=`)]);
  const groups = plan.credentials?.groups.length ? new Uint32Array(plan.credentials.groups) : null;
  const big = (v: number) => (Number.isFinite(v) ? BigInt(v) : RLIM_INFINITY);
  const limits = plan.limits.length ? new BigUint64Array(plan.limits.flatMap((l) => [BigInt(l.resource), big(l.soft), big(l.hard)])) : null;
  const dir = plan.workingDirectory ? cstr(plan.workingDirectory.path) : null;
  const out = new Int32Array(3);
  const pid = L().bunit_spawn(cstr(path), t.a, t.e, new Int32Array(fds), fds.length, cgroupFd, planSlots(plan, pidEnvIndex), groups, limits, dir, out);
  void t.keep;
  check(pid, "clone3", path);
  return { pid, pidfd: out[0]!, ...(out[1] ? { failure: { code: out[1], errno: out[2]! } } : {}) };
}
