/**
 * ListenUSBFunction= end to end, inside the QEMU board: bunit composes the gadget from a
 * description, the usb-loopback socket writes the descriptors compiled from its spec, the UDC
 * (dummy_hcd) is bound once they are in, and the host side of the same kernel enumerates the
 * device. The client is node-usb (`usb` package), as a host program would be.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { usb } from "usb";
import { UsbDaemon, usbConfigured, waitFor } from "./support.ts";

/** The WebUSB-style surface of a node-usb device that these tests use. */
interface Setup {
  requestType: "standard" | "class" | "vendor";
  recipient: "device" | "interface" | "endpoint" | "other";
  request: number;
  value: number;
  index: number;
}
interface InResult {
  status: "ok" | "stall" | "babble";
  data?: DataView;
}
interface Dev {
  vendorId: number;
  productId: number;
  manufacturerName: string | null;
  productName: string | null;
  serialNumber: string | null;
  configuration?: {
    configurationName?: string;
    interfaces: {
      alternate: {
        interfaceClass: number;
        interfaceName?: string;
        endpoints: { endpointNumber: number; direction: string; type: string; packetSize: number }[];
      };
    }[];
  };
  open(): Promise<void>;
  close(): Promise<void>;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  controlTransferIn(s: Setup, length: number, timeoutMs?: number): Promise<InResult>;
  controlTransferOut(s: Setup, data?: Uint8Array, timeoutMs?: number): Promise<{ status: string; bytesWritten: number }>;
  transferIn(ep: number, length: number, timeoutMs?: number): Promise<InResult>;
  transferOut(ep: number, data: Uint8Array, timeoutMs?: number): Promise<{ status: string; bytesWritten: number }>;
}
/** node-usb's default of 1 s is short for the service to answer on an emulated (TCG), busy guest. */
const CONTROL_TIMEOUT_MS = 10000;
const devices = async () => (await usb.getDevices()) as unknown as Dev[];
const VID = 0x1d6b;
const PID = 0x0104;
const UNITS = "/etc/bunit/units";
const UDC_FILE = "/sys/kernel/config/usb_gadget/bunit-test/UDC";

const GADGET = {
  name: "bunit-test",
  vendor_id: VID,
  product_id: PID,
  strings: { "0x409": { manufacturer: "bunit", product: "bunit test gadget", serialnumber: "T-0001" } },
  functions: [
    { kind: "ffs", instance: "loopback", mount: "/dev/usb-ffs/loopback" },
    { kind: "acm", instance: "gs0" },
  ],
  configs: [{ label: "loopback+acm", max_power: 100, functions: ["ffs.loopback", "acm.gs0"] }],
};

async function findDevice(timeoutMs = 15000): Promise<Dev> {
  let dev: Dev | undefined;
  await waitFor(() => usbConfigured(PID.toString(16).padStart(4, "0")), timeoutMs, "the gadget configured by the host side");
  await waitFor(
    async () => {
      dev = (await devices()).find((d) => d.vendorId === VID && d.productId === PID);
      return !!dev;
    },
    timeoutMs,
    "the gadget enumerated on the host side",
  );
  return dev!;
}

/** Bulk endpoint numbers as the host sees them (the UDC assigns addresses, not the spec). */
const eps = { out: 0, in: 0 };

async function openLoopback(): Promise<Dev> {
  const d = await findDevice();
  await d.open();
  await d.claimInterface(0);
  for (const e of d.configuration!.interfaces[0]!.alternate.endpoints) eps[e.direction === "in" ? "in" : "out"] = e.endpointNumber;
  return d;
}

async function closeLoopback(d: Dev): Promise<void> {
  await d.releaseInterface(0);
  await d.close();
}

const vendor = (request: number) => ({ requestType: "vendor" as const, recipient: "interface" as const, request, value: 0, index: 0 });
const text = (v: DataView | undefined) => new TextDecoder().decode(v ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array());

