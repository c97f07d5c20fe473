/**
 * systemd test/units/TEST-07-PID1.multi-units-transaction.sh (systemd #8102), the scenarios
 * with a socket: units named together on one command line form one transaction, so After= is
 * honoured whatever their order (the socket listens before its service's ExecStart= looks for
 * it); reload-or-restart and reload-or-try-restart restart the socket, which cannot reload.
 * Fixtures: units/TEST-07-PID1.multi-units-transaction/.
 *
 * Upstream sends the reload-or-restart and reload-or-try-restart jobs through the D-Bus call
 * EnqueueUnitJobMany (busctl); bunit has no D-Bus API, so they are the systemctl verbs of the
 * same names. The scenarios without a socket, and the D-Bus argument checks, are not ported
 * (not socket cases; no D-Bus).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { BunitDaemon, until } from "./support.ts";

const SVC = "issue8102-sock-foo.service";
const SOCK = "issue8102-sock-foo.socket";
let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

async function daemon(): Promise<BunitDaemon> {
  if (!d) {
    d = await BunitDaemon.start("TEST-07-PID1.multi-units-transaction");
    mkdirSync(d.path("sock"));
    await d.ok("reload");
  }
  return d;
}

const isSocket = (p: string) => existsSync(p) && statSync(p).isSocket();

async function bothActive(dd: BunitDaemon): Promise<void> {
  await until(
    async () => (await dd.prop(SVC, "ActiveState")) === "active" && (await dd.prop(SOCK, "ActiveState")) === "active",
    30000,
    "both units active",
    () => dd.logTail(),
  );
}

test("start SERVICE SOCKET: one transaction, the socket comes up first", async () => {
  const dd = await daemon();
  await dd.ok("start", SVC, SOCK);
  expect(await dd.prop(SVC, "ActiveState")).toBe("active");
  expect(await dd.prop(SOCK, "ActiveState")).toBe("active");
  expect(isSocket(dd.path("sock", "sock"))).toBe(true);
}, 30000);

test("reload-or-restart SERVICE SOCKET: the socket, which cannot reload, is restarted", async () => {
  const dd = await daemon();
  await dd.ok("reload-or-restart", SVC, SOCK);
  await bothActive(dd);
  expect(isSocket(dd.path("sock", "sock"))).toBe(true);
}, 40000);

test("reload-or-try-restart SERVICE SOCKET: both active afterwards", async () => {
  const dd = await daemon();
  await dd.ok("start", SVC, SOCK);
  expect(await dd.prop(SVC, "ActiveState")).toBe("active");
  expect(await dd.prop(SOCK, "ActiveState")).toBe("active");
  await dd.ok("reload-or-try-restart", SVC, SOCK);
  await bothActive(dd);
  expect(isSocket(dd.path("sock", "sock"))).toBe(true);
}, 40000);
