/**
 * `npm run bench [latency|accept|startup|memory|startup-boards|uevent|usb|vsock]...`: every benchmark (or those named), one table. Each row is this project's figure, the peer's
 * figure measured in the same run on the same machine, and the ratio (ours / peer; for rates
 * higher is better, for times and sizes lower is better: the "better" column says which).
 *
 *   Host (test/bench/host.ts): Accept=no activation latency, Accept=yes connections/s against
 *   systemd-socket-activate, busybox inetd, openbsd-inetd and xinetd; 100 sockets start time and RSS;
 *   memory per live Accept=yes connection (1000 of them).
 *   Start-up inside the boards: 100 sockets in the emulated aarch64 board against the x86_64 one.
 *   FunctionFS bulk throughput (QEMU board, dummy_hcd): the TypeScript library against a C
 *   reference (test/bench/usb/ffs-aio-ref.c) doing the same AIO with the same depth.
 *   vsock throughput through an Accept=no service (QEMU board, loopback transport): the C
 *   service activated by bunit against the same service binding the port itself, and the
 *   TypeScript service on bunit's vsock library against the C one (test/bench/vsock/).
 *   vsock host<->guest through bunit's vhost-user back-end (the board booted with
 *   vhost-user-vsock-pci): the same Accept=no TS service streamed to and from the host, against
 *   the same exchanges inside the guest over loopback (test/bench/vsock/host-backend.ts).
 */