/** Writes data to ep1 OUT and reads the same amount back from ep2 IN, concurrently. */
async function loop(d: Dev, data: Uint8Array, chunk = 16384): Promise<Uint8Array> {
  const got: Uint8Array[] = [];
  let total = 0;
  const reader = (async () => {
    while (total < data.length) {
      const r = await d.transferIn(eps.in, Math.min(chunk, data.length - total), 10000);
      if (r.status !== "ok" || !r.data) throw new Error(`transferIn: ${r.status}`);
      const b = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength).slice();
      got.push(b);
      total += b.length;
    }
  })();
  for (let off = 0; off < data.length; off += chunk) {
    const w = await d.transferOut(eps.out, data.subarray(off, off + chunk), 10000);
    expect(w.status).toBe("ok");
  }
  // The service reads 16 KiB per request; a request ends early only at a short packet, so a
  // transfer that is a multiple of the packet size (but not of 16 KiB) ends with a ZLP.
  if (data.length % 512 === 0 && data.length % 16384 !== 0) await d.transferOut(eps.out, new Uint8Array(0), 10000);
  await reader;
  return Buffer.concat(got);
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The iInterface string index of interface 0, from the configuration descriptor. */
async function interfaceStringIndex(d: Dev): Promise<number> {
  const std = { requestType: "standard" as const, recipient: "device" as const, request: 6, value: 0x0200, index: 0 };
  const r = await d.controlTransferIn(std, 512, CONTROL_TIMEOUT_MS);
  const b = new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);
  for (let i = 0; i < b.length; i += b[i]!) if (b[i + 1] === 4 && b[i + 2] === 0) return b[i + 8]!;
  throw new Error("no interface 0 in the configuration descriptor");
}

async function stringDescriptor(d: Dev, index: number, lang: number): Promise<string> {
  const r = await d.controlTransferIn(
    { requestType: "standard", recipient: "device", request: 6, value: 0x0300 | index, index: lang },
    255,
    CONTROL_TIMEOUT_MS,
  );
  const b = new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);
  return Buffer.from(b.subarray(2, b[0])).toString("utf16le");
}

/** A daemon serving the shipped usb-loopback units with GADGET, once the gadget is bound. */
async function startLoopbackDaemon(prefix: string): Promise<{ daemon: UsbDaemon; dir: string }> {
  const dir = mkdtempSync(prefix);
  for (const f of ["usb-loopback.socket", "usb-loopback.service", "usb-loopback.toml"]) copyFileSync(join(UNITS, f), join(dir, f));
  writeFileSync(join(dir, "gadget.json"), JSON.stringify(GADGET));
  const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"));
  await daemon.waitLog(/gadget bunit-test: bound to dummy_udc\.0/);
  return { daemon, dir };
}

