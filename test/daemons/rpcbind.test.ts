/**
 * rpcbind (Debian package rpcbind): Accept=no with Type=notify and several sockets of one
 * unit, a unix stream socket plus TCP and UDP on IPv4 and IPv6; rpcbind takes them with
 * libsystemd's sd_listen_fds() and says READY=1 with sd_notify(). Client: rpcinfo.
 *
 * The port stays 111: libtirpc's rpcinfo always asks the portmapper on 111 first, even with
 * -n PORT. Only the addresses move, from the wildcards to loopback; the test refuses to run
 * if anything else holds 111 on loopback.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";

setDefaultTimeout(30_000);
import { $ } from "zx";
import { unixListening } from "../support/harness.ts";
import { BunitDaemon, changed, installPackages, shippedUnit, type UnitChange } from "./setup.ts";

$.verbose = false;

let d: BunitDaemon;
let port: number;

/** Every change made to the shipped units (also listed in README.md). */
const socketChanges = (p: number): UnitChange[] => [
  { from: "ListenStream=/run/rpcbind.sock", to: "ListenStream=@DIR@/rpcbind.sock", why: "path: a temp socket instead of the host's" },
  { from: "ListenStream=0.0.0.0:111", to: `ListenStream=127.0.0.1:${p}`, why: "address: loopback instead of every address" },
  { from: "ListenDatagram=0.0.0.0:111", to: `ListenDatagram=127.0.0.1:${p}`, why: "address" },
  { from: "ListenStream=[::]:111", to: `ListenStream=[::1]:${p}`, why: "address" },
  { from: "ListenDatagram=[::]:111", to: `ListenDatagram=[::1]:${p}`, why: "address" },
];

beforeAll(async () => {
  await installPackages(["rpcbind"]);
  port = 111;
  const held = (await $`ss -ltunH sport = :111`).stdout.trim();
  if (held) throw new Error(`port 111 is already in use on this machine (a distro rpcbind?): ${held}`);
  d = await BunitDaemon.start(
    {
      "rpcbind.socket": changed(shippedUnit("rpcbind.socket"), socketChanges(port)),
      "rpcbind.service": shippedUnit("rpcbind.service"), // unchanged
    },
    ["rpcbind.socket"],
  );
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
});

/** rpcinfo pinging the portmapper program itself over udp or tcp. */
const rpcinfo = (proto: "-u" | "-t", host: string, version: string) => $`timeout 10 rpcinfo ${proto} ${host} 100000 ${version}`.nothrow();

test("the socket listens on all five addresses and rpcbind is not started before the first request", async () => {
  expect(await d.sub("rpcbind.socket")).toBe("listening");
  expect(await d.sub("rpcbind.service")).toBe("dead");
  expect(unixListening(d.path("rpcbind.sock"))).toBe(true);
  const tcp = (await $`ss -ltnH`).stdout;
  const udp = (await $`ss -lunH`).stdout;
  expect(tcp).toContain(`127.0.0.1:${port}`);
  expect(tcp).toContain(`[::1]:${port}`);
  expect(udp).toContain(`127.0.0.1:${port}`);
  expect(udp).toContain(`[::1]:${port}`);
});

test("a UDP datagram activates rpcbind, which reports READY=1 (Type=notify) and answers", async () => {
  const r = await rpcinfo("-u", "127.0.0.1", "2");
  expect(r.stdout + r.stderr).toContain("program 100000 version 2 ready and waiting");
  await d.waitSub("rpcbind.service", "running", 10_000);
  expect(await d.sub("rpcbind.socket")).toBe("running");
  // READY=1 came after rpcbind dropped to _rpc: $NOTIFY_SOCKET must be reachable for it.
  const pid = (await d.ctl(["show", "rpcbind.service", "-P", "MainPID"])).stdout.trim();
  expect((await $`ps -o user= -p ${pid}`.nothrow()).stdout.trim()).toBe("_rpc");
});

test("the same daemon answers on TCP over IPv4 and IPv6 (all fds were passed)", async () => {
  const v4 = await rpcinfo("-t", "127.0.0.1", "4");
  expect(v4.stdout + v4.stderr).toContain("program 100000 version 4 ready and waiting");
  const v6 = await rpcinfo("-u", "::1", "3");
  expect(v6.stdout + v6.stderr).toContain("program 100000 version 3 ready and waiting");
  // rpcbind's own registrations, listed over the portmapper protocol (TCP).
  const list = (await $`timeout 10 rpcinfo -p 127.0.0.1`.nothrow()).stdout;
  expect(list).toMatch(/100000\s+2\s+udp\s+111\s+portmapper/);
  expect(list).toMatch(/100000\s+2\s+tcp\s+111\s+portmapper/);
  expect(await d.sub("rpcbind.service")).toBe("running");
});

test("stopping the service returns the socket to listening, and a new request activates it again", async () => {
  expect((await d.ctl(["stop", "rpcbind.service"])).exitCode).toBe(0);
  await d.waitSub("rpcbind.service", ["dead", "failed"]);
  expect(await d.sub("rpcbind.service")).toBe("dead");
  await d.waitSub("rpcbind.socket", "listening");
  const r = await rpcinfo("-t", "::1", "2");
  expect(r.stdout + r.stderr).toContain("program 100000 version 2 ready and waiting");
  await d.waitSub("rpcbind.service", "running", 10_000);
});
