import { describe, expect, test } from "bun:test";
import { matchesDevice, parseKernelUevent, parseUdevMessage, parseUevent, rejectSender, UEVENT_MAX, UeventError, ueventFromSysfs } from "./uevent.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const DEV = "/devices/virtual/net/usb0";
const kernel = (fields: string[], header = `add@${DEV}`) => enc([header, ...fields].join("\0") + "\0");
const base = (action = "add") => [`ACTION=${action}`, `DEVPATH=${DEV}`, "SUBSYSTEM=net"];

/** A libudev header (40 bytes) with the given fields and the properties block after it. */
function udev(body: Uint8Array, o: { magic?: number; headerSize?: number; off?: number; len?: number; size?: number } = {}): Uint8Array {
  const b = new Uint8Array(o.size ?? 40 + body.length);
  const dv = new DataView(b.buffer);
  b.set(enc("libudev\0"));
  dv.setUint32(8, o.magic ?? 0xfeedcafe, false);
  dv.setUint32(12, o.headerSize ?? 40, true);
  dv.setUint32(16, o.off ?? 40, true);
  dv.setUint32(20, o.len ?? body.length, true);
  if (b.length > 40) b.set(body.subarray(0, b.length - 40), 40);
  return b;
}

function uerr(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UeventError);
    expect((e as Error).name).toBe("UeventError");
    return (e as Error).message;
  }
  throw new Error("no UeventError thrown");
}

describe("kernel uevents", () => {
  test("every action udev knows", () => {
    for (const a of ["add", "remove", "change", "move", "online", "offline", "bind", "unbind"]) {
      expect(parseKernelUevent(kernel(base(a), `${a}@${DEV}`)).action).toBe(a);
    }
    expect(uerr(() => parseKernelUevent(kernel(base("eject"), `eject@${DEV}`)))).toBe("kernel uevent: unknown ACTION=eject");
  });

  test("no SEQNUM is null; SEQNUM must be all digits", () => {
    expect(parseKernelUevent(kernel(base())).seqnum).toBeNull();
    expect(parseKernelUevent(kernel([...base(), "SEQNUM=18446744073709551615"])).seqnum).toBe(18446744073709551615n);
    expect(uerr(() => parseKernelUevent(kernel([...base(), "SEQNUM=x12"])))).toBe("kernel uevent: SEQNUM=x12 is not a number");
    expect(uerr(() => parseKernelUevent(kernel([...base(), "SEQNUM=12x"])))).toBe("kernel uevent: SEQNUM=12x is not a number");
  });

  test("size limit: UEVENT_MAX bytes pass, one more does not", () => {
    expect(UEVENT_MAX).toBe(2560);
    const short = kernel([...base(), "PAD="]).length;
    const exact = kernel([...base(), `PAD=${"x".repeat(UEVENT_MAX - short)}`]);
    expect(exact.length).toBe(UEVENT_MAX);
    expect(parseKernelUevent(exact).env.PAD!.length).toBe(UEVENT_MAX - short);
    const over = kernel([...base(), `PAD=${"x".repeat(UEVENT_MAX - short + 1)}`]);
    expect(uerr(() => parseKernelUevent(over))).toBe("message of 2561 bytes is larger than a uevent can be");
  });

  test("invalid UTF-8 is replaced, not refused", () => {
    const b = kernel([...base(), "NAME=a?b"]);
    b[b.indexOf("?".charCodeAt(0))] = 0xff;
    expect(parseKernelUevent(b).env.NAME).toBe("a\ufffdb");
  });

  test("malformed fields and headers, with exact messages", () => {
    expect(uerr(() => parseKernelUevent(kernel([...base(), "=x"])))).toBe('kernel uevent: field "=x" is not KEY=VALUE');
    const long = "K".repeat(50);
    expect(uerr(() => parseKernelUevent(kernel([...base(), long])))).toBe(`kernel uevent: field "${"K".repeat(40)}" is not KEY=VALUE`);
    expect(uerr(() => parseKernelUevent(kernel(["ACTION=add", `DEVPATH=${DEV}`])))).toBe("kernel uevent: no SUBSYSTEM=");
    expect(uerr(() => parseKernelUevent(kernel(["ACTION=add", "DEVPATH=devices/x", "SUBSYSTEM=net"], "add@devices/x")))).toBe(
      "kernel uevent: DEVPATH=devices/x is not absolute",
    );
    expect(uerr(() => parseKernelUevent(kernel(base(), `@${DEV}`)))).toBe(`kernel uevent: header "@${DEV}" is not ACTION@DEVPATH`);
    const h = "h".repeat(70);
    expect(uerr(() => parseKernelUevent(kernel(base(), h)))).toBe(`kernel uevent: header "${"h".repeat(60)}" is not ACTION@DEVPATH`);
    expect(uerr(() => parseKernelUevent(kernel(base(), "add@/devices/other")))).toBe(
      `kernel uevent: header add@/devices/other does not match ACTION=add DEVPATH=${DEV}`,
    );
    expect(uerr(() => parseKernelUevent(kernel(base(), `remove@${DEV}`)))).toBe(`kernel uevent: header remove@${DEV} does not match ACTION=add DEVPATH=${DEV}`);
    const truncated = kernel(base()).subarray(0, -1);
    expect(uerr(() => parseKernelUevent(truncated))).toBe("kernel uevent: the last field is not NUL-terminated (truncated?)");
  });
});