describe("ListenUSBFunction= with a composed gadget on dummy_hcd", () => {
  let daemon: UsbDaemon;
  let dir = "";
  beforeAll(async () => {
    ({ daemon, dir } = await startLoopbackDaemon("/tmp/bunit-usb-"));
  });
  afterAll(async () => {
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the UDC was bound only after the socket wrote the descriptors", () => {
    const log = daemon.log();
    const wrote = log.indexOf("FunctionFS /dev/usb-ffs/loopback: descriptors written");
    const bound = log.indexOf("bound to dummy_udc.0");
    expect(wrote).toBeGreaterThan(-1);
    expect(bound).toBeGreaterThan(wrote);
    expect(readFileSync(UDC_FILE, "utf8").trim()).toBe("dummy_udc.0");
    expect(readdirSync("/dev/usb-ffs/loopback").sort()).toEqual(["ep0", "ep1", "ep2"]);
  });

  test("the host reads the device, configuration, interface and endpoint descriptors", async () => {
    const d = await findDevice();
    expect(d.manufacturerName).toBe("bunit");
    expect(d.productName).toBe("bunit test gadget");
    expect(d.serialNumber).toBe("T-0001");
    const c = d.configuration!;
    expect(c.configurationName).toBe("loopback+acm");
    const alt = c.interfaces[0]!.alternate;
    expect(alt.interfaceClass).toBe(0xff);
    expect(alt.interfaceName).toBe("bunit loopback");
    // In the spec's order; the UDC (dummy_hcd) assigns the endpoint addresses.
    expect(alt.endpoints.map((e) => [e.direction, e.type, e.packetSize])).toEqual([
      ["out", "bulk", 512],
      ["in", "bulk", 512],
    ]);
    // The ACM function of the same gadget: a communications interface and its data interface.
    expect(c.interfaces.map((i) => i.alternate.interfaceClass)).toEqual([0xff, 0x02, 0x0a]);
    // The interface string in both languages of the spec.
    await d.open();
    try {
      const idx = await interfaceStringIndex(d);
      expect(await stringDescriptor(d, idx, 0x0409)).toBe("bunit loopback");
      expect(await stringDescriptor(d, idx, 0x0407)).toBe("bunit Schleife");
    } finally {
      await d.close();
    }
  });

  test("vendor control requests are answered, and unknown ones stalled", async () => {
    const d = await openLoopback();
    try {
      const id = await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS);
      expect(id.status).toBe("ok");
      expect(text(id.data)).toMatch(/^bunit-loopback \d+$/);
      const put = await d.controlTransferOut(vendor(0x02), new TextEncoder().encode("stored by the host"), CONTROL_TIMEOUT_MS);
      expect(put.status).toBe("ok");
      expect(text((await d.controlTransferIn(vendor(0x03), 64, CONTROL_TIMEOUT_MS)).data)).toBe("stored by the host");
      // Stalled: an unknown IN request, an unknown OUT request, a standard request the function does not know.
      const stalledIn = await d.controlTransferIn(vendor(0x7f), 8, CONTROL_TIMEOUT_MS).catch((e: Error) => ({ status: "stall", error: e.message }));
      expect(stalledIn.status).toBe("stall");
      const stalledOut = await d
        .controlTransferOut(vendor(0x7e), new Uint8Array([1]), CONTROL_TIMEOUT_MS)
        .catch((e: Error) => ({ status: "stall", error: e.message }));
      expect(stalledOut.status).toBe("stall");
      // ep0 still works after the stalls.
      expect(text((await d.controlTransferIn(vendor(0x03), 64, CONTROL_TIMEOUT_MS)).data)).toBe("stored by the host");
    } finally {
      await closeLoopback(d);
    }
  });

  test("bulk data goes both ways: short, packet-sized and large transfers come back intact", async () => {
    const d = await openLoopback();
    try {
      for (const [size, chunk] of [
        [1, 16384],
        [512, 16384],
        [513, 16384],
        [100_000, 16384],
        [1 << 20, 65536],
      ] as const) {
        const data = pattern(size, size);
        const back = await loop(d, data, chunk);
        expect(back.length).toBe(size);
        expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
      }
      const counters = JSON.parse(text((await d.controlTransferIn(vendor(0x04), 128, CONTROL_TIMEOUT_MS)).data));
      expect(counters.bytes).toBeGreaterThanOrEqual(1 + 512 + 513 + 100_000 + (1 << 20));
    } finally {
      await closeLoopback(d);
    }
  });

  test("unbind/rebind cycles: the same service pauses on DISABLE and resumes on the next ENABLE", async () => {
    let d = await openLoopback();
    const first = text((await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS)).data);
    await closeLoopback(d);
    for (let cycle = 0; cycle < 3; cycle++) {
      writeFileSync(UDC_FILE, "\n");
      await waitFor(async () => !(await devices()).some((x) => x.vendorId === VID && x.productId === PID), 10000, "the gadget gone from the host");
      writeFileSync(UDC_FILE, "dummy_udc.0\n");
      d = await openLoopback();
      try {
        expect(text((await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS)).data)).toBe(first);
        const data = pattern(70_000, cycle);
        expect(Buffer.compare(Buffer.from(await loop(d, data)), Buffer.from(data))).toBe(0);
      } finally {
        await closeLoopback(d);
      }
    }
    const d2 = await openLoopback();
    const counters = JSON.parse(text((await d2.controlTransferIn(vendor(0x04), 128, CONTROL_TIMEOUT_MS)).data));
    await closeLoopback(d2);
    // One process all along (the pid in every identify answer above), enabled anew on each
    // cycle. ENABLE is what to count: the kernel discards a queued UNBIND, BIND or DISABLE
    // when a later one of these arrives before ep0 is read, but nothing follows the ENABLE
    // the host's transfer waits for.
    expect(counters.enables).toBeGreaterThanOrEqual(4);
    expect(daemon.log().match(/usb-loopback\.service: Started/g)?.length).toBe(1);
  });

  test("stopping the daemon unbinds the gadget and removes it from configfs", async () => {
    await daemon.stop();
    expect(existsSync("/sys/kernel/config/usb_gadget/bunit-test")).toBe(false);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain("/dev/usb-ffs/loopback");
    expect(daemon.log()).toContain("gadget bunit-test: removed");
  });
});

