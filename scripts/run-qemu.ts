#!/usr/bin/env bun
/**
 * Boots a built image under QEMU with its serial console on this terminal.
 *
 *   bun scripts/run-qemu.ts [BOARD] [--mode daemon|shell|none] [--build] [--accel auto|kvm|tcg]
 *                           [--run "COMMAND"]
 *
 * --build builds (or refreshes) the image first. --run executes a command in the guest through
 * the agent once it is up, prints its output, and powers the guest off; without it the guest
 * runs until it powers off (Ctrl-C stops QEMU).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage, loadBoard } from "./build-image.ts";
import { Guest } from "./lib/qemu.ts";
import { buildDir } from "./lib/paths.ts";

export async function imageFor(boardName: string, build: boolean) {
  if (build) return await buildImage(boardName);
  const board = loadBoard(boardName);
  const dir = join(buildDir, "images", board.name);
  const kernel = join(dir, "vmlinuz");
  const initramfs = join(dir, "initramfs.cpio.zst");
  if (!existsSync(kernel) || !existsSync(initramfs)) return await buildImage(boardName);
  const meta = JSON.parse(readFileSync(join(dir, "board.json"), "utf8"));
  return { board, dir, kernel, initramfs, kernelVersion: meta.kernelVersion as string };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const board = args.find((a, i) => !a.startsWith("--") && !["--mode", "--accel", "--run"].includes(args[i - 1] ?? "")) ?? "qemu-x86_64";
  const img = await imageFor(board, args.includes("--build"));
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
  });
  console.error(`run-qemu: ${board} up (${guest.accel})`);
  process.on("SIGINT", () => void guest.kill().then(() => process.exit(130)));
  if (cmd) {
    const r = await guest.run(["/bin/sh", "-c", cmd]);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    await guest.shutdown();
    process.exit(r.code ?? 1);
  }
  process.exit(await guest.proc.exited);
}
