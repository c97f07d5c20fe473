/**
 * Runs inside the QEMU board (test/bench/run.ts starts it): bulk throughput over dummy_hcd
 * through a bunit-activated FunctionFS service, for the TypeScript library and for the C
 * reference, with the same host-side client (node-usb, transfers of 256 KiB) and the same
 * requests in flight (depth x size, passed to both services as $FFS_DEPTH and $FFS_SIZE).
 * Prints one JSON line: { ts: {out, in}, c: {out, in}, depth, size, extra } in bytes per second.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

/** The service's CPU time so far (utime + stime from /proc/PID/stat), in seconds. */
function cpuSeconds(pid: number): number {
  if (pid < 0) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in USER_HZ (100)
}

/** The pid of the process whose command line contains `what`. */
function pidOf(what: string): number {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(what)) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  console.error(`(no process running ${what}: its CPU is not reported)`);
  return -1;
}

async function measure(label: string, service: number, run: () => Promise<number>): Promise<number> {
  const end = performance.now() + 500; // warm-up
  while (performance.now() < end) await run();
  let bytes = 0;
  const cpu0 = cpuSeconds(service);
  const t0 = performance.now();
  const stop = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: DEPTH }, async () => {
      while (performance.now() < stop) bytes += await run();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const rate = bytes / secs;
  // The service's CPU per MB: what the library costs beyond the kernel's work.
  const cpu = cpuSeconds(service) - cpu0;
  console.error(
    `  ${label}: ${(rate / 1e6).toFixed(2)} MB/s; service CPU ${((100 * cpu) / secs).toFixed(0)} %, ${((cpu * 1e6) / (bytes / 1e6)).toFixed(0)} us per MB`,
  );
  return rate;
}

/** Requests in flight per direction and bytes per request, the same for both services. */
interface Config {
  depth: number;
  size: number;
}

/** "DEPTHxSIZE", e.g. 4x16384. */
function parseConfig(s: string): Config {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`"${s}" is not DEPTHxSIZE`);
  return { depth: Number(m[1]), size: Number(m[2]) };
}

async function variant(name: string, execStart: string, cfg: Config): Promise<{ out: number; in: number }> {
  const dir = mkdtempSync(`/tmp/bunit-bench-${name}-`);
  writeFileSync(join(dir, "bench.socket"), "[Socket]\nListenUSBFunction=/dev/usb-ffs/bench\n[Install]\nWantedBy=sockets.target\n");
  writeFileSync(
    join(dir, "bench.service"),
    `[Service]\nExecStart=${execStart}\nEnvironment=FFS_DEPTH=${cfg.depth} FFS_SIZE=${cfg.size}\nUSBFunctionDescriptors=/etc/bunit/units/usb-loopback.toml\n`,
  );
  writeFileSync(
    join(dir, "gadget.json"),
    JSON.stringify({
      name: "bunit-bench",
      vendor_id: 0x1d6b,
      product_id: 0x0108,
      functions: [{ kind: "ffs", instance: "bench", mount: "/dev/usb-ffs/bench" }],
    }),
  );
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
    const service = pidOf(execStart.includes("ffs-aio-ref") ? "ffs-aio-ref" : "ts-sink-source");
    console.error(`${name} (${cfg.depth} x ${cfg.size} bytes in flight each way):`);
    const payload = new Uint8Array(CHUNK).fill(0x5a);
    const out = await measure("host -> device (bulk OUT)", service, async () => (await d.transferOut(epOut, payload, 5000)).bytesWritten);
    const inn = await measure("device -> host (bulk IN)", service, async () => (await d.transferIn(epIn, CHUNK, 5000)).data?.byteLength ?? 0);
    await d.releaseInterface(0);
    await d.close();
    return { out, in: inn };
  } finally {
    await daemon.stop();
  }
}

// The reported figures: both services with $BENCH_FFS (DEPTHxSIZE): by default 8 requests of
// 64 KiB in flight each way, the library's default depth with the request size a bulk service
// picks for throughput. The configurations in $BENCH_FFS_MORE (comma-separated; by default the
// earlier 4 x 16 KiB, where the per-request cost shows) are measured too and printed to stderr.
const main = parseConfig(process.env.BENCH_FFS ?? "8x65536");
const more = (process.env.BENCH_FFS_MORE ?? "4x16384").split(",").filter(Boolean).map(parseConfig);
const run = async (cfg: Config) => ({
  ts: await variant("ts", "/usr/bin/bun /opt/bunit/test/bench/usb/ts-sink-source.ts", cfg),
  c: await variant("c", "/opt/bunit/bin/ffs-aio-ref", cfg),
});
const extra = [];
for (const cfg of more) {
  const r = await run(cfg);
  console.error(`${cfg.depth} x ${cfg.size}: TS/C OUT ${(r.ts.out / r.c.out).toFixed(2)}, IN ${(r.ts.in / r.c.in).toFixed(2)}`);
  extra.push({ ...cfg, ...r });
}
const { ts, c } = await run(main);
console.error(`${main.depth} x ${main.size}: TS/C OUT ${(ts.out / c.out).toFixed(2)}, IN ${(ts.in / c.in).toFixed(2)}`);
console.log(JSON.stringify({ ts, c, depth: main.depth, size: main.size, extra }));
process.exit(0);
