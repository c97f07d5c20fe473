/**
 * kobject uevents on the QEMU board's real kernel: events from writing to /sys/.../uevent and
 * from loading a module arrive validated; uevents forged from user space are dropped; an
 * overflowing socket (ENOBUFS) is recovered by a rescan of /sys; a BindToDevice= socket waits
 * for the usb0 interface that the gadget's NCM function creates and binds when it appears.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as n from "../../firmware/native.ts";
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_DGRAM } from "../../firmware/sys/constants.ts";
import { NETLINK_KOBJECT_UEVENT, UeventMonitor } from "../../firmware/uevent/monitor.ts";
import type { Uevent } from "../../firmware/uevent/uevent.ts";
import { UsbDaemon, waitFor } from "./support.ts";

describe("the uevent monitor on the real kernel", () => {
  const monitors: UeventMonitor[] = [];
  afterAll(() => {
    for (const m of monitors) m.close();
  });
  function open(opts: Parameters<typeof UeventMonitor.open>[0] = {}) {
    const m = UeventMonitor.open(opts);
    monitors.push(m);
    const events: Uevent[] = [];
    const rejects: string[] = [];
    m.onEvent((e) => events.push(e));
    m.onReject((why) => rejects.push(why));
    return { m, events, rejects };
  }

  test("writing 'change' to a device's uevent file gives a validated kernel event", async () => {
    const { events } = open();
    writeFileSync("/sys/class/net/lo/uevent", "change");
    await waitFor(() => events.some((e) => e.action === "change" && e.env.INTERFACE === "lo"), 5000, "change@.../net/lo");
    const ev = events.find((e) => e.env.INTERFACE === "lo")!;
    expect(ev).toMatchObject({ devpath: "/devices/virtual/net/lo", subsystem: "net", source: "kernel" });
    expect(ev.seqnum).toBeGreaterThan(0n);
  });

  test("loading a module gives add@/module/NAME", async () => {
    const { events } = open();
    Bun.spawnSync(["rmmod", "cdc_acm"]); // busybox modprobe -r does not unload it
    expect(Bun.spawnSync(["modprobe", "cdc_acm"]).exitCode).toBe(0);
    await waitFor(() => events.some((e) => e.action === "add" && e.devpath === "/module/cdc_acm" && e.subsystem === "module"), 5000, "add@/module/cdc_acm");
  });

  test("a uevent forged from user space (even as root, with uid 0 credentials) is dropped", async () => {
    const { events, rejects } = open();
    const fd = n.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    n.bind(fd, { family: "netlink", pid: 0, groups: 0 });
    const forged = new TextEncoder().encode(
      "add@/devices/virtual/net/evil\0ACTION=add\0DEVPATH=/devices/virtual/net/evil\0SUBSYSTEM=net\0INTERFACE=evil\0SEQNUM=1\0",
    );
    n.sendmsgCreds(fd, forged, { family: "netlink", pid: 0, groups: 1 }, { pid: process.pid, uid: 0, gid: 0 });
    n.close(fd);
    await waitFor(() => rejects.length > 0, 5000, "the forged message to be seen");
    expect(rejects[0]).toMatch(/^sender port id \d+ is not the kernel$/);
    expect(events.some((e) => e.devpath.includes("evil"))).toBe(false);
  });

  test("an overflow (ENOBUFS) is reported and recovered by rescanning /sys", async () => {
    const { m, events } = open({ receiveBuffer: 4096, coldplug: ["net"] });
    let overflowed = 0;
    m.onOverflow(() => overflowed++);
    // Many events while this process does not read: the small buffer overflows.
    for (let i = 0; i < 300; i++) writeFileSync("/sys/class/net/lo/uevent", "change");
    await waitFor(() => overflowed > 0, 5000, "ENOBUFS");
    expect(m.overflows).toBeGreaterThan(0);
    // The rescan announced every network interface present, lo among them.
    expect(events.some((e) => e.source === "coldplug" && e.env.INTERFACE === "lo" && e.action === "add")).toBe(true);
  });
});

describe("BindToDevice= waits for the interface", () => {
  test("a socket bound to usb0 binds once the gadget's NCM function creates usb0", async () => {
    const dir = mkdtempSync("/tmp/bunit-bind-dev-");
    writeFileSync(join(dir, "onusb.socket"), "[Socket]\nListenStream=0.0.0.0:20090\nBindToDevice=usb0\n[Install]\nWantedBy=sockets.target\n");
    writeFileSync(join(dir, "onusb.service"), "[Service]\nExecStart=/bin/true\n");
    writeFileSync(
      join(dir, "gadget.json"),
      JSON.stringify({ name: "bunit-ncm", vendor_id: 0x1d6b, product_id: 0x0109, functions: [{ kind: "ncm", instance: "usb0" }] }),
    );
    expect(readFileSync("/proc/net/dev", "utf8")).not.toContain("usb0:");
    const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"));
    try {
      await daemon.waitLog(/onusb\.socket: network interface usb0 \(BindToDevice=\) does not exist yet; 0\.0\.0\.0:20090 will be bound when it appears\./);
      await daemon.waitLog(/gadget bunit-ncm: bound to dummy_udc\.0/);
      await daemon.waitLog(/onusb\.socket: 0\.0\.0\.0:20090: bound now \(BindToDevice=usb0\)\./, 10000);
      expect(readFileSync("/proc/net/dev", "utf8")).toContain("usb0:");
      // Listening on port 20090 (0x4E7A), state 0A.
      expect(readFileSync("/proc/net/tcp", "utf8")).toMatch(/00000000:4E7A 00000000:0000 0A/);
    } finally {
      await daemon.stop();
    }
  });
});

describe("sockets started and stopped by devices (real uevents)", () => {
  test("WantedBy=/BindsTo= a device: the socket starts when it appears and stops when it goes", async () => {
    Bun.spawnSync(["rmmod", "cdc_acm"]);
    const dir = mkdtempSync("/tmp/bunit-devices-");
    const dev = "sys-module-cdc_acm.device";
    writeFileSync(
      join(dir, "ondev.socket"),
      `[Unit]\nBindsTo=${dev}\nAfter=${dev}\n[Socket]\nListenStream=${dir}/ondev.sock\nRemoveOnStop=yes\n[Install]\nWantedBy=${dev}\n`,
    );
    writeFileSync(join(dir, "ondev.service"), "[Service]\nExecStart=/bin/true\n");
    writeFileSync(
      join(dir, "onusb.socket"),
      `[Unit]\nBindsTo=sys-subsystem-net-devices-usb0.device\nAfter=sys-subsystem-net-devices-usb0.device\n[Socket]\nListenStream=${dir}/onusb.sock\n[Install]\nWantedBy=sys-subsystem-net-devices-usb0.device\n`,
    );
    writeFileSync(join(dir, "onusb.service"), "[Service]\nExecStart=/bin/true\n");
    writeFileSync(
      join(dir, "gadget.json"),
      JSON.stringify({ name: "bunit-devs", vendor_id: 0x1d6b, product_id: 0x010a, functions: [{ kind: "ncm", instance: "usb0" }] }),
    );
    const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"), ["--log-level", "debug"]);
    try {
      await daemon.waitLog(/Reached default\.target/);
      expect(existsSync(`${dir}/ondev.sock`)).toBe(false);
      // The gadget's NCM function creates usb0 when the UDC is bound: onusb.socket starts.
      await daemon.waitLog(/Device \/sys\/subsystem\/net\/devices\/usb0 appeared/);
      await waitFor(() => existsSync(`${dir}/onusb.sock`), 10000, "onusb.socket listening");
      // A module appears and goes: ondev.socket follows it.
      expect(Bun.spawnSync(["modprobe", "cdc_acm"]).exitCode).toBe(0);
      await waitFor(() => existsSync(`${dir}/ondev.sock`), 10000, "ondev.socket listening after modprobe");
      const rm = Bun.spawnSync(["rmmod", "cdc_acm"]);
      expect(`${rm.exitCode} ${rm.stderr}`).toBe("0 ");
      await waitFor(() => !existsSync(`${dir}/ondev.sock`), 10000, "ondev.socket stopped after rmmod");
      await daemon.waitLog(/Device \/sys\/module\/cdc_acm is gone\./, 5000);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}\n${daemon
          .log()
          .split("\n")
          .filter((l) => !l.includes("debug"))
          .slice(-40)
          .join("\n")}`,
      );
    } finally {
      await daemon.stop();
      Bun.spawnSync(["modprobe", "cdc_acm"]);
    }
  });
});

describe("ListenNetlink=kobject-uevent", () => {
  test("the socket is created as systemd does; a real uevent activates a service that reads it with the library", async () => {
    const dir = mkdtempSync("/tmp/bunit-kobj-");
    writeFileSync(
      join(dir, "kobj.socket"),
      "[Socket]\nListenNetlink=kobject-uevent 1\nPassCredentials=yes\nReceiveBuffer=1M\n[Install]\nWantedBy=sockets.target\n",
    );
    writeFileSync(join(dir, "kobj.service"), `[Service]\nExecStart=/usr/bin/bun /opt/bunit/test/guest/uevent-service.ts ${dir}/report\n`);
    const daemon = await UsbDaemon.start(dir);
    try {
      await daemon.waitLog(/Reached default\.target/);
      expect(existsSync(`${dir}/report`)).toBe(false);
      writeFileSync("/sys/class/net/lo/uevent", "change");
      await waitFor(
        () => existsSync(`${dir}/report`) && readFileSync(`${dir}/report`, "utf8").includes("change /devices/virtual/net/lo net"),
        15000,
        "the service to report the uevent",
      ).catch((e) => {
        throw new Error(`${(e as Error).message}\n${daemon.log()}`);
      });
      expect(readFileSync(`${dir}/report`, "utf8")).toStartWith(`fd=3 name=kobj.socket protocol=${NETLINK_KOBJECT_UEVENT} passcred=1\n`);
    } finally {
      await daemon.stop();
    }
  });
});
