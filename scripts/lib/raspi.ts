/**
 * Booting a Raspberry Pi SD-card image in QEMU (machine raspi3ap: BCM2837 with 512 MiB, like
 * the Zero 2 W), the way the Pi's firmware would: config.txt and cmdline.txt are read from the
 * image's own FAT boot partition (mtools, no loop device), and so are the kernel, the device
 * tree and the initramfs they name. The console is the board's: the mini UART (QEMU's second
 * serial port; the first one, the PL011, is wired to Bluetooth on the Zero 2 W), so the
 * image's `console=ttyS1` works unchanged in both places.
 *
 * The one emulation adaptation, made on a copy of the device tree and never in the image: the
 * copy's power-management block (watchdog@7e100000) is disabled. QEMU 7.2 maps no ASB bridge
 * registers behind it (the kernel's bcm2835-power driver dies reading them: synchronous
 * external abort in PID 1), and its PM model has no watchdog countdown: it resets the machine
 * on the very write that arms bcm2835-wdt (RSTC with WRCFG full reset), so a daemon started
 * with --watchdog would reset the emulated board at once. Without the node there is no
 * /dev/watchdog0: the daemon logs that and runs on, as on a board without one.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";

$.verbose = false;

export interface ConfigTxt {
  kernel: string;
  initramfs?: string;
  deviceTree?: string;
  enableUart: boolean;
}

/** The parts of config.txt a QEMU boot needs (pure). Later lines win, as with the firmware. */
export function parseConfigTxt(text: string): ConfigTxt {
  const out: ConfigTxt = { kernel: "kernel8.img", enableUart: false };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line || line.startsWith("[")) continue;
    const init = /^initramfs\s+(\S+)/.exec(line);
    if (init) {
      out.initramfs = init[1]!;
      continue;
    }
    const m = /^([\w]+)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "kernel") out.kernel = value;
    else if (key === "device_tree") out.deviceTree = value;
    else if (key === "enable_uart") out.enableUart = value === "1";
  }
  return out;
}

/** Byte offset of the first partition (the FAT boot partition) of a disk image. */
export async function bootPartitionOffset(image: string): Promise<number> {
  const table = JSON.parse((await $`sfdisk -J ${image}`).stdout) as { partitiontable: { sectorsize?: number; partitions: { start: number }[] } };
  const first = table.partitiontable.partitions[0];
  if (!first) throw new Error(`${image}: no partition`);
  return first.start * (table.partitiontable.sectorsize ?? 512);
}

export interface PiBootFiles {
  kernel: string;
  dtb: string;
  initrd?: string;
  cmdline: string;
  config: ConfigTxt;
}

/** Copies what the firmware would load out of the image's boot partition into dir. */
export async function readBootFiles(image: string, dir: string): Promise<PiBootFiles> {
  mkdirSync(dir, { recursive: true });
  const fat = `${image}@@${await bootPartitionOffset(image)}`;
  const get = async (name: string): Promise<string> => {
    const dest = join(dir, name.replace(/\//g, "_"));
    await $`mcopy -o -n -i ${fat} ${"::/" + name} ${dest}`;
    return dest;
  };
  const config = parseConfigTxt(await Bun.file(await get("config.txt")).text());
  const cmdline = (await Bun.file(await get("cmdline.txt")).text()).trim();
  if (!config.deviceTree) throw new Error(`${image}: config.txt names no device_tree`);
  const dtb = await get(config.deviceTree);
  await $`fdtput -t s ${dtb} /soc/watchdog@7e100000 status disabled`;
  return { kernel: await get(config.kernel), dtb, ...(config.initramfs ? { initrd: await get(config.initramfs) } : {}), cmdline, config };
}

/**
 * The QEMU command line for those files (pure). The mini UART is the second -serial; the card
 * (QEMU wants a power-of-two size) is the SD card the kernel sees.
 */
export function raspiQemuArgs(files: PiBootFiles, card: string | null, machine = "raspi3ap"): string[] {
  return [
    "qemu-system-aarch64",
    "-M",
    machine,
    "-accel",
    "tcg",
    "-display",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-serial",
    "null",
    "-serial",
    "stdio",
    "-kernel",
    files.kernel,
    "-dtb",
    files.dtb,
    ...(files.initrd ? ["-initrd", files.initrd] : []),
    "-append",
    files.cmdline,
    ...(card ? ["-drive", `file=${card},if=sd,format=raw`] : []),
  ];
}

/**
 * Boots a copy of the card image for a person (the built image stays as it is: the board
 * formats its data partition on the first boot), the console (the mini UART) on this terminal.
 * extraCmdline is appended to cmdline.txt's line (e.g. bunit.mode=shell). Resolves to QEMU's
 * exit status; Ctrl-C stops QEMU.
 */
export async function runCard(image: string, extraCmdline = "", machine = "raspi3ap"): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "bunit-raspi-"));
  try {
    const files = await readBootFiles(image, join(dir, "boot"));
    if (extraCmdline) files.cmdline = `${files.cmdline} ${extraCmdline}`;
    const card = join(dir, "sdcard.img");
    await $`cp --sparse=always ${image} ${card}`;
    const qemu = Bun.spawn(raspiQemuArgs(files, card, machine), { stdio: ["inherit", "inherit", "inherit"] });
    const stop = () => qemu.kill();
    process.on("SIGTERM", stop);
    try {
      return await qemu.exited;
    } finally {
      process.off("SIGTERM", stop);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
