/**
 * uuidd (Debian package uuid-runtime): a unix-socket daemon started on demand
 * (uuidd --socket-activation takes the socket with sd_listen_fds()), run as User=uuidd under
 * the unit's sandbox settings; with an inactivity timeout it exits when idle, the socket goes
 * back to listening and the next request starts it again. Client: uuidd -t / -r (uuidd's own
 * client mode, as uuidgen uses the daemon).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { $ } from "zx";
import { unixListening } from "../support/harness.ts";
import { BunitDaemon, changed, installPackages, shippedUnit, type UnitChange } from "./setup.ts";

$.verbose = false;
setDefaultTimeout(30_000);

let d: BunitDaemon;

/** Every change made to the shipped units (also listed in README.md). */
const changes: { socket: UnitChange[]; service: UnitChange[] } = {
  socket: [{ from: "ListenStream=/run/uuidd/request", to: "ListenStream=@DIR@/uuidd/request", why: "path: a temp socket instead of the host's" }],
  service: [
    {
      from: "ExecStart=/usr/sbin/uuidd --socket-activation",
      to: "ExecStart=/usr/sbin/uuidd --socket-activation --timeout 2",
      why: "idle exit: uuidd supports it (-T) but the shipped unit does not ask for it; 2 s keeps the test short",
    },
  ],
};

beforeAll(async () => {
  await installPackages(["uuid-runtime"]);
  d = await BunitDaemon.start(
    { "uuidd.socket": changed(shippedUnit("uuidd.socket"), changes.socket), "uuidd.service": changed(shippedUnit("uuidd.service"), changes.service) },
    ["uuidd.socket"],
  );
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
});

const TIME_UUID = /[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/;
const RANDOM_UUID = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/;
const ask = (flag: "-t" | "-r") => $`timeout 10 uuidd -s ${d.path("uuidd/request")} ${flag}`.nothrow();

test("uuidd.socket listens and uuidd is not started before the first request", async () => {
  expect(await d.sub("uuidd.socket")).toBe("listening");
  expect(await d.sub("uuidd.service")).toBe("dead");
  expect(unixListening(d.path("uuidd/request"))).toBe(true);
});

test("a request starts uuidd as User=uuidd and gets a time-based UUID", async () => {
  const r = await ask("-t");
  expect(r.stderr).toBe("");
  expect(r.stdout).toMatch(TIME_UUID);
  const pid = (await d.ctl(["show", "uuidd.service", "-P", "MainPID"])).stdout.trim();
  expect(pid).not.toBe("0"); // still within its 2 s of idleness
  expect((await $`ps -o user= -p ${pid}`.nothrow()).stdout.trim()).toBe("uuidd");
});

test("idle for the timeout, uuidd exits; the socket listens again and a request re-activates it", async () => {
  await d.waitSub("uuidd.service", "dead", 15_000);
  await d.waitSub("uuidd.socket", "listening");
  expect(await d.logs()).toMatch(/uuidd\.service: Deactivated successfully/);
  const r = await ask("-r");
  expect(r.stdout).toMatch(RANDOM_UUID);
  await d.waitSub("uuidd.service", "dead", 15_000); // and exits once more
  expect((await d.logs()).match(/uuidd\.service: Changed dead -> start\b/g)?.length).toBe(2);
});
