/**
 * Builds the pieces of the SD-card root (see sd-root.ts): the squashfs of the root layers and
 * the first-stage initramfs.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { $ } from "zx";
import { collectLayers, writeCpio, type CpioEntry } from "./cpio.ts";
import { SQUASHFS_PSEUDO, stage1Init } from "./sd-root.ts";

$.verbose = false;

/** busybox's applets as paths ("bin/ls", "usr/sbin/..."), from the build machine's busybox-static (same Debian package). */
async function busyboxApplets(): Promise<string[]> {
  return (await $`busybox --list-full`).stdout.split("\n").filter(Boolean);
}

/** Merges the layers into one directory, adds what a read-only root needs, and compresses it. */
export async function buildSquashfs(layers: readonly string[], out: string): Promise<string> {
  const stage = join(out, "root");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const l of layers) cpSync(l, stage, { recursive: true, verbatimSymlinks: true, force: true });
  // The root is read-only: busybox's links and the mount points exist beforehand.
  for (const a of await busyboxApplets()) {
    const p = join(stage, a);
    if (existsSync(p) || lstatSync(p, { throwIfNoEntry: false })) continue;
    mkdirSync(dirname(p), { recursive: true });
    symlinkSync("/bin/busybox", p);
  }
  for (const d of ["proc", "sys", "dev", "run", "tmp", "root", "mnt", "var", "sys/fs/cgroup"]) mkdirSync(join(stage, d), { recursive: true });
  chmodSync(join(stage, "tmp"), 0o1777);
  const pseudo = join(out, "pseudo");
  writeFileSync(pseudo, SQUASHFS_PSEUDO.join("\n") + "\n");
  const img = join(out, "root.squashfs");
  await $`mksquashfs ${stage} ${img} -noappend -quiet -no-progress -all-root -comp zstd -Xcompression-level 15 -b 256K -pf ${pseudo}`;
  rmSync(stage, { recursive: true, force: true });
  return img;
}

/** The first-stage initramfs: busybox, the board's modules (from the kernel layer), /init. */
export async function buildStage1(boardName: string, userland: string, kernelRoot: string, out: string): Promise<string> {
  const entries = new Map<string, CpioEntry>();
  for (const [p, e] of collectLayers([kernelRoot])) entries.set(p, e);
  const bb = join(userland, "bin/busybox");
  entries.set("bin/busybox", { kind: "file", mode: 0o755, source: bb, size: lstatSync(bb).size });
  entries.set("init", { kind: "data", mode: 0o755, data: new TextEncoder().encode(stage1Init(boardName)) });
  entries.set("dev/console", { kind: "char", mode: 0o600, major: 5, minor: 1 });
  entries.set("dev/null", { kind: "char", mode: 0o666, major: 1, minor: 3 });
  for (const d of ["proc", "sys", "newroot", "bin", "sbin"]) if (!entries.has(d)) entries.set(d, { kind: "dir", mode: 0o755 });
  const cpio = join(out, "stage1.cpio");
  writeCpio(entries, cpio);
  await $`zstd -q -19 --rm -f ${cpio} -o ${cpio}.zst`;
  return `${cpio}.zst`;
}

export function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += lstatSync(join(dir, f)).size;
  return n;
}
