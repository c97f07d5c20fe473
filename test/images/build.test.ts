/**
 * The image build script for every board: artifacts, caching, dry runs, bad configurations,
 * and an emulated boot of the arm64 board.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { buildImage } from "../../scripts/build-image.ts";
import { Guest } from "../../scripts/lib/qemu.ts";

$.verbose = false;

async function cpioList(initramfs: string): Promise<string[]> {
  const out = await $`zstd -dc ${initramfs} | busybox cpio -t 2>/dev/null`;
  return out.stdout.split("\n").filter(Boolean);
}

describe("build-image", () => {
  for (const board of ["qemu-x86_64", "qemu-aarch64", "raspberrypi-zero2w"]) {
    test(`${board}: builds an image with kernel, modules, Bun, libc, the native module and the firmware`, async () => {
      const img = await buildImage(board, { log: () => {} });
      expect(existsSync(img.kernel)).toBe(true);
      const files = await cpioList(img.initramfs);
      const arch = img.board.arch;
      for (const f of [
        "init",
        "bin/busybox",
        "usr/bin/bun",
        "usr/bin/bunit",
        "usr/lib/bunit/libbunit.so",
        "usr/lib/bunit/firmware/cli.ts",
        "usr/lib/bunit/bunit.js",
        "usr/lib/bunit/bunit.js.jsc",
        "usr/lib/bunit/firmware/tools/guest-agent.ts",
        "etc/bunit/units/echo.socket",
        "dev/console",
        "etc/passwd",
        "etc/bunit/units/sockets.target.wants/echo.socket",
        "etc/bunit/units/.bunit-presets-applied",
        "etc/bunit/system-preset/50-board.preset",
      ]) {
        expect(files).toContain(f);
      }
      expect(files).toContain(arch === "x86_64" ? "lib64/ld-linux-x86-64.so.2" : "lib/ld-linux-aarch64.so.1");
      expect(files.some((f) => f.endsWith("/usb_f_fs.ko"))).toBe(true);
      expect(files.some((f) => f.endsWith("/modules.dep"))).toBe(true);
      expect(files.some((f) => f.startsWith("opt/bunit/test/guest"))).toBe(img.board.rootfs.includeTests);
      // The Bun and native binaries are built for the board.
      const tmp = mkdtempSync(join(tmpdir(), "bunit-img-"));
      await $({ cwd: tmp })`zstd -dc ${img.initramfs} | busybox cpio -i -d usr/bin/bun usr/lib/bunit/libbunit.so 2>/dev/null`;
      const want = arch === "x86_64" ? "x86-64" : "ARM aarch64";
      expect((await $`file -b ${join(tmp, "usr/bin/bun")}`).stdout).toContain(want);
      expect((await $`file -b ${join(tmp, "usr/lib/bunit/libbunit.so")}`).stdout).toContain(want);
      rmSync(tmp, { recursive: true, force: true });
    }, 600000);
  }

  test("raspberrypi-zero2w: an SD card with a FAT boot partition, firmware, kernel, DTB (dwc2 peripheral)", async () => {
    const img = await buildImage("raspberrypi-zero2w", { log: () => {} });
    expect(img.sdcard).toBeDefined();
    const parts = (await $`sfdisk -J ${img.sdcard!}`).stdout;
    const table = JSON.parse(parts).partitiontable.partitions;
    expect(table[0]).toMatchObject({ start: 2048, type: "c", bootable: true });
    // The root on flash: a squashfs second partition, then the data partition (empty until
    // the board's first boot formats it).
    expect(table.map((p: { type: string }) => p.type)).toEqual(["c", "83", "83"]);
    const magic = (await $`dd if=${img.sdcard!} bs=512 skip=${table[1].start} count=1 status=none`.quiet()).stdout.slice(0, 4);
    expect(magic).toBe("hsqs");
    const listing = (await $`mdir -i ${img.sdcard! + "@@1M"} -b ::/`).stdout;
    for (const f of ["bootcode.bin", "start.elf", "fixup.dat", "vmlinuz", "initrd.img", "config.txt", "cmdline.txt", "bcm2837-rpi-zero-2-w.dtb"])
      expect(listing).toContain(`::/${f}`);
    const tmp = mkdtempSync(join(tmpdir(), "bunit-sd-"));
    await $`mcopy -i ${img.sdcard! + "@@1M"} ::/bcm2837-rpi-zero-2-w.dtb ${tmp}/board.dtb`;
    expect((await $`fdtget -t s ${tmp}/board.dtb /soc/usb@7e980000 dr_mode`).stdout.trim()).toBe("peripheral");
    rmSync(tmp, { recursive: true, force: true });
    // The block map beside it: bmaptool checks it against the image.
    const bmap = readFileSync(`${img.sdcard!}.bmap`, "utf8");
    expect(bmap).toContain(`<ImageSize> ${268435456} </ImageSize>`);
    await $`bmaptool -q copy --bmap ${img.sdcard!}.bmap ${img.sdcard!} ${tmp}-copy.img`;
    expect((await $`cmp ${img.sdcard!} ${tmp}-copy.img`).exitCode).toBe(0);
    rmSync(`${tmp}-copy.img`, { force: true });
  }, 600000);

  test("a second build with nothing changed runs no step; --dry-run prints the plan", async () => {
    const lines: string[] = [];
    await buildImage("qemu-x86_64", { log: (l) => lines.push(l) });
    expect(lines.at(-1)).toMatch(/\(0 steps run, 6 cached\)$/);
    const plan: string[] = [];
    await buildImage("qemu-x86_64", { dryRun: true, log: (l) => plan.push(l) });
    expect(plan.join("\n")).toContain("6. initramfs: cpio archive of the root file system, zstd (cached)");
  }, 600000);

  test("a bad board config is a clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-board-"));
    const f = join(dir, "broken.toml");
    writeFileSync(
      f,
      `name = "broken"\ndescription = "x"\narch = "x86_64"\nhostname = "b"\n[kernel]\npackage = "linux-image-amd64"\ncmdline = ""\nmodules = ["usb_f_fs", "no_such_module"]\n[qemu]\nmachine = "q35"\nconsole = "ttyS0"\n`,
    );
    await expect(buildImage(f, { log: () => {} })).rejects.toThrow(/kernel.modules: no_such_module not found in linux-image-/);
    writeFileSync(f, `name = "broken"\narch = "sparc"\n`);
    await expect(buildImage(f, { log: () => {} })).rejects.toThrow(/arch: must be "x86_64" or "aarch64", not "sparc"/);
    rmSync(dir, { recursive: true, force: true });
  }, 600000);

  test("qemu-aarch64 boots under emulation and runs Bun", async () => {
    const img = await buildImage("qemu-aarch64", { log: () => {} });
    const g = await Guest.boot(img, { mode: "none", bootTimeoutMs: 300000 });
    try {
      expect((await g.sh("uname -m")).trim()).toBe("aarch64");
      // The board's CPU has no SVE: under QEMU 7.2 it made the guest run stale JIT code (see the board config).
      expect((await g.sh("grep -m1 Features /proc/cpuinfo")).split(/\s+/)).not.toContain("sve");
      expect((await g.sh("ls /sys/class/udc")).trim()).toBe("dummy_udc.0");
      expect((await g.sh("bun -e 'console.log(process.arch)'")).trim()).toBe("arm64");
      // The daemon spawns services on arm64 too (native clone3 with the aarch64 entry code,
      // born in the unit's cgroup): a connection to the shipped echo socket gets its echo.
      await g.sh("bunit daemon --units /etc/bunit/units --control /run/bunit-test/control >/tmp/daemon.log 2>&1 </dev/null &");
      await g.sh(
        "for i in $(seq 1 240); do grep -Eq ':0007 0+:0000 0A' /proc/net/tcp6 /proc/net/tcp 2>/dev/null && exit 0; sleep 0.5; done; cat /tmp/daemon.log; exit 1",
        { timeoutMs: 180000 },
      );
      const client = `const s = await Bun.connect({ hostname: "127.0.0.1", port: 7, socket: { data(_, d) { console.log(String(d).trim()); process.exit(0); } } }); s.write("echo on arm64\\n");`;
      const r = await g.run(["/usr/bin/bun", "-e", client], { timeoutMs: 60000 });
      if (r.stdout.trim() !== "echo on arm64") {
        // What the client saw, and what the daemon did with the connection.
        const log = await g.sh("cat /tmp/daemon.log; echo '--- dmesg'; dmesg | tail -20", { allowFail: true });
        console.error(`echo client: exit ${r.code ?? r.signal}, stdout ${JSON.stringify(r.stdout)}, stderr:\n${r.stderr}\ndaemon.log:\n${log}`);
      }
      expect(r.stdout.trim()).toBe("echo on arm64");
      expect(await g.sh("cat /tmp/daemon.log")).toMatch(/echo@\S+\.service: Deactivated successfully|echo@\S+\.service: Started/);
    } finally {
      await g.shutdown();
    }
  }, 600000);
});
