/**
 * systemd test/units/TEST-74-AUX-UTILS.socket-activate.sh tests the systemd-socket-activate
 * tool, which activates one program without a service manager. bunit has no such command, so
 * the test as written does not apply: its two refusals (`--accept --now`, two `-l` with
 * `--inetd`) check that tool's option parsing, and its `--now socat ACCEPT-FD:3 PIPE` case needs
 * socat >= 1.8 (Debian 12 has 1.7.4; upstream skips it then too).
 *
 * Its first case is an activation bunit does with units, so it is kept in that form
 * (units/TEST-74-AUX-UTILS.socket-activate/): `-l PORT --accept --inetd cat` echoes "hello"
 * sent with `socat - TCP:localhost:PORT`.
 */
import { afterAll, expect, test } from "bun:test";
import { testPort } from "../support/harness.ts";
import { BunitDaemon, run } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("-l PORT --accept --inetd cat, as units: echoes hello", async () => {
  const port = testPort();
  d = await BunitDaemon.start("TEST-74-AUX-UTILS.socket-activate", { PORT: String(port) });
  await d.ok("start", "socket-activate-cat.socket");
  const r = await run(["socat", "-", `TCP:localhost:${port}`], { stdin: "hello", timeoutMs: 10000 });
  expect(r.out).toBe("hello");
}, 30000);
