/**
 * systemd test/units/TEST-07-PID1.issue-30412.sh (systemd #30412: socket fds double-closed when
 * the service cannot be executed): a connection to a FlushPending=yes socket whose service's
 * ExecStart= is not executable ends the service with ExecMainStatus=203 and the manager alive.
 * Fixtures: units/TEST-07-PID1.issue-30412/.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { BunitDaemon, run, until } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("an unexecutable ExecStart= behind a FlushPending=yes socket: ExecMainStatus=203, no crash", async () => {
  const name = `bunit-st-${process.pid}-badbin_assert.socket`;
  d = await BunitDaemon.start("TEST-07-PID1.issue-30412", { NAME: name });
  const dd = d;
  const badbin = dd.path("badbin");
  rmSync(badbin, { force: true });
  writeFileSync(badbin, "");
  chmodSync(badbin, 0o744);

  await dd.ok("reload");
  await dd.ok("start", "badbin_assert.socket");

  // Upstream: `socat - ABSTRACT-CONNECT:badbin_assert.socket` (stdin: the test's, empty).
  // The script runs under `set -e`: socat must succeed.
  const socat = await run(["socat", "-", `ABSTRACT-CONNECT:${name}`], { stdin: "", timeoutMs: 10000 });
  expect(socat.code).toBe(0);

  await until(
    async () => !(await dd.isActive("badbin_assert.service")),
    10000,
    "badbin_assert.service not active",
    () => dd.logTail(),
  );
  expect(await dd.prop("badbin_assert.service", "ExecMainStatus")).toBe("203");
}, 40000);