import { buildImage } from "../../scripts/build-image.ts";
import { Guest } from "../../scripts/lib/qemu.ts";
import { ensurePackages } from "../../scripts/setup-host.ts";
import { buildBusyboxInetd, unpackPeers } from "./peers.ts";
import { acceptRate, activationLatency, hundredSockets, perConnectionMemory, ueventParseRate } from "./host.ts";
import { vhostUserThroughput } from "./vsock/host-backend.ts";

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
  const body = rows.map((r) => [
    r.what,
    `${r.ours.toFixed(2)} ${r.unit}`,
    Number.isNaN(r.peer) ? r.peerName : `${r.peer.toFixed(2)} ${r.unit} (${r.peerName})`,
    Number.isNaN(r.peer) ? "-" : (r.ours / r.peer).toFixed(2),
    r.better,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((x) => "-".repeat(x + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

/** Runs a benchmark script inside the QEMU board and returns its last stdout line as JSON. */
async function inGuest<T>(guest: Guest, script: string, what: string): Promise<T> {
  const r = await guest.run(["/usr/bin/bun", script], { cwd: "/opt/bunit", timeoutMs: 10 * 60_000 });
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new Error(`${what} benchmark failed (${r.code ?? r.signal}):\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

const mb = (x: number) => x / 1e6;

async function usbThroughput(guest: Guest): Promise<Row[]> {
  const res = await inGuest<{ ts: { out: number; in: number }; c: { out: number; in: number } }>(guest, "test/bench/usb/throughput.ts", "usb throughput");
  return [
    {
      what: `FunctionFS bulk OUT, dummy_hcd in QEMU (${guest.accel})`,
      ours: mb(res.ts.out),
      peer: mb(res.c.out),
      peerName: "C + AIO",
      unit: "MB/s",
      better: "higher",
    },
    {
      what: `FunctionFS bulk IN, dummy_hcd in QEMU (${guest.accel})`,
      ours: mb(res.ts.in),
      peer: mb(res.c.in),
      peerName: "C + AIO",
      unit: "MB/s",
      better: "higher",
    },
  ];
}

async function vsockThroughput(guest: Guest): Promise<Row[]> {
  type Rates = { send: number; recv: number };
  const res = await inGuest<{ direct: Rates; "bunit-c": Rates; "bunit-ts": Rates }>(guest, "test/bench/vsock/throughput.ts", "vsock throughput");
  const where = `vsock loopback in QEMU (${guest.accel})`;
  const row = (what: string, ours: number, peer: number, peerName: string): Row => ({
    what: `${what}, ${where}`,
    ours: mb(ours),
    peer: mb(peer),
    peerName,
    unit: "MB/s",
    better: "higher",
  });
  return [
    row("vsock Accept=no C service, client -> service", res["bunit-c"].send, res.direct.send, "same C service binding the port itself"),
    row("vsock Accept=no C service, service -> client", res["bunit-c"].recv, res.direct.recv, "same C service binding the port itself"),
    row("vsock Accept=no TS service (bunit's vsock library), client -> service", res["bunit-ts"].send, res["bunit-c"].send, "C service, Accept=no"),
    row("vsock Accept=no TS service (bunit's vsock library), service -> client", res["bunit-ts"].recv, res["bunit-c"].recv, "C service, Accept=no"),
  ];
}

/** MiB streamed each way through the back-end and over loopback (about 1-3 s each under TCG). */
const VHOST_MIB = Number(process.env.BENCH_VHOST_MIB ?? 32);

async function vhostUserRows(guest: Guest): Promise<Row[]> {
  const r = await vhostUserThroughput(guest, VHOST_MIB);
  const where = `TS Accept=no service in QEMU (${guest.accel}), ${VHOST_MIB} MiB`;
  const peerName = "guest loopback, same service";
  const row = (what: string, ours: number, peer: number): Row => ({ what: `${what}, ${where}`, ours, peer, peerName, unit: "MiB/s", better: "higher" });
  return [
    row("vsock host->guest through bunit's vhost-user back-end", r.backend.toGuest, r.loopback.toGuest),
    row("vsock guest->host through bunit's vhost-user back-end", r.backend.fromGuest, r.loopback.fromGuest),
  ];
}

/**
 * Start-up inside the boards: the same 100-socket start (test/bench/guest-startup.ts) in the
 * emulated aarch64 board against the x86_64 board, both under QEMU TCG on this machine.
 */
async function boardStartup(): Promise<Row[]> {
  const ms: Record<string, number> = {};
  for (const board of ["qemu-x86_64", "qemu-aarch64"]) {
    const img = await buildImage(board, { log: () => {} });
    const guest = await Guest.boot(img, { mode: "none" });
    try {
      ms[board] = (await inGuest<{ ms: number }>(guest, "test/bench/guest-startup.ts", `${board} start-up`)).ms;
    } finally {
      await guest.shutdown();
    }
  }
  return [
    {
      what: "100 sockets: start until all listen, inside the emulated aarch64 board",
      ours: ms["qemu-aarch64"]!,
      peer: ms["qemu-x86_64"]!,
      peerName: "the same inside the x86_64 board, both QEMU TCG",
      unit: "ms",
      better: "lower",
    },
  ];
}

/** The benchmarks that run inside the QEMU board share one boot. */
async function guestBenchmarks(names: string[]): Promise<Row[]> {
  if (names.length === 0) return [];
  const img = await buildImage("qemu-x86_64", { log: () => {} });
  // vsock boots the board with bunit's vhost-user back-end (loopback is there either way).
  const guest = await Guest.boot(img, { mode: "none", ...(names.includes("vsock") ? { vsock: "vhost-user" as const } : {}) });
  try {
    const rows: Row[] = [];
    if (names.includes("usb")) rows.push(...(await usbThroughput(guest)));
    if (names.includes("vsock")) rows.push(...(await vsockThroughput(guest)), ...(await vhostUserRows(guest)));
    return rows;
  } finally {
    await guest.shutdown();
  }
}

if (import.meta.main) {
  // The peers come from Debian's packages: systemd-socket-activate (systemd) installed; xinetd
  // and openbsd-inetd conflict with each other, so both are unpacked from their .debs into
  // .cache/bench (never installed) and run from there.
  const only = process.argv.slice(2);
  const want = (k: string) => only.length === 0 || only.includes(k);
  // dpkg-dev, make, gcc, bzip2 and xz-utils build busybox inetd from Debian's source package.
  await ensurePackages(["systemd", "dpkg-dev", "make", "gcc", "bzip2", "xz-utils"]);
  await unpackPeers();
  if (want("accept")) await buildBusyboxInetd();
  const rows: Row[] = [];
  // Start-up first: the benchmarks after it leave thousands of TIME_WAIT entries in
  // /proc/net/tcp, which the "all listening" check reads every 2 ms (it measured 3-4x slower
  // for bunit and for systemd-socket-activate alike when it ran after the Accept=yes one).
  if (want("startup")) rows.push(...(await hundredSockets()));
  if (want("latency")) rows.push(await activationLatency());
  if (want("accept")) rows.push(...(await acceptRate()));
  if (want("memory")) rows.push(...(await perConnectionMemory()));
  if (want("startup-boards")) rows.push(...(await boardStartup()));
  if (want("uevent")) rows.push(await ueventParseRate());
  rows.push(...(await guestBenchmarks(["usb", "vsock"].filter(want))));
  console.log(formatTable(rows));
  // connectVsock's fd watcher (firmware/lib/vsock.ts) keeps the event loop alive after the
  // vhost-user rows: the table is out, so exit.
  process.exit(0);
}
