/**
 * systemd test/units/TEST-07-PID1.issue-2467.sh (systemd #2467, "don't start services every
 * few ms if condition fails"): a connection held open on a socket whose service is always
 * skipped by a Condition*= makes the socket hit its trigger limit: ActiveState=failed,
 * Result=trigger-limit-hit. Fixtures: units/TEST-07-PID1.issue-2467/.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { BunitDaemon } from "./support.ts";

let d: BunitDaemon | null = null;
let conn: ReturnType<typeof Bun.spawn> | null = null;

afterAll(async () => {
  conn?.kill("SIGKILL");
  await d?.stop();
});

test("a skipped service behind a held connection: the socket fails with trigger-limit-hit", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.issue-2467");
  rmSync(d.path("nonexistent"), { force: true });
  await d.ok("start", "issue2467.socket");
  // Upstream: `ncat -i20 -w20 -U /run/test.ctl || :`, a connection held open (up to 20 s idle)
  // until the socket closes it. socat's -T20 is the same idle limit.
  conn = Bun.spawn(["socat", "-T20", "-", `UNIX-CONNECT:${d.path("test.ctl")}`], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });

  // Upstream's bound: ncat's 20 s, then up to 10 s more for ActiveState=failed.
  await d.waitProp("issue2467.socket", "ActiveState", "failed", 30000);
  expect(await d.prop("issue2467.socket", "Result")).toBe("trigger-limit-hit");
}, 45000);
