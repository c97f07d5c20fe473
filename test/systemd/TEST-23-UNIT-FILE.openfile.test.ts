/**
 * systemd test/units/TEST-23-UNIT-FILE.openfile.sh, the socket part and the missing-file part:
 * OpenFile=PATH:NAME:read-only on an Accept=yes socket's path hands the service a connected
 * socket (fd 3, named "socket") from which it reads the server's "Socket"; a missing file fails
 * the service with exit status 202 unless `graceful`. Fixtures: units/TEST-23-UNIT-FILE.openfile/.
 *
 * Not ported: the first part (existing regular files, DynamicUser=, `systemctl show -p
 * OpenFile`), which has no socket in it.
 */
import { afterAll, expect, test } from "bun:test";
import { BunitDaemon } from "./support.ts";

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

const daemon = async () => (d ??= await BunitDaemon.start("TEST-23-UNIT-FILE.openfile"));

test("OpenFile= on an Accept=yes socket gives the service a connected socket", async () => {
  const dd = await daemon();
  await dd.ok("start", "TEST-23-UNIT-FILE-openfile-server.socket");
  const r = await dd.ctl("start", "test-23-openfile-socket.service");
  expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
  await dd.ok("stop", "TEST-23-UNIT-FILE-openfile-server.socket");
}, 30000);

test("OpenFile= of a missing file: exit status 202, or 0 with graceful", async () => {
  const dd = await daemon();
  // assert_rc 202 systemd-run -p OpenFile=/run/missing/foo:missing-file:read-only --wait true
  expect((await dd.ctl("start", "test-23-openfile-missing.service")).code).not.toBe(0);
  expect(await dd.prop("test-23-openfile-missing.service", "ExecMainStatus")).toBe("202");
  // assert_rc 0 systemd-run -p OpenFile=/run/missing/foo:missing-file:read-only,graceful --wait true
  await dd.ok("start", "test-23-openfile-graceful.service");
  expect(await dd.prop("test-23-openfile-graceful.service", "ExecMainStatus")).toBe("0");
}, 30000);
