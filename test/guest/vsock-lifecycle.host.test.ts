/**
 * Host<->guest vsock through bunit's vhost-user back-end across the two events a HIL rig lives
 * through, on the HOST (as vsock-host.host.test.ts; alone:
 * flock /tmp/bunit-heavy.lock bun test/guest/run.ts vsock-lifecycle):
 *
 * - the guest reboots for real (`reboot -f`; QEMU runs without -no-reboot and resets the
 *   machine): QEMU stops the back-end's rings, the new kernel's driver negotiates again
 *   (features, memory table, rings) over the same vhost-user connection, and the next
 *   connections work both ways;
 * - the back-end process is killed outright (SIGKILL). QEMU 7.2 cannot reconnect a
 *   vhost-user-vsock device (firmware/vhost/README.md, "When the back-end dies"), so the
 *   back-end runs as a bunit service with a file descriptor store: bunit restarts it
 *   (Restart=always), it takes its session over from the store, and QEMU never sees the
 *   vhost-user connection close. An in-place restart (SIGHUP) is tested in vsock-host.host.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { buildImage } from "../../scripts/build-image.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { Guest, VHOST_USER_GUEST_CID, VsockBackend } from "../../scripts/lib/qemu.ts";
import { connectRetrying, guestToHost, listenOnce, readAll, waitUntil } from "./vsock-support.ts";

let img: Awaited<ReturnType<typeof buildImage>>;

beforeAll(async () => {
  img = await buildImage("qemu-x86_64");
}, 300_000);

describe("host<->guest vsock across a guest reboot and a back-end killed outright", () => {
  test("the guest reboots (reboot -f, QEMU resets the machine): the back-end sees the device set up again, and the next connections work both ways", async () => {
    const g = await Guest.boot(img, { mode: "none", vsock: "vhost-user", reboot: true });
    try {
      const b = g.vsockBackend!;
      const pid = b.proc!.pid;
      expect(await listenOnce(g, 20700, "before the reboot")).toBe("before the reboot\n");
      // A connection open when the guest goes down ends (the device reset resets it).
      const heldSrv = g.run(["/bin/sh", "-c", "timeout 60 bunit vsock listen 20701 < /dev/null"], { timeoutMs: 90_000 }).catch((e: Error) => e);
      const held = await connectRetrying(g, 20701);
      const from = b.log.length;
      const t0 = performance.now();
      await g.reboot();
      const upMs = performance.now() - t0;
      expect(g.console.filter((l) => /bunit-init: .* up in/.test(l)).length).toBe(2);
      expect(await readAll(held, 20_000)).toHaveLength(0);
      held.close();
      expect(String(await heldSrv)).toContain("the guest rebooted");
      expect(await listenOnce(g, 20700, "after the reboot")).toBe("after the reboot\n");
      expect(await guestToHost(g, 20702, "ping-after-the-reboot")).toEqual({ host: "ping-after-the-reboot\n", guest: "pong to ping-after-the-reboot\n" });
      // What the back-end saw: QEMU stopped the rings at the reset (GET_VRING_BASE), then the
      // new kernel's driver set the device up again, all on the same vhost-user connection.
      const after = b.log.slice(from);
      expect(after.some((l) => /vring 0 stopped at avail index \d+/.test(l))).toBe(true);
      expect(after.some((l) => /vring 1 stopped at avail index \d+/.test(l))).toBe(true);
      const setUp = after.findLastIndex((l) => /vring 0 stopped/.test(l));
      const again = after.slice(setUp);
      expect(again.some((l) => /features 0x[0-9a-f]+ set/.test(l))).toBe(true);
      expect(again.some((l) => /memory table of \d+ regions? \(\d+ MiB\) mapped/.test(l))).toBe(true);
      expect(again.some((l) => /vring 0 running/.test(l))).toBe(true);
      expect(again.some((l) => /vring 1 running/.test(l))).toBe(true);
      expect(after.some((l) => l.includes("front-end connected"))).toBe(false);
      expect(b.proc!.pid).toBe(pid);
      console.log(`vsock lifecycle: the guest rebooted in ${(upMs / 1000).toFixed(1)} s; the back-end saw ${after.length} log lines`);
    } finally {
      await g.shutdown();
    }
  }, 300_000);

  describe("the back-end as a bunit service with a file descriptor store", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-vsock-life-"));
    const units = join(dir, "units");
    const control = join(dir, "control");
    const vhostUser = join(dir, "vhost.sock");
    const uds = join(dir, "v.sock");
    const cliPath = join(repoRoot, "firmware/cli.ts");
    let daemon: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
    let daemonLog = "";
    const cli = async (...args: string[]) => {
      const r = await $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${process.execPath} ${cliPath} ${args}`;
      return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
    };
    type Status = { activeState: string; service?: { mainPid: number | null; fdStore: string[]; nRestarts: number } };
    const status = async () => (JSON.parse((await cli("status", "vsock-backend.service", "--json")).out) as { units: Status[] }).units[0]!;

    beforeAll(async () => {
      mkdirSync(units, { recursive: true });
      writeFileSync(
        join(units, "vsock-backend.service"),
        [
          "[Unit]",
          "Description=vhost-user vsock back-end of the test guest",
          "[Service]",
          `ExecStart=${process.execPath} ${cliPath} vsock host --vhost-user ${vhostUser} --uds ${uds} --guest-cid ${VHOST_USER_GUEST_CID}`,
          // The session goes to the store (bunit sets $FDSTORE for a service with one, as systemd >= 254 does).
          "NotifyAccess=main",
          "FileDescriptorStoreMax=64",
          "Restart=always",
          "RestartSec=100ms",
          "",
        ].join("\n"),
      );
      daemon = Bun.spawn([process.execPath, cliPath, "daemon", "--units", units, "--control", control, "--no-cgroup"], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      void (async () => {
        for await (const c of daemon!.stderr) daemonLog += new TextDecoder().decode(c);
      })();
      await waitUntil("the daemon's control socket", async () => (await cli("status")).code === 0, 20_000);
      expect((await cli("start", "vsock-backend.service")).code).toBe(0);
      await waitUntil("the back-end's sockets", async () => existsSync(vhostUser) && existsSync(uds), 20_000);
    }, 60_000);

    afterAll(async () => {
      await cli("stop", "vsock-backend.service");
      daemon?.kill("SIGTERM");
      await daemon?.exited;
      rmSync(dir, { recursive: true, force: true });
    });

    test("SIGKILL: bunit restarts the back-end, which takes its session over from the store; QEMU never notices and the next connections work", async () => {
      // The guest is wired to sockets the service made (this VsockBackend is never started).
      const g = await Guest.boot(img, { mode: "none", vsockBackend: new VsockBackend(vhostUser, uds, VHOST_USER_GUEST_CID) });
      try {
        expect(await listenOnce(g, 20800, "before the kill")).toBe("before the kill\n");
        const before = await status();
        const pid = before.service!.mainPid!;
        expect(before.service!.fdStore.some((n) => n.startsWith("vhost.state."))).toBe(true);
        const heldSrv = g.run(["/bin/sh", "-c", "timeout 30 bunit vsock listen 20801 < /dev/null"], { timeoutMs: 60_000 });
        const held = await connectRetrying(g, 20801);

        const t0 = performance.now();
        process.kill(pid, "SIGKILL");
        let now = before;
        await waitUntil(
          "bunit to restart the back-end",
          async () => {
            now = await status();
            return now.activeState === "active" && (now.service?.mainPid ?? pid) !== pid;
          },
          30_000,
        );
        // The host side of the open connection died with the process.
        expect(await readAll(held, 20_000)).toHaveLength(0);
        held.close();
        await heldSrv;
        expect(await listenOnce(g, 20800, "after the kill")).toBe("after the kill\n");
        const backMs = performance.now() - t0;
        expect(await guestToHost(g, 20802, "ping-after-the-kill")).toEqual({ host: "ping-after-the-kill\n", guest: "pong to ping-after-the-kill\n" });
        expect(now.service!.nRestarts).toBe(1);
        await waitUntil("the new process's log line", async () => daemonLog.includes("took over session 1 from the file descriptor store"), 10_000);
        // QEMU never saw the vhost-user connection close (it would log "Failed to set msg fds" and the like).
        expect(g.console.filter((l) => l.startsWith("[qemu]"))).toEqual([]);
        console.log(`vsock lifecycle: back-end SIGKILLed, restarted by bunit and serving again in ${(backMs / 1000).toFixed(1)} s`);
      } catch (e) {
        throw new Error(`${errorText(e)}\n--- daemon ---\n${daemonLog.split("\n").slice(-60).join("\n")}\n--- console ---\n${g.console.slice(-30).join("\n")}`);
      } finally {
        await g.shutdown();
      }
    }, 300_000);
  });
});
