/** Reads the machine facts that specifiers expand to (I/O; the expansion itself is pure). */
import { readFileSync } from "node:fs";
import { hostname, release, userInfo } from "node:os";
import type { HostFacts } from "./specifiers.ts";

function readTrim(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]!] = v.replace(/\\(.)/g, "$1");
  }
  return out;
}

const ARCH: Record<string, string> = { x64: "x86-64", ia32: "x86", arm64: "arm64", arm: "arm", riscv64: "riscv64", ppc64: "ppc64-le", s390x: "s390x" };

let cached: HostFacts | null = null;

export function hostFacts(): HostFacts {
  if (cached) return cached;
  const u = userInfo();
  const root = u.uid === 0;
  const home = process.env.HOME || u.homedir || (root ? "/root" : "/");
  const xdgRuntime = process.env.XDG_RUNTIME_DIR;
  let group = root ? "root" : String(u.gid);
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(u.gid)) {
        group = f[0]!;
        break;
      }
    }
  } catch {
    /* no /etc/group on this board */
  }
  cached = {
    architecture: ARCH[process.arch] ?? process.arch,
    bootId: readTrim("/proc/sys/kernel/random/boot_id").replace(/-/g, ""),
    machineId: readTrim("/etc/machine-id"),
    hostname: hostname(),
    prettyHostname: parseOsRelease(readTrim("/etc/machine-info")).PRETTY_HOSTNAME ?? "",
    kernelRelease: release(),
    osRelease: parseOsRelease(readTrim("/etc/os-release") || readTrim("/usr/lib/os-release")),
    user: { name: u.username, uid: u.uid, gid: u.gid, group, home, shell: u.shell || "/bin/sh" },
    runtimeDir: root ? "/run" : xdgRuntime || `/run/user/${u.uid}`,
    stateDir: root ? "/var/lib" : process.env.XDG_STATE_HOME || `${home}/.local/state`,
    cacheDir: root ? "/var/cache" : process.env.XDG_CACHE_HOME || `${home}/.cache`,
    logsDir: root ? "/var/log" : `${process.env.XDG_STATE_HOME || `${home}/.local/state`}/log`,
    configDir: root ? "/etc" : process.env.XDG_CONFIG_HOME || `${home}/.config`,
    tmpDir: process.env.TMPDIR || "/tmp",
    varTmpDir: "/var/tmp",
  };
  return cached;
}
