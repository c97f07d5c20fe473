/**
 * Runs inside the QEMU board (test/bench/run.ts starts it): bulk throughput over dummy_hcd
 * through a bunit-activated FunctionFS service, for the TypeScript library and for the C
 * reference, with the same host-side client (node-usb, transfers of 256 KiB).
 * Prints one JSON line: { ts: {out, in}, c: {out, in} } in bytes per second.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { usb } from "usb";
import { UsbDaemon, usbConfigured, waitFor } from "../../guest/support.ts";

interface Dev {
  vendorId: number;
  productId: number;
  configuration?: { interfaces: { alternate: { endpoints: { endpointNumber: number; direction: string }[] } }[] };
  open(): Promise<void>;
  close(): Promise<void>;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  transferIn(ep: number, length: number, timeoutMs?: number): Promise<{ data?: DataView }>;
  transferOut(ep: number, data: Uint8Array, timeoutMs?: number): Promise<{ bytesWritten: number }>;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
// node-usb runs one transfer at a time per endpoint ("endpoint not found" for a second one in
// flight), so the host side keeps one large transfer going.
const CHUNK = 262144;
const DEPTH = 1;

async function measure(label: string, run: () => Promise<number>): Promise<number> {
  const end = performance.now() + 500; // warm-up
  while (performance.now() < end) await run();
  let bytes = 0;
  const t0 = performance.now();
  const stop = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: DEPTH }, async () => {
      while (performance.now() < stop) bytes += await run();
    }),
  );
  const rate = bytes / ((performance.now() - t0) / 1000);
  console.error(`  ${label}: ${(rate / 1e6).toFixed(2)} MB/s`);
  return rate;
}

async function variant(name: string, execStart: string): Promise<{ out: number; in: number }> {
  const dir = mkdtempSync(`/tmp/bunit-bench-${name}-`);
  writeFileSync(join(dir, "bench.socket"), "[Socket]\nListenUSBFunction=/dev/usb-ffs/bench\n[Install]\nWantedBy=sockets.target\n");
  writeFileSync(join(dir, "bench.service"), `[Service]\nExecStart=${execStart}\nUSBFunctionDescriptors=/etc/bunit/units/usb-loopback.toml\n`);
  writeFileSync(join(dir, "gadget.json"), JSON.stringify({ name: "bunit-bench", vendor_id: 0x1d6b, product_id: 0x0108, functions: [{ kind: "ffs", instance: "bench", mount: "/dev/usb-ffs/bench" }] }));
  const daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"), []);
  try {
    // Open only once the kernel has set the configuration: node-usb takes the endpoints from
    // the device as it finds it.
    await waitFor(() => usbConfigured("0108"), 30000, "the bench gadget configured");
    const d = ((await usb.getDevices()) as unknown as Dev[]).find((x) => x.productId === 0x0108)!;
    await d.open();
    await d.claimInterface(0);
    const eps = d.configuration!.interfaces[0]!.alternate.endpoints;
    const epOut = eps.find((e) => e.direction === "out")!.endpointNumber;
    const epIn = eps.find((e) => e.direction === "in")!.endpointNumber;
    // The service starts at the first ep0 event.
    await daemon.waitLog(/(ts-sink-source|ffs-aio-ref): running/, 30000);
    console.error(`${name}:`);
    const payload = new Uint8Array(CHUNK).fill(0x5a);
    const out = await measure("host -> device (bulk OUT)", async () => (await d.transferOut(epOut, payload, 5000)).bytesWritten);
    const inn = await measure("device -> host (bulk IN)", async () => (await d.transferIn(epIn, CHUNK, 5000)).data?.byteLength ?? 0);
    await d.releaseInterface(0);
    await d.close();
    return { out, in: inn };
  } finally {
    await daemon.stop();
  }
}

const ts = await variant("ts", "/usr/bin/bun /opt/bunit/test/bench/usb/ts-sink-source.ts");
const c = await variant("c", "/opt/bunit/bin/ffs-aio-ref");
console.log(JSON.stringify({ ts, c }));
process.exit(0);