describe("libudev messages", () => {
  const body = enc(`${base().join("\0")}\0`);

  test("a well-formed message, properties ending at the last byte", () => {
    const ev = parseUdevMessage(udev(body));
    expect(ev).toMatchObject({ action: "add", devpath: DEV, subsystem: "net", source: "udev" });
  });

  test("header checks, with exact messages", () => {
    expect(uerr(() => parseUdevMessage(udev(body, { size: 39 })))).toBe("udev message: no libudev header");
    const notUdev = udev(body);
    notUdev[0] = "L".charCodeAt(0);
    expect(uerr(() => parseUdevMessage(notUdev))).toBe("udev message: no libudev header");
    expect(uerr(() => parseUdevMessage(udev(body, { magic: 0xfeedcafd })))).toBe("udev message: bad magic");
    const n = 40 + body.length;
    expect(uerr(() => parseUdevMessage(udev(body, { headerSize: 39, off: 40 })))).toBe(
      `udev message: properties at 40+${body.length} are outside the ${n}-byte message`,
    );
    expect(uerr(() => parseUdevMessage(udev(body, { headerSize: 41, off: 40 })))).toBe(
      `udev message: properties at 40+${body.length} are outside the ${n}-byte message`,
    );
    expect(uerr(() => parseUdevMessage(udev(body, { len: 0 })))).toBe(`udev message: properties at 40+0 are outside the ${n}-byte message`);
    expect(uerr(() => parseUdevMessage(udev(body, { size: 40, len: 0 })))).toBe("udev message: properties at 40+0 are outside the 40-byte message");
    expect(uerr(() => parseUdevMessage(udev(body, { len: body.length + 1 })))).toBe(
      `udev message: properties at 40+${body.length + 1} are outside the ${n}-byte message`,
    );
  });

  test("the properties block is checked as the kernel's", () => {
    expect(uerr(() => parseUdevMessage(udev(body, { len: body.length - 1 })))).toBe("udev message: the last field is not NUL-terminated (truncated?)");
    expect(uerr(() => parseUdevMessage(udev(enc("ACTION=add\0SUBSYSTEM=net\0"))))).toBe("udev message: no DEVPATH=");
  });

  test("parseUevent tells the two apart by the 8-byte prefix", () => {
    expect(uerr(() => parseUevent(enc("libudev\0")))).toBe("udev message: no libudev header");
    expect(parseUevent(udev(body)).source).toBe("udev");
    expect(parseUevent(kernel(base())).source).toBe("kernel");
    expect(uerr(() => parseUevent(enc("a@/x\0")))).toBe("kernel uevent: no ACTION=");
  });
});

describe("senders", () => {
  test("no sender address", () => {
    expect(rejectSender({ portId: null, groups: 1, creds: { pid: 0, uid: 0 }, truncated: false })).toBe("no sender address");
    expect(rejectSender({ portId: 0, groups: 1, creds: { pid: 0, uid: 0 }, truncated: false })).toBeNull();
  });
});

describe("sysfs uevent files", () => {
  test("KEY=VALUE lines become an add event's environment; others are ignored", () => {
    const ev = ueventFromSysfs("/devices/x/ttyGS0", "MAJOR=4\n\n=nokey\nnoeq\nDEVNAME=ttyGS0\nA=b=c\n", "tty");
    expect(ev).toEqual({
      action: "add",
      devpath: "/devices/x/ttyGS0",
      subsystem: "tty",
      seqnum: null,
      env: { ACTION: "add", DEVPATH: "/devices/x/ttyGS0", SUBSYSTEM: "tty", MAJOR: "4", DEVNAME: "ttyGS0", A: "b=c" },
      source: "coldplug",
    });
  });
});

describe("device matches", () => {
  const ev = (env: string, devpath = "/devices/x/1-1", subsystem = "usb") => ueventFromSysfs(devpath, env, subsystem);

  test("the name is INTERFACE first, then DEVNAME without a leading /dev/, then the last DEVPATH part", () => {
    expect(matchesDevice(ev("INTERFACE=eth9\nDEVNAME=/dev/other"), "usb/eth9")).toBe(true);
    expect(matchesDevice(ev("INTERFACE=eth9"), "usb/1-1")).toBe(false);
    expect(matchesDevice(ev("DEVNAME=/dev/bus/usb/001/002"), "usb/bus/usb/001/002")).toBe(true);
    expect(matchesDevice(ev("DEVNAME=/dev/ttyGS0"), "usb/ttyGS0")).toBe(true);
    expect(matchesDevice(ev("DEVNAME=bus/dev/1"), "usb/bus/dev/1")).toBe(true);
    expect(matchesDevice(ev("DEVNAME=ttyGS0"), "usb/1-1")).toBe(false);
    expect(matchesDevice(ev(""), "usb/1-1")).toBe(true);
    expect(matchesDevice(ev(""), "usb/1")).toBe(false);
  });

  test("an empty subsystem part matches only an empty subsystem", () => {
    expect(matchesDevice(ev("", "/devices/x/usb0", ""), "/usb0")).toBe(true);
    expect(matchesDevice(ev("", "/devices/x/usb0", ""), "/other")).toBe(false);
  });
});
