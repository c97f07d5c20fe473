/**
 * systemd test/units/TEST-07-PID1.socket-pass-fds.sh: PassFileDescriptorsToExec=. The socket's
 * own Exec*= commands check what they inherit (`test ...` in the fixtures); starting and
 * stopping each socket must succeed. Fixtures: units/TEST-07-PID1.socket-pass-fds/.
 */
import { afterAll, expect, test } from "bun:test";
import { testPort } from "../support/harness.ts";
import { BunitDaemon } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

for (const u of ["pass-fds-to-exec-no.socket", "pass-fds-to-exec-yes.socket"]) {
  test(`${u}: start and stop succeed`, async () => {
    d ??= await BunitDaemon.start("TEST-07-PID1.socket-pass-fds", { PORT: String(testPort()) });
    await d.ok("start", u);
    await d.ok("stop", u);
    // bunit addition: `systemctl stop` succeeds even when ExecStopPre=/ExecStopPost= fail (the
    // unit then ends "failed"), so upstream sees those two checks only in the journal; the
    // unit's Result= makes them visible here.
    expect(await d.prop(u, "Result")).toBe("success");
  }, 30000);
}