describe("binary blobs as with systemd, and activation on ENABLE", () => {
  test("USBFunctionDescriptors=/USBFunctionStrings= blobs; X-USBActivationEvent=enable starts the service only when the host enables the function", async () => {
    const dir = mkdtempSync("/tmp/bunit-usb-blobs-");
    const c = Bun.spawnSync(["bunit", "usb", "compile", join(UNITS, "usb-loopback.toml"), "--out", join(dir, "blobs")]);
    expect(c.exitCode).toBe(0);
    writeFileSync(
      join(dir, "blobloop.socket"),
      "[Socket]\nListenUSBFunction=/dev/usb-ffs/loopback\nX-USBActivationEvent=enable\n[Install]\nWantedBy=sockets.target\n",
    );
    writeFileSync(
      join(dir, "blobloop.service"),
      `[Service]\nExecStart=/usr/bin/bun /usr/lib/bunit/firmware/examples/usb-loopback.ts\nUSBFunctionDescriptors=${dir}/blobs/descriptors.bin\nUSBFunctionStrings=${dir}/blobs/strings.bin\n`,
    );
    writeFileSync(join(dir, "gadget.json"), JSON.stringify({ ...GADGET, name: "bunit-blobs" }));
    const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"));
    try {
      await daemon.waitLog(/usb-loopback: started \(enabled\)/);
      const log = daemon.log();
      expect(log).toContain(`descriptors written (${dir}/blobs/descriptors.bin + ${dir}/blobs/strings.bin)`);
      // Bound first; the service starts after the host configured the device (ENABLE), already enabled.
      expect(log.indexOf("Started")).toBeGreaterThan(log.indexOf("gadget bunit-blobs: bound to dummy_udc.0"));
      const d = await openLoopback();
      try {
        expect(text((await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS)).data)).toMatch(/^bunit-loopback \d+$/);
        const data = pattern(40_000, 7);
        expect(Buffer.compare(Buffer.from(await loop(d, data)), Buffer.from(data))).toBe(0);
      } finally {
        await closeLoopback(d);
      }
    } finally {
      await daemon.stop();
    }
  });
});

