/**
 * The hardware watchdog in the x86_64 board, driven by the real daemon: QEMU's i6300esb (board
 * qemu.extra_args, passed by qemuArgs) and its Debian driver give /dev/watchdog0; `bunit daemon
 * --watchdog /dev/watchdog0 --watchdog-sec N` feeds it from its event loop. While the daemon
 * runs, the guest lives past several timeouts; once the daemon is stopped with SIGSTOP (a hung
 * daemon), the watchdog resets the guest (QEMU, started with -no-reboot, exits). Driven through
 * the serial console's shell (bunit.mode=shell), so the daemon is the one started here.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../../scripts/build-image.ts";
import { qemuArgs } from "../../scripts/lib/qemu.ts";
import { SerialGuest } from "../../scripts/lib/serial-guest.ts";
import { buildDir } from "../../scripts/lib/paths.ts";

let guest: SerialGuest | undefined;
afterAll(async () => {
  await guest?.kill();
});

const SEC = 5;

test("qemu-x86_64: a running daemon keeps the i6300esb fed; a stopped daemon gets the guest reset", async () => {
  const img = await buildImage("qemu-x86_64", { log: () => {} });
  const q = img.board.qemu!;
  expect(q.extraArgs).toContain("i6300esb");
  const cmdline = `${img.board.kernel.cmdline} bunit.mode=shell`;
  rmSync(join(buildDir, "watchdog-console.log"), { force: true });
  guest = new SerialGuest([`qemu-system-x86_64`, ...qemuArgs(img, "tcg", null, cmdline, null)], join(buildDir, "watchdog-console.log"));
  const g = guest;
  await g.waitFor(/bunit-init: .* up in/, 180_000);
  expect((await g.sh("ls /dev/watchdog0")).code).toBe(0);
  await g.sh(`bunit daemon --units /etc/bunit/units --watchdog /dev/watchdog0 --watchdog-sec ${SEC} > /tmp/daemon.log 2>&1 & echo $! > /tmp/daemon.pid`);
  await g.sh(`for i in $(seq 1 180); do grep -q 'watchdog.*armed' /tmp/daemon.log && break; sleep 0.5; done`, 120_000);
  const armed = await g.sh("cat /tmp/daemon.log");
  expect(armed.out).toContain(`Hardware watchdog /dev/watchdog0 armed: ${SEC} s timeout, pinged every ${SEC / 2} s.`);
  // Fed: the guest lives through three timeouts (guest time, measured in the guest), the daemon too.
  const alive = await g.sh(
    `t0=$(cut -d. -f1 /proc/uptime); while [ $(( $(cut -d. -f1 /proc/uptime) - t0 )) -lt ${3 * SEC} ]; do sleep 1; done; kill -0 $(cat /tmp/daemon.pid) && echo still-up`,
    120_000,
  );
  expect(alive.out).toContain("still-up");
  // Hung: stopped with SIGSTOP, the daemon feeds no more and the watchdog resets the guest.
  const stoppedAt = performance.now();
  g.type("kill -STOP $(cat /tmp/daemon.pid)\n");
  const exited = await g.exited(120_000);
  const took = (performance.now() - stoppedAt) / 1000;
  console.log(`qemu-x86_64: guest reset by the i6300esb watchdog ${took.toFixed(1)} s after the daemon was stopped (timeout ${SEC} s, QEMU exit ${exited})`);
  // i6300esb fires after its timeout and a second stage of the same length: at most 2*SEC of
  // guest time, plus what TCG loses against the wall clock.
  expect(took).toBeLessThan(60);
  expect(took).toBeGreaterThan(SEC / 2);
}, 600_000);
