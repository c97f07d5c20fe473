/**
 * Benchmark peers taken from Debian's packages without installing them (xinetd and
 * openbsd-inetd conflict): downloaded with bunit's private apt state and unpacked under
 * .cache/bench/<package>. Debian builds busybox without inetd, so busybox inetd is built from
 * Debian's busybox source package (Debian's patches applied) with only that applet enabled.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { PrivateApt } from "../../scripts/lib/apt.ts";
import { cacheDir } from "../../scripts/lib/paths.ts";

$.verbose = false;
export const PEER_PACKAGES = ["xinetd", "openbsd-inetd"] as const;

export function peerRoot(pkg: (typeof PEER_PACKAGES)[number]): string {
  return join(cacheDir, "bench", pkg);
}

export async function unpackPeers(): Promise<void> {
  const todo = PEER_PACKAGES.filter((p) => !existsSync(join(peerRoot(p), "usr/sbin")));
  if (!todo.length) return;
  const apt = new PrivateApt(join(cacheDir, "apt"), ["amd64", "arm64"]);
  if (apt.listsAgeHours() > 24 * 7) await apt.update();
  const debs = await apt.download(todo.map((p) => `${p}:amd64`));
  for (const [i, p] of todo.entries()) {
    mkdirSync(peerRoot(p), { recursive: true });
    await $`dpkg-deb -x ${debs[i]!} ${peerRoot(p)}`;
  }
}

/** The busybox binary with the inetd applet (built by buildBusyboxInetd()). */
export function busyboxInetd(): string {
  return join(cacheDir, "bench", "busybox-inetd", "busybox");
}

export async function buildBusyboxInetd(): Promise<void> {
  if (existsSync(busyboxInetd())) return;
  const apt = new PrivateApt(join(cacheDir, "apt-src"), ["amd64"], { source: true });
  if (apt.listsAgeHours() > 24 * 7) await apt.update();
  const work = join(cacheDir, "bench", "busybox-src");
  rmSync(work, { recursive: true, force: true });
  const dsc = await apt.source("busybox", work);
  const tree = join(work, "tree");
  // apt-get checked the files against the signed Sources index; dpkg-source would also check
  // the .dsc signature, for which no Debian keyring is installed (a warning only).
  await $({ quiet: true })`dpkg-source -q -x ${dsc} ${tree}`;
  await $({ cwd: tree, quiet: true })`make -s allnoconfig`;
  const config = join(tree, ".config");
  writeFileSync(config, readFileSync(config, "utf8").replace("# CONFIG_INETD is not set", "CONFIG_INETD=y"));
  await $({ cwd: tree, quiet: true, input: "\n".repeat(200) })`make -s oldconfig`;
  if (!readFileSync(config, "utf8").includes("CONFIG_INETD=y")) throw new Error("busybox: CONFIG_INETD did not stay enabled");
  await $({ cwd: tree, quiet: true })`make -s -j${cpus().length} busybox`;
  mkdirSync(join(cacheDir, "bench", "busybox-inetd"), { recursive: true });
  copyFileSync(join(tree, "busybox"), busyboxInetd());
  rmSync(work, { recursive: true, force: true });
}
