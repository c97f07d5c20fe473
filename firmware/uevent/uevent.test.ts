import { describe, expect, test } from "bun:test";
import { matchesDevice, parseKernelUevent, parseUdevMessage, parseUevent, rejectSender, UeventError, ueventFromSysfs } from "./uevent.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const kernel = (fields: string[], header = "add@/devices/virtual/net/usb0") => enc([header, ...fields].join("\0") + "\0");
const USB0 = ["ACTION=add", "DEVPATH=/devices/virtual/net/usb0", "SUBSYSTEM=net", "INTERFACE=usb0", "IFINDEX=4", "SEQNUM=1234"];

function udev(props: string[]): Uint8Array {
  const body = enc(props.join("\0") + "\0");
  const b = new Uint8Array(40 + body.length);
  const dv = new DataView(b.buffer);
  b.set(enc("libudev\0"));
  dv.setUint32(8, 0xfeedcafe, false);
  dv.setUint32(12, 40, true);
  dv.setUint32(16, 40, true);
  dv.setUint32(20, body.length, true);
  b.set(body, 40);
  return b;
}

describe("uevent parsing", () => {
  test("a kernel message: header, fields, SEQNUM", () => {
    const ev = parseKernelUevent(kernel(USB0));
    expect(ev).toMatchObject({ action: "add", devpath: "/devices/virtual/net/usb0", subsystem: "net", seqnum: 1234n, source: "kernel" });
    expect(ev.env.INTERFACE).toBe("usb0");
    expect(matchesDevice(ev, "net/usb0")).toBe(true);
    expect(matchesDevice(ev, "net")).toBe(true);
    expect(matchesDevice(ev, "net/usb1")).toBe(false);
    expect(matchesDevice(ev, "block/usb0")).toBe(false);
  });

  test("the libudev format and auto-detection", () => {
    const ev = parseUdevMessage(udev(USB0));
    expect(ev).toMatchObject({ action: "add", subsystem: "net", source: "udev" });
    expect(parseUevent(udev(USB0)).source).toBe("udev");
    expect(parseUevent(kernel(USB0)).source).toBe("kernel");
  });

  test("malformed and truncated messages are errors", () => {
    const bad: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /empty message/],
      [kernel(USB0, "change@/devices/virtual/net/usb0"), /header change@.* does not match ACTION=add/],
      [kernel(USB0, "add"), /is not ACTION@DEVPATH/],
      [kernel(USB0.filter((f) => !f.startsWith("SUBSYSTEM"))), /no SUBSYSTEM=/],
      [kernel([...USB0, "garbage"]), /field "garbage" is not KEY=VALUE/],
      [kernel(USB0.map((f) => (f.startsWith("SEQNUM") ? "SEQNUM=12x" : f))), /SEQNUM=12x is not a number/],
      [
        kernel(
          USB0.map((f) => (f.startsWith("ACTION") ? "ACTION=explode" : f)),
          "explode@/devices/virtual/net/usb0",
        ),
        /unknown ACTION=explode/,
      ],
      [kernel(USB0).subarray(0, 60), /not NUL-terminated/],
      [new Uint8Array(4000).fill(0x41), /larger than a uevent can be/],
    ];
    for (const [b, re] of bad) expect(() => parseKernelUevent(b)).toThrow(re);
    const u = udev(USB0);
    new DataView(u.buffer).setUint32(20, 9999, true);
    expect(() => parseUdevMessage(u)).toThrow(UeventError);
    expect(() => parseUdevMessage(u)).toThrow(/outside the/);
  });

  test("only the kernel is believed: port id 0, uid 0, multicast, not truncated", () => {
    const ok = { portId: 0, groups: 1, creds: { pid: 0, uid: 0 }, truncated: false };
    expect(rejectSender(ok)).toBeNull();
    expect(rejectSender({ ...ok, portId: 4242 })).toBe("sender port id 4242 is not the kernel");
    expect(rejectSender({ ...ok, creds: { pid: 1, uid: 1000 } })).toBe("sender uid 1000 is not root");
    expect(rejectSender({ ...ok, creds: null })).toBe("no sender credentials");
    expect(rejectSender({ ...ok, groups: 0 })).toBe("unicast netlink message");
    expect(rejectSender({ ...ok, truncated: true })).toBe("truncated message");
  });

  test("a sysfs uevent file becomes a coldplug add event", () => {
    const ev = ueventFromSysfs("/devices/virtual/net/lo", "INTERFACE=lo\nIFINDEX=1\n", "net");
    expect(ev).toMatchObject({ action: "add", devpath: "/devices/virtual/net/lo", subsystem: "net", source: "coldplug" });
    expect(matchesDevice(ev, "net/lo")).toBe(true);
  });
});