describe("malformed descriptions", () => {
  test("a malformed spec is a clear error before anything reaches ep0; the gadget stays unbound", async () => {
    const dir = mkdtempSync("/tmp/bunit-usb-bad-");
    writeFileSync(join(dir, "bad.socket"), "[Socket]\nListenUSBFunction=/run/usb-bad\nService=bad.service\n[Install]\nWantedBy=sockets.target\n");
    writeFileSync(join(dir, "bad.service"), `[Service]\nExecStart=/bin/true\nUSBFunctionDescriptors=${dir}/bad.toml\n`);
    writeFileSync(join(dir, "bad.toml"), '[[interfaces]]\nclass = "vendor"\n[[interfaces.endpoints]]\nnumber = 1\ndirection = "out"\ntype = "bulky"\n');
    writeFileSync(
      join(dir, "gadget.json"),
      JSON.stringify({
        name: "bunit-bad",
        vendor_id: VID,
        product_id: 0x0105,
        bind_timeout: 2,
        functions: [{ kind: "ffs", instance: "bad", mount: "/run/usb-bad" }],
      }),
    );
    const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"));
    try {
      await daemon.waitLog(/bad\.socket: .*bad\.toml: invalid USB function description/);
      expect(daemon.log()).toContain(
        `ListenUSBFunction=/run/usb-bad (${dir}/bad.socket:2): ${dir}/bad.toml: invalid USB function description:\n  interfaces[0].endpoints[0].type: must be "bulk", "interrupt" or "isochronous", not "bulky"`,
      );
      // Nothing was written: the kernel made no endpoint files, and a correct writer can still use ep0.
      expect(readdirSync("/run/usb-bad")).toEqual(["ep0"]);
      await daemon.waitLog(/gadget bunit-bad: cannot bind after 2 s: ffs\.bad has no descriptors yet/);
      expect(readFileSync("/sys/kernel/config/usb_gadget/bunit-bad/UDC", "utf8").trim()).toBe("");
    } finally {
      await daemon.stop();
    }
    expect(existsSync("/sys/kernel/config/usb_gadget/bunit-bad")).toBe(false);
  });

  test("bunit verify and bunit usb compile report the same error with the file and place", () => {
    const dir = mkdtempSync("/tmp/bunit-usb-cli-");
    writeFileSync(join(dir, "x.toml"), '[[interfaces]]\n[[interfaces.endpoints]]\nnumber = 16\ndirection = "in"\ntype = "bulk"\n');
    const problem = `${dir}/x.toml: invalid USB function description:\n  interfaces[0].endpoints[0].number: 16 is out of range (1..15)`;
    const r = Bun.spawnSync(["bunit", "usb", "compile", join(dir, "x.toml")]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain(problem);
    writeFileSync(join(dir, "x.socket"), "[Socket]\nListenUSBFunction=/run/x-ffs\n");
    writeFileSync(join(dir, "x.service"), `[Service]\nExecStart=/bin/true\nUSBFunctionDescriptors=${dir}/x.toml\n`);
    const v = Bun.spawnSync(["bunit", "verify", join(dir, "x.socket")]);
    expect(v.exitCode).toBe(1);
    expect(v.stdout.toString() + v.stderr.toString()).toContain(problem);
  });
});

describe("daemon-reexec with a composed gadget", () => {
  let daemon: UsbDaemon;
  let dir = "";
  beforeAll(async () => {
    ({ daemon, dir } = await startLoopbackDaemon("/tmp/bunit-usb-reexec-"));
  });
  afterAll(async () => {
    await daemon?.stop();
    expect(existsSync("/sys/kernel/config/usb_gadget/bunit-test")).toBe(false);
  });

  test("daemon-reexec: the gadget stays bound, the FunctionFS service keeps running and serving", async () => {
    const cli = (...a: string[]) => Bun.spawnSync(["/usr/bin/bun", "/usr/lib/bunit/firmware/cli.ts", ...a, "--socket", `${dir}.control/control`]);
    const mainPid = () => JSON.parse(cli("status", "usb-loopback.service", "--json").stdout.toString()).units[0].service.mainPid as number;
    let d = await openLoopback();
    const id = text((await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS)).data);
    await closeLoopback(d);
    const pid = mainPid();
    const unbindsBefore = daemon.log().match(/unbound/g)?.length ?? 0;
    const r = cli("daemon-reexec");
    expect(r.exitCode).toBe(0);
    await daemon.waitLog(/re-executed/);
    await waitFor(() => cli("status").exitCode === 0, 20000, "the new daemon answers");
    expect(readFileSync(UDC_FILE, "utf8").trim()).toBe("dummy_udc.0");
    await daemon.waitLog(/gadget bunit-test: adopted \(bound to dummy_udc\.0\)/);
    expect(mainPid()).toBe(pid);
    d = await openLoopback();
    try {
      expect(text((await d.controlTransferIn(vendor(0x01), 64, CONTROL_TIMEOUT_MS)).data)).toBe(id);
      const data = pattern(70_000, 7);
      expect(Buffer.compare(Buffer.from(await loop(d, data)), Buffer.from(data))).toBe(0);
    } finally {
      await closeLoopback(d);
    }
    expect(daemon.log().match(/unbound/g)?.length ?? 0).toBe(unbindsBefore);
  });
});
