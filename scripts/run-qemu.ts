#!/usr/bin/env bun
/**
 * Boots a built image under QEMU with its serial console on this terminal.
 *
 *   bun scripts/run-qemu.ts [BOARD] [--mode daemon|shell|none] [--build] [--accel auto|kvm|tcg]
 *                           [--run "COMMAND"] [--no-vsock]
 *
 * The guest gets a host<->guest vsock device: vhost-vsock-pci where the host has
 * /dev/vhost-vsock, otherwise vhost-user-vsock-pci served by `bunit vsock host` (started here;
 * the guest's memory is a shared memfd). The unix socket host programs use is printed:
 * `bunit vsock connect unix:PATH:PORT` reaches the guest's port, and the guest's connections
 * to CID 2 port P reach a listener at PATH_P. --no-vsock boots without the device.
 *
 * --build builds (or refreshes) the image first. --run executes a command in the guest through
 * the agent once it is up, prints its output, and powers the guest off; without it the guest
 * runs until it powers off (Ctrl-C stops QEMU).
 *
 * An SD-card board (raspberrypi-zero2w) boots from a copy of its own sdcard.img the way its
 * firmware would (scripts/lib/raspi.ts: QEMU raspi3ap, TCG), its console (the mini UART) on this
 * terminal; --mode is passed on the kernel command line, the other options do not apply.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage, loadBoard } from "./build-image.ts";
import { Guest } from "./lib/qemu.ts";
import { runCard } from "./lib/raspi.ts";
import { buildDir } from "./lib/paths.ts";

export async function imageFor(boardName: string, build: boolean) {
  if (build) return await buildImage(boardName);
  const board = loadBoard(boardName);
  const dir = join(buildDir, "images", board.name);
  const kernel = join(dir, "vmlinuz");
  const initramfs = join(dir, "initramfs.cpio.zst");
  if (!existsSync(kernel) || !existsSync(initramfs)) return await buildImage(boardName);
  const meta = JSON.parse(readFileSync(join(dir, "board.json"), "utf8"));
  const sdcard = join(dir, "sdcard.img");
  if (board.image.sdcard && !existsSync(sdcard)) return await buildImage(boardName);
  return { board, dir, kernel, initramfs, kernelVersion: meta.kernelVersion as string, ...(board.image.sdcard ? { sdcard } : {}) };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const board = args.find((a, i) => !a.startsWith("--") && !["--mode", "--accel", "--run"].includes(args[i - 1] ?? "")) ?? "qemu-x86_64";
  const img = await imageFor(board, args.includes("--build"));
  if (img.sdcard) {
    const mode = opt("--mode");
    console.error(`run-qemu: booting ${img.sdcard} (a copy) under QEMU raspi3ap, TCG; Ctrl-C stops it`);
    process.exit(await runCard(img.sdcard, mode ? `bunit.mode=${mode}` : ""));
  }
  if (!img.board.qemu) {
    console.error(`run-qemu: ${board} is not a QEMU board`);
    process.exit(2);
  }
  const cmd = opt("--run");
  const guest = await Guest.boot(img, {
    mode: (opt("--mode") as "daemon" | "shell" | "none") ?? "daemon",
    accel: (opt("--accel") as "auto" | "kvm" | "tcg") ?? "auto",
    onConsole: (l) => console.log(l),
    agent: true,
    vsock: !args.includes("--no-vsock"),
  });
  console.error(`run-qemu: ${board} up (${guest.accel})`);
  if (guest.vsockUds)
    console.error(
      `run-qemu: vsock through bunit's vhost-user back-end: bunit vsock connect unix:${guest.vsockUds}:PORT; the guest's CID 2 port P reaches ${guest.vsockUds}_P`,
    );
  process.on("SIGINT", () => void guest.kill().then(() => process.exit(130)));
  const exited = guest.proc.exited;
  if (cmd) {
    const r = await guest.run(["/bin/sh", "-c", cmd]);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    await guest.shutdown();
    process.exit(r.code ?? 1);
  }
  const code = await exited;
  await guest.shutdown(); // the back-end and the temporary directory go with QEMU
  process.exit(code);
}
