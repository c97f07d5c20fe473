/**
 * systemd test/units/TEST-07-PID1.issue-3171.sh (systemd #3171, SocketGroup= lost on
 * daemon-reload with the unit file moved away for a while): the socket stays active with its
 * group through both reloads, refuses connections after the first reload until restarted, and
 * serves again after the restart. Fixtures: units/TEST-07-PID1.issue-3171/.
 * `echo X | ncat -w1 -U PATH` is `socat - UNIX-CONNECT:PATH` with X on stdin (Debian 12 has no
 * ncat): exit 0 when the connection is accepted, 1 when it is refused.
 */
import { afterAll, expect, test } from "bun:test";
import { renameSync } from "node:fs";
import { BunitDaemon, run } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("SocketGroup= survives daemon-reload with the unit file gone and back", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.issue-3171");
  const dd = d;
  const path = dd.path("issue-3171.socket");
  const U = dd.path("units", "issue-3171.socket");
  const group = async () => (await run(["stat", "--format=%G", path])).out.trim();
  const send = async (text: string) => (await run(["socat", "-", `UNIX-CONNECT:${path}`], { stdin: `${text}\n`, timeoutMs: 10000 })).code;

  await dd.ok("start", "issue-3171.socket");
  await dd.ok("is-active", "issue-3171.socket");
  expect(await group()).toBe("adm");
  expect(await send("A")).toBe(0);

  renameSync(U, `${U}.disabled`);
  await dd.ok("reload");
  await dd.ok("is-active", "issue-3171.socket");
  expect(await group()).toBe("adm");
  expect(await send("B")).not.toBe(0);

  renameSync(`${U}.disabled`, U);
  await dd.ok("reload");
  await dd.ok("is-active", "issue-3171.socket");
  expect(await send("C")).not.toBe(0);
  expect(await group()).toBe("adm");

  await dd.ok("restart", "issue-3171.socket");
  await dd.ok("is-active", "issue-3171.socket");
  expect(await send("D")).toBe(0);
  expect(await group()).toBe("adm");
}, 60000);
