/**
 * Boot time of the QEMU boards, kernel start to bunit's default.target, as the image tier
 * prints it for every board (the Raspberry Pi's is in raspi-boot.test.ts). The guest's uptime
 * when PID 1 starts the daemon ("bunit-init: ... up in X s") plus the time between that console
 * line and "Reached default.target" (under TCG the guest clock follows the host's).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../../scripts/build-image.ts";
import { buildDir } from "../../scripts/lib/paths.ts";
import { qemuArgs } from "../../scripts/lib/qemu.ts";
import { SerialGuest } from "../../scripts/lib/serial-guest.ts";

let guest: SerialGuest | undefined;
afterAll(async () => {
  await guest?.kill();
});

for (const board of ["qemu-x86_64", "qemu-aarch64"]) {
  test(`${board}: kernel start to default.target`, async () => {
    const img = await buildImage(board, { log: () => {} });
    const log = join(buildDir, `boot-time-${board}.log`);
    rmSync(log, { force: true });
    const bin = img.board.arch === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
    guest = new SerialGuest([bin, ...qemuArgs(img, "tcg", null, `${img.board.kernel.cmdline} bunit.mode=daemon`, null)], log);
    const g = guest;
    try {
      const up = await g.waitFor(/bunit-init: .* up in [\d.]+ s/, 300_000);
      const reached = await g.waitFor(/Reached default\.target/, 300_000);
      const initSec = Number(/up in ([\d.]+) s/.exec(up.text)![1]);
      const sec = initSec + (reached.at - up.at) / 1000;
      console.log(
        `${board} (QEMU ${img.board.qemu!.machine}, TCG): kernel start to default.target ${sec.toFixed(1)} s (PID 1 started at ${initSec.toFixed(1)} s)`,
      );
      expect(sec).toBeGreaterThan(initSec);
    } finally {
      await g.kill();
    }
  }, 600_000);
}
