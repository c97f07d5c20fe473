#!/usr/bin/env bun
/**
 * Installs the Debian packages bunit's build and tests need, when they are missing.
 *
 *   bun scripts/setup-host.ts [--for tests|image|all]
 *
 * Runs apt-get as root (directly, or through sudo when available). Idempotent and quiet
 * when everything is present.
 */
import { $ } from "zx";

$.verbose = false;

/** Packages per purpose; the image build also needs the kernel tools of the board notes. */
export const HOST_PACKAGES = {
  native: ["gcc", "libc6-dev", "make"],
  // attr: getfattr, which the XAttr*= tests read attributes back with.
  tests: ["libsystemd-dev", "pkg-config", "busybox-static", "curl", "socat", "iproute2", "util-linux", "systemd", "attr"],
  image: [
    "qemu-system-x86",
    "qemu-system-arm",
    "busybox-static",
    "kmod",
    "cpio",
    "xz-utils",
    "zstd",
    "dpkg-dev",
    "e2fsprogs",
    "dosfstools",
    "mtools",
    "fdisk",
    "device-tree-compiler",
    "file",
    "squashfs-tools",
    "bmap-tools",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
  ],
} as const;

async function missing(pkgs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of pkgs) {
    // The format goes in as one quoted argument: the shell must not expand ${Status}.
    const format = "-f=${Status}";
    const r = await $`dpkg-query -W ${format} ${p}`.nothrow();
    if (r.exitCode !== 0 || !r.stdout.includes("install ok installed")) out.push(p);
  }
  return out;
}

export async function ensurePackages(pkgs: readonly string[]): Promise<void> {
  const need = await missing([...new Set(pkgs)]);
  if (need.length === 0) return;
  const root = process.getuid?.() === 0;
  const sudo = root ? [] : ["sudo", "-n"];
  console.log(`setup-host: installing ${need.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await $({ env, stdio: "inherit" })`${sudo} apt-get update -qq`;
  await $({ env, stdio: "inherit" })`${sudo} apt-get install -y -qq --no-install-recommends ${need}`;
}

if (import.meta.main) {
  const i = process.argv.indexOf("--for");
  const what = i >= 0 ? process.argv[i + 1] : "all";
  const pkgs =
    what === "tests"
      ? [...HOST_PACKAGES.native, ...HOST_PACKAGES.tests]
      : what === "image"
        ? [...HOST_PACKAGES.native, ...HOST_PACKAGES.image]
        : [...HOST_PACKAGES.native, ...HOST_PACKAGES.tests, ...HOST_PACKAGES.image];
  await ensurePackages(pkgs);
}
