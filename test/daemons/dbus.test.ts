/**
 * dbus-daemon (Debian package dbus): the system bus from its shipped dbus.socket and
 * dbus.service, Type=notify (READY=1 after dropping to messagebus), OOMScoreAdjust=-900, and
 * ExecReload= that asks the bus itself to reload its configuration with dbus-send.
 * Clients: dbus-send and busctl.
 *
 * Both units are static: the package ships sockets.target.wants/dbus.socket and
 * multi-user.target.wants/dbus.service links, so the bus starts at boot (not on the first
 * client); the same links are made here. After a stop, the socket activates it again.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { $ } from "zx";
import { unixListening } from "../support/harness.ts";
import { dbusUnits } from "./dbus-units.ts";
import { BunitDaemon, installPackages } from "./setup.ts";

$.verbose = false;
setDefaultTimeout(30_000);

let d: BunitDaemon;
let bus: string;

beforeAll(async () => {
  await installPackages(["dbus", "systemd"]);
  d = await BunitDaemon.start(dbusUnits(), [], ["sockets.target.wants/dbus.socket", "multi-user.target.wants/dbus.service"]);
  bus = `unix:path=${d.path("system_bus_socket")}`;
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
});

const getId = () => $`timeout 10 dbus-send --bus=${bus} --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId`.nothrow();
const mainPid = async () => (await d.ctl(["show", "dbus.service", "-P", "MainPID"])).stdout.trim();

test("the shipped links start the socket and the bus at boot; dbus-daemon reports READY=1 and answers GetId", async () => {
  await d.waitSub("dbus.service", "running");
  expect(await d.sub("dbus.socket")).toBe("running");
  expect(unixListening(d.path("system_bus_socket"))).toBe(true);
  const r = await getId();
  expect(r.stderr).toBe("");
  expect(r.stdout).toMatch(/string "[0-9a-f]{32}"/);
  await d.waitSub("dbus.service", "running");
  expect((await $`ps -o user= -p ${await mainPid()}`).stdout.trim()).toBe("messagebus");
});

test("busctl lists the bus's names over the same socket", async () => {
  const r = await $`timeout 10 busctl --address=${bus} list --no-pager --no-legend`.nothrow();
  expect(r.stdout).toContain("org.freedesktop.DBus");
});

test("bunit reload runs ExecReload= (dbus-send ReloadConfig): the reload ends done, same process", async () => {
  const before = await mainPid();
  const r = await d.ctl(["reload", "dbus.service"]);
  expect(r.stderr).toBe("");
  expect(r.exitCode).toBe(0);
  await d.waitSub("dbus.service", "running");
  expect(await mainPid()).toBe(before);
  expect(await d.logs()).toMatch(/dbus\.service: Reloaded/);
  expect((await getId()).stdout).toMatch(/string "[0-9a-f]{32}"/);
});

test("stopped, the bus is not running and the socket listens; the next client activates it", async () => {
  expect((await d.ctl(["stop", "dbus.service"])).exitCode).toBe(0);
  await d.waitSub("dbus.service", "dead");
  await d.waitSub("dbus.socket", "listening");
  const r = await getId();
  expect(r.stdout).toMatch(/string "[0-9a-f]{32}"/);
  await d.waitSub("dbus.service", "running");
});
