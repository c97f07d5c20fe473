/**
 * systemd test/units/TEST-07-PID1.socket-on-failure.sh: OnFailure= fires when a socket fails to
 * listen (systemd #35635), with the socket's directory immutable and with a directory in the
 * socket's place. Fixtures: units/TEST-07-PID1.socket-on-failure/.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { BunitDaemon, run, until } from "./support.ts";

const SOCKET = "TEST-07-PID1-socket.socket";
const ON_FAILURE = "TEST-07-PID1-socket-OnFailure.service";
let d: BunitDaemon | null = null;
let dir = "";

afterAll(async () => {
  if (dir) await run(["chattr", "-i", dir]);
  await d?.stop();
});

const isSocket = (p: string) => existsSync(p) && statSync(p).isSocket();

test("OnFailure= runs when the socket cannot listen; start works again after the fix", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.socket-on-failure");
  dir = d.path("dir");
  const sock = d.path("dir", "test");
  mkdirSync(dir);

  await d.ok("start", SOCKET);
  await d.ok("is-active", SOCKET);
  expect(isSocket(sock)).toBe(true);

  await d.ok("stop", SOCKET);
  rmSync(sock, { force: true });

  expect((await run(["chattr", "+i", dir])).code).toBe(0);

  expect((await d.ctl("start", SOCKET)).code).not.toBe(0);
  await d.ok("is-failed", SOCKET);
  expect(await d.prop(SOCKET, "SubState")).toBe("failed");

  expect(existsSync(sock)).toBe(false);
  // rmdir of a missing directory fails: the OnFailure= unit ran.
  await until(
    () => d!.isFailed(ON_FAILURE),
    10000,
    `${ON_FAILURE} failed`,
    () => d!.logTail(),
  );

  expect((await run(["chattr", "-i", dir])).code).toBe(0);

  mkdirSync(sock);

  expect((await d.ctl("start", SOCKET)).code).not.toBe(0);
  await d.ok("is-failed", SOCKET);
  expect(await d.prop(SOCKET, "SubState")).toBe("failed");

  // The OnFailure= unit removes the directory in the socket's place.
  await until(
    () => !existsSync(sock),
    10000,
    `${sock} removed by ${ON_FAILURE}`,
    () => d!.logTail(),
  );
  expect(existsSync(sock)).toBe(false);
  await d.ok("is-active", ON_FAILURE);

  await d.ok("start", SOCKET);
  await d.ok("is-active", SOCKET);
}, 60000);
