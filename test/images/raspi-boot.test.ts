/**
 * The Raspberry Pi Zero 2 W image booted in emulation (QEMU raspi3ap, BCM2837 with 512 MiB, TCG)
 * from its own SD-card image: config.txt, cmdline.txt, the kernel, the device tree and the
 * initramfs are read from the FAT boot partition; the console is the board's mini UART.
 *
 * 1. The initramfs layout (the whole root in RAM: the card's kernel and device tree with the
 *    build's full initramfs): default.target is reached, the shipped echo socket answers a
 *    client typed into the serial console's shell, the missing UDC (QEMU's dwc2 is host-only)
 *    is reported with bunit's message, and PID 1 restarts a daemon killed with SIGKILL.
 * 2. The card as it is (squashfs root on flash, first-stage initramfs, data partition formatted
 *    on the first boot): default.target, the echo socket, /var/lib on the data partition, kept
 *    across a power cut and a second boot.
 * Both print the boot time (kernel start to default.target) and the memory in use.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { buildImage, type BuiltImage } from "../../scripts/build-image.ts";
import { buildDir } from "../../scripts/lib/paths.ts";
import { raspiQemuArgs, readBootFiles, type PiBootFiles } from "../../scripts/lib/raspi.ts";
import { SerialGuest } from "../../scripts/lib/serial-guest.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunit-raspi-"));
let guest: SerialGuest | undefined;
afterAll(async () => {
  await guest?.kill();
  rmSync(tmp, { recursive: true, force: true });
});

let built: { img: BuiltImage; files: PiBootFiles } | undefined;
async function image(): Promise<{ img: BuiltImage; files: PiBootFiles }> {
  if (!built) {
    const img = await buildImage("raspberrypi-zero2w", { log: () => {} });
    built = { img, files: await readBootFiles(img.sdcard!, join(tmp, "boot")) };
  }
  return built;
}

/** Boots, waits for default.target, prints the boot time; the console goes to build/raspi-LAYOUT.log. */
async function boot(layout: string, files: PiBootFiles, card: string | null): Promise<SerialGuest> {
  const log = join(buildDir, `raspi-${layout}.log`);
  rmSync(log, { force: true });
  guest = new SerialGuest(raspiQemuArgs(files, card), log);
  const g = guest;
  const reached = await g.waitFor(/Reached default\.target/, 420_000);
  await g.waitFor(/bunit-init: .* up in/, 1000);
  const r = await g.sh("cut -d' ' -f1 /proc/uptime");
  const bootSec = Number(r.out.trim().split("\n").at(-1)) - (performance.now() - reached.at) / 1000;
  console.log(`raspberrypi-zero2w (${layout}, QEMU raspi3ap, TCG): kernel start to default.target ${bootSec.toFixed(1)} s`);
  return g;
}

async function memory(g: SerialGuest, layout: string): Promise<number> {
  const mem = await g.sh("grep -E '^(MemTotal|MemAvailable|Shmem):' /proc/meminfo");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(mem.out)![1]);
  const usedMiB = (kb("MemTotal") - kb("MemAvailable")) / 1024;
  console.log(
    `raspberrypi-zero2w (${layout}): MemTotal-MemAvailable ${usedMiB.toFixed(0)} MiB, Shmem ${(kb("Shmem") / 1024).toFixed(0)} MiB, MemTotal ${(kb("MemTotal") / 1024).toFixed(0)} MiB`,
  );
  return usedMiB;
}

async function echoes(g: SerialGuest, text: string): Promise<void> {
  const listen = await g.sh("grep -Eq ':0007 0+:0000 0A' /proc/net/tcp6 /proc/net/tcp");
  expect(listen.code).toBe(0);
  const echo = await g.sh(`echo ${text} | nc -w 5 127.0.0.1 7`, 60_000);
  expect(echo.out).toContain(text);
}

test("raspberrypi-zero2w, initramfs root: default.target, the echo socket, no UDC said clearly, PID 1 heals the daemon", async () => {
  const { img, files } = await image();
  expect(files.cmdline).toContain("console=ttyS1");
  const g = await boot("initramfs", { ...files, initrd: img.initramfs }, null);
  try {
    await echoes(g, "echo-on-the-pi");
    await memory(g, "initramfs");
    // dwc2 is host-only in QEMU: the gadget cannot bind (after its bind_timeout, 30 s), says
    // why with bunit's message, and the daemon runs on.
    await g.waitFor(/gadget bunit: cannot bind after \d+ s: no USB Device Controller in \/sys\/class\/udc/, 120_000);

    // PID 1 restarts a daemon that dies, says why, and the sockets come back.
    const from = g.lines.length;
    const kill = await g.sh("kill -KILL $(ps -o pid,args | awk '/[b]unit.js daemon/ {print $1}')");
    expect(kill.code).toBe(0);
    await g.waitFor(/bunit-init: bunit daemon \(pid \d+\) was killed by signal KILL after \d+ s; restarting it in 1 s/, 30_000, from);
    const again = await g.waitFor(/Reached default\.target/, 300_000, from);
    console.log(`raspberrypi-zero2w: daemon restarted by PID 1, back at default.target ${((again.at - g.lines[from]!.at) / 1000).toFixed(1)} s after the kill`);
    await echoes(g, "echo-after-restart");
  } finally {
    await g.kill();
  }
}, 900_000);

test("raspberrypi-zero2w, the card as built: squashfs root on flash, data partition made on first boot, under 64 MiB used", async () => {
  const { img, files } = await image();
  expect(img.board.image.sdcard!.root).toBe("squashfs");
  // A copy of the card: the first boot formats its data partition.
  const card = join(tmp, "sdcard.img");
  await $`cp --sparse=always ${img.sdcard!} ${card}`;
  const g = await boot("sd-root", files, card);
  try {
    expect(g.lines.some((l) => /bunit-stage1: .* holds no file system: formatting it \(first boot\)/.test(l.text))).toBe(true);
    const mounts = await g.sh("grep -E ' / | /var/lib ' /proc/mounts");
    expect(mounts.out).toMatch(/^\S+ \/ squashfs ro/m);
    expect(mounts.out).toMatch(/^\/dev\/mmcblk\dp3 \/var\/lib ext4 rw/m);
    await echoes(g, "echo-from-flash");
    const used = await memory(g, "sd-root");
    expect(used).toBeLessThan(64);
    // What the board keeps goes to the data partition, and outlives a power cut.
    expect((await g.sh("echo kept > /var/lib/bunit-test && sync")).code).toBe(0);
  } finally {
    await g.kill();
  }
  // The second boot of the same card: the data partition is there, nothing is formatted.
  const again = await boot("sd-root-second", files, card);
  try {
    expect(again.lines.some((l) => /formatting it/.test(l.text))).toBe(false);
    expect((await again.sh("cat /var/lib/bunit-test")).out).toContain("kept");
  } finally {
    await again.kill();
  }
}, 900_000);
