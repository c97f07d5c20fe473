/**
 * The real machine behind the injected interfaces: user and group lookups, condition checks,
 * process signalling.
 */
import { accessSync, constants as fsc, existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, hostname, release, totalmem, userInfo } from "node:os";
import { dirname } from "node:path";
import * as n from "../native.ts";
import type { SystemLookups } from "../exec/exec-spec.ts";
import type { ProcessKiller } from "../exec/process-killer.ts";
import type { ConditionEnv } from "../unit/conditions.ts";
import { hostFacts, parseOsRelease } from "../unit/host-facts.ts";

export const systemLookups: SystemLookups = {
  user: (name) => n.getpwnam(name),
  userById: (uid) => n.getpwuid(uid),
  group: (name) => n.getgrnam(name),
  readFile: (path) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return null;
    }
  },
};

export const processKiller: ProcessKiller = {
  kill(pid, signal, group) {
    if (group) {
      try {
        n.kill(-pid, signal);
        return;
      } catch {
        /* not a group leader (or already gone): signal the process itself */
      }
    }
    n.kill(pid, signal);
  },
};

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function globExists(pattern: string): boolean {
  const glob = new Bun.Glob(pattern.startsWith("/") ? pattern.slice(1) : pattern);
  for (const _ of glob.scanSync({ cwd: "/", onlyFiles: false, dot: true })) return true;
  return false;
}

export const conditionEnv: ConditionEnv = {
  exists: (p) => existsSync(p),
  isDirectory: (p) => safe(() => statSync(p).isDirectory(), false),
  isSymlink: (p) => safe(() => lstatSync(p).isSymbolicLink(), false),
  isExecutable: (p) => safe(() => (accessSync(p, fsc.X_OK), statSync(p).isFile()), false),
  fileSize: (p) => safe(() => (statSync(p).isFile() ? statSync(p).size : null), null),
  dirEntries: (p) => safe(() => readdirSync(p), null),
  isMountPoint: (p) => safe(() => p === "/" || statSync(p).dev !== statSync(dirname(p)).dev, false),
  isReadWrite: (p) => safe(() => (accessSync(p, fsc.W_OK), true), false),
  glob: (p) => safe(() => globExists(p), false),
  kernelCommandLine: () => safe(() => readFileSync("/proc/cmdline", "utf8").trim(), ""),
  kernelRelease: () => release(),
  architecture: () => hostFacts().architecture,
  hostname: () => hostname(),
  machineId: () => hostFacts().machineId,
  env: (name) => process.env[name],
  uid: () => userInfo().uid,
  userName: () => userInfo().username,
  groups: () =>
    safe(
      () =>
        readFileSync("/etc/group", "utf8")
          .split("\n")
          .filter((l) => l.split(":")[3]?.split(",").includes(userInfo().username))
          .map((l) => l.split(":")[0]!),
      [],
    ),
  virtualization: () =>
    safe(() => (/hypervisor/.test(readFileSync("/proc/cpuinfo", "utf8")) ? "vm" : existsSync("/.dockerenv") ? "container" : "none"), "none"),
  memoryBytes: () => totalmem(),
  cpus: () => cpus().length,
  osRelease: () => parseOsRelease(safe(() => readFileSync("/etc/os-release", "utf8"), "")),
  firstBoot: () => !safe(() => readFileSync("/etc/machine-id", "utf8").trim().length > 0, false),
  kernelModuleLoaded: (name) =>
    safe(
      () =>
        readFileSync("/proc/modules", "utf8")
          .split("\n")
          .some((l) => l.split(" ")[0] === name.replace(/-/g, "_")),
      false,
    ) || existsSync(`/sys/module/${name.replace(/-/g, "_")}`),
};
