/**
 * `npm run bench [latency|accept|startup|uevent|usb]...`: every benchmark (or those named), one table. Each row is this project's figure, the peer's
 * figure measured in the same run on the same machine, and the ratio (ours / peer; for rates
 * higher is better, for times and sizes lower is better: the "better" column says which).
 *
 *   Host (test/bench/host.ts): Accept=no activation latency, Accept=yes connections/s against
 *   systemd-socket-activate, busybox inetd and xinetd; 100 sockets start time and RSS.
 *   FunctionFS bulk throughput (QEMU board, dummy_hcd): the TypeScript library against a C
 *   reference (test/bench/usb/ffs-aio-ref.c) doing the same AIO with the same depth.
 */
import { buildImage } from "../../scripts/build-image.ts";
import { Guest } from "../../scripts/lib/qemu.ts";
import { ensurePackages } from "../../scripts/setup-host.ts";
import { unpackPeers } from "./peers.ts";
import { acceptRate, activationLatency, hundredSockets, ueventParseRate } from "./host.ts";

export interface Row {
  what: string;
  ours: number;
  peer: number;
  peerName: string;
  unit: string;
  better: "higher" | "lower";
}

export function formatTable(rows: Row[]): string {
  const head = ["benchmark", "bunit", "peer", "ratio", "better"];
  const body = rows.map((r) => [r.what, `${r.ours.toFixed(2)} ${r.unit}`, Number.isNaN(r.peer) ? r.peerName : `${r.peer.toFixed(2)} ${r.unit} (${r.peerName})`, Number.isNaN(r.peer) ? "-" : (r.ours / r.peer).toFixed(2), r.better]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((x) => "-".repeat(x + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

async function usbThroughput(): Promise<Row[]> {
  const img = await buildImage("qemu-x86_64", { log: () => {} });
  const guest = await Guest.boot(img, { mode: "none" });
  try {
    const r = await guest.run(["/usr/bin/bun", "test/bench/usb/throughput.ts"], { cwd: "/opt/bunit", timeoutMs: 10 * 60_000 });
    process.stderr.write(r.stderr);
    if (r.code !== 0) throw new Error(`usb throughput benchmark failed (${r.code ?? r.signal}):\n${r.stdout}`);
    const res = JSON.parse(r.stdout.trim().split("\n").pop()!) as { ts: { out: number; in: number }; c: { out: number; in: number } };
    const mb = (x: number) => x / 1e6;
    return [
      { what: `FunctionFS bulk OUT, dummy_hcd in QEMU (${guest.accel})`, ours: mb(res.ts.out), peer: mb(res.c.out), peerName: "C + AIO", unit: "MB/s", better: "higher" },
      { what: `FunctionFS bulk IN, dummy_hcd in QEMU (${guest.accel})`, ours: mb(res.ts.in), peer: mb(res.c.in), peerName: "C + AIO", unit: "MB/s", better: "higher" },
    ];
  } finally {
    await guest.shutdown();
  }
}

if (import.meta.main) {
  // The peers come from Debian's packages: systemd-socket-activate (systemd) installed; xinetd
  // and openbsd-inetd conflict with each other, so both are unpacked from their .debs into
  // .cache/bench (never installed) and run from there.
  await ensurePackages(["systemd"]);
  await unpackPeers();
  const rows: Row[] = [];
  const only = process.argv.slice(2);
  const want = (k: string) => only.length === 0 || only.includes(k);
  if (want("latency")) rows.push(await activationLatency());
  if (want("accept")) rows.push(...(await acceptRate()));
  if (want("startup")) rows.push(...(await hundredSockets()));
  if (want("uevent")) rows.push(await ueventParseRate());
  if (want("usb")) rows.push(...(await usbThroughput()));
  console.log(formatTable(rows));
}
