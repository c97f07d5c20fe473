/**
 * systemd test/units/TEST-07-PID1.issue-38320.sh (systemd #38320): `systemd-analyze fdstore`
 * on a socket unit fails cleanly (sockets have no fd store) before and after a restart and a
 * daemon-reload, and the socket stays active.
 *
 * `systemd-analyze fdstore UNIT` is `bunit fdstore UNIT`: on a socket it fails (only services
 * keep a store), and the socket is untouched: restart (which starts it) and daemon-reload leave
 * it active.
 * Fixtures: units/TEST-07-PID1.issue-38320/.
 */
import { afterAll, expect, test } from "bun:test";
import { BunitDaemon } from "./support.ts";

const U = "TEST-07-PID1-issue-38320";
let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("fdstore on a socket fails before and after restart and daemon-reload, which leave the socket active", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.issue-38320");
  const noStore = async () => {
    // (! systemd-analyze fdstore "$UNIT_NAME.socket")
    const r = await d!.ctl("fdstore", `${U}.socket`);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("no file descriptor store");
  };
  await noStore();
  await d.ok("restart", `${U}.socket`);
  await noStore();
  await d.ok("reload");
  await noStore();
  await d.ok("is-active", `${U}.socket`);
}, 30000);
