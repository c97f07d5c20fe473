/**
 * systemd test/units/TEST-03-JOBS.sh, "Test that restart propagates to activating units": a
 * Type=notify service that never sends READY=1 Requires= its socket; restarting the socket
 * restarts the activating service (its InvocationID changes).
 * Fixtures: units/TEST-03-JOBS.always-activating/. `systemctl -T` (--show-transaction) only
 * adds output and has no bunit equivalent; it is left out.
 */
import { afterAll, expect, test } from "bun:test";
import { BunitDaemon } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("restart of the socket propagates to the activating service", async () => {
  d = await BunitDaemon.start("TEST-03-JOBS.always-activating");
  await d.ok("start", "--no-block", "always-activating.service");
  expect(await d.ok("list-jobs")).toContain("always-activating.service");
  const before = await d.prop("always-activating.service", "InvocationID");
  await d.ok("start", "always-activating.socket"); // Wait for the socket to come up
  await d.ok("restart", "always-activating.socket");
  const after = await d.prop("always-activating.service", "InvocationID");
  expect(after).not.toBe(before);
}, 60000);
