/**
 * systemd test/units/TEST-07-PID1.mqueue-ownership.sh: SocketUser=, SocketGroup= and
 * SocketMode= apply to a ListenMessageQueue= queue: it shows as `0420 nobody adm` under the
 * mqueue file system. Fixtures: units/TEST-07-PID1.mqueue-ownership/.
 *
 * Not ported: the first check, `systemd-run -p PrivateIPC=yes` gets its own IPC namespace
 * (bunit has no transient units, and PrivateIPC= is one of the sandboxing directives it parses
 * and ignores). `systemctl start dev-mqueue.mount` becomes a private mount of the mqueue file
 * system (unshare -m), so the host's mounts stay as they are.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { BunitDaemon, run } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test.skipIf(!existsSync("/proc/sys/fs/mqueue"))(
  "ListenMessageQueue= with SocketUser=/SocketGroup=/SocketMode=: 0420 nobody adm",
  async () => {
    const queue = `/bunit-st-${process.pid}-attr_q`;
    const [user, group, mode] = ["nobody", "adm", "0420"];
    d = await BunitDaemon.start("TEST-07-PID1.mqueue-ownership", { QUEUE: queue });
    await d.ok("reload");
    await d.ok("start", "mqueue-ownership.socket");

    const mnt = d.path("mqueue");
    mkdirSync(mnt);
    const r = await run(["unshare", "-m", "sh", "-c", 'mount -t mqueue mqueue "$1" && stat -c "%04a %U %G" "$1/$2"', "sh", mnt, queue.slice(1)]);
    expect(r.err).toBe("");
    expect(r.out.trim()).toBe(`${mode} ${user} ${group}`);
  },
  30000,
);
