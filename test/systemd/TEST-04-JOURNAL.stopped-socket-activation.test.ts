/**
 * systemd test/units/TEST-04-JOURNAL.stopped-socket-activation.sh, the activation part: after
 * `systemctl stop systemd-journald.service`, a write to its socket (systemd-cat) activates it
 * again: `systemctl show -p SubState --value` says running.
 *
 * bunit runs no journald, so a stand-in pair of units plays its part (units/
 * TEST-04-JOURNAL.stopped-socket-activation/); systemd-cat's write is a connection sending a line.
 * Upstream reads SubState 1 s after the write; here it is waited for (up to 10 s).
 */
import { afterAll, expect, test } from "bun:test";
import { BunitDaemon, run, until } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("a stopped socket-activated service is activated again by a write to its socket", async () => {
  d = await BunitDaemon.start("TEST-04-JOURNAL.stopped-socket-activation");
  const dd = d;
  // The state upstream starts from: journald running, with its sockets listening.
  await dd.ok("start", "stand-in-journald.socket", "stand-in-journald.service");

  await dd.ok("stop", "stand-in-journald.service");
  // systemd-cat date
  const w = await run(["socat", "-u", "-", `UNIX-CONNECT:${dd.path("stdout")}`], { stdin: `${new Date().toString()}\n`, timeoutMs: 10000 });
  expect(w.code).toBe(0);

  let sub = "";
  await until(
    async () => {
      sub = (await dd.ctl("show", "-p", "SubState", "--value", "stand-in-journald.service")).out.trim();
      return sub === "running";
    },
    10000,
    "stand-in-journald.service running",
    () => `last: ${sub}\n${dd.logTail()}`,
  );
  expect(sub).toBe("running");
}, 30000);
