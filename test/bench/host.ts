/**
 * Host benchmarks (this machine, loopback only), each against peers run in the same process
 * tree on the same machine:
 *   - Accept=no activation latency: connect until the first byte of a freshly started service's
 *     reply; bunit (a running daemon, the service started per connection because it exits after
 *     one reply) against systemd-socket-activate (started, then activated, per round).
 *   - Accept=yes connections per second, a trivial inetd-style service (/bin/echo): bunit,
 *     systemd-socket-activate --accept --inetd, busybox inetd (built from Debian's source
 *     package, see peers.ts), openbsd-inetd, xinetd. (s6-tcpserver: s6-networking is not
 *     packaged in Debian 12.)
 *   - 100 sockets: time from daemon start until all listen, and the daemon's RSS (total and
 *     private, RssAnon) then; peer: systemd-socket-activate with 100 -l options.
 *   - 1000 concurrent Accept=yes connections: the daemon's memory per connection (RSS growth
 *     over 1000 live instances / 1000); peer: systemd-socket-activate --accept's growth.
 * bunit runs as images ship it: the bundle with its bytecode (scripts/lib/bundle.ts), built
 * fresh for the run.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testBinary } from "../support/harness.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { buildBundle } from "../../scripts/lib/bundle.ts";
import { fdLimit } from "../../firmware/native.ts";
import type { Row } from "./run.ts";
import { allListening } from "./listening.ts";
import { busyboxInetd, peerRoot } from "./peers.ts";

const bun = process.execPath;
let bundle: Promise<string> | null = null;
/** The daemon as shipped, built once per run. */
const cli = () => (bundle ??= buildBundle(join(mkdtempSync(join(tmpdir(), "bunit-bench-bundle-")), "bunit.js")));
const nativeEnv = { ...process.env, BUNIT_NATIVE_DIR: join(repoRoot, "build/native", process.arch === "arm64" ? "aarch64" : "x86_64") };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const listening = (port: number) => allListening([port]);
async function until(pred: () => boolean, ms = 10000, what = "condition"): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

/** Connects, returns ms until the first byte (and reads to EOF). */
function firstByte(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = -1;
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open() {},
        data() {
          if (first < 0) first = performance.now() - t0;
        },
        close() {
          first >= 0 ? resolve(first) : reject(new Error("closed without data"));
        },
        error(_s, e) {
          reject(e);
        },
        connectError(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

/** Connections per second: `conc` clients in a loop for `seconds`, each reading to EOF. */
async function connRate(port: number, seconds = 4, conc = 8): Promise<number> {
  let done = 0;
  const stop = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (performance.now() < stop) {
        await firstByte(port);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/**
 * systemd's default limits (TriggerLimitBurst=200 and PollLimitBurst=150 per 2 s for
 * Accept=yes) cap a socket at 75 connections/s; the peers have no such limits, so the rate
 * benchmark turns them off. (With the defaults bunit measures ~75 conn/s, as systemd would.)
 */
const LIMITS_OFF = "TriggerLimitIntervalSec=0\nPollLimitIntervalSec=0\n";

let nextPort = 21000 + (process.pid % 1000) * 10;
const port = () => nextPort++;

function unitsDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), "bunit-bench-"));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
  return d;
}

async function bunitDaemon(dir: string, ports: number[]): Promise<{ proc: Bun.Subprocess; startMs: number }> {
  const argv = [bun, await cli(), "daemon", "--units", dir, "--control", `${dir}/control`, "--log-level", "warning"];
  const t0 = performance.now();
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore", env: nativeEnv });
  await until(() => allListening(ports), 20000, "bunit's sockets");
  return { proc, startMs: performance.now() - t0 };
}

async function stop(p: Bun.Subprocess): Promise<void> {
  p.kill("SIGTERM");
  await p.exited;
}

export async function activationLatency(rounds = 30): Promise<Row> {
  const reply = await testBinary("reply-once");
  const p1 = port();
  const d = await bunitDaemon(
    unitsDir({
      "lat.socket": `[Socket]\nListenStream=127.0.0.1:${p1}\n${LIMITS_OFF}[Install]\nWantedBy=sockets.target\n`,
      "lat.service": `[Unit]\n# One start per measurement: no start limit.\nStartLimitIntervalSec=0\n[Service]\nExecStart=${reply}\n`,
    }),
    [p1],
  );
  const ours: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      ours.push(await firstByte(p1));
      await until(() => listening(p1), 5000, "listening again");
      await Bun.sleep(20); // the service exited; the socket is back to listening
    }
  } finally {
    await stop(d.proc);
  }
  const peer: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const p2 = port();
    const sa = Bun.spawn(["systemd-socket-activate", "-l", `127.0.0.1:${p2}`, reply], { stdout: "ignore", stderr: "ignore" });
    await until(() => listening(p2), 5000, "systemd-socket-activate");
    peer.push(await firstByte(p2));
    await sa.exited;
  }
  return {
    what: "Accept=no activation latency (median, connect to first byte)",
    ours: median(ours),
    peer: median(peer),
    peerName: "systemd-socket-activate",
    unit: "ms",
    better: "lower",
  };
}

export async function acceptRate(): Promise<Row[]> {
  const rows: Row[] = [];
  const pb = port();
  const d = await bunitDaemon(
    unitsDir({
      "rate.socket": `[Socket]\nListenStream=127.0.0.1:${pb}\nAccept=yes\nMaxConnections=256\n${LIMITS_OFF}[Install]\nWantedBy=sockets.target\n`,
      "rate@.service": "[Service]\nExecStart=/bin/echo x\nStandardInput=socket\n",
    }),
    [pb],
  );
  let ours: number;
  try {
    await connRate(pb, 1);
    ours = await connRate(pb);
  } finally {
    await stop(d.proc);
  }
  const peers: { name: string; start: (p: number, dir: string) => Bun.Subprocess | null }[] = [
    {
      name: "systemd-socket-activate --accept",
      start: (p) =>
        Bun.spawn(["systemd-socket-activate", "--accept", "--inetd", "-l", `127.0.0.1:${p}`, "/bin/echo", "x"], { stdout: "ignore", stderr: "ignore" }),
    },
    {
      name: "busybox inetd",
      start: (p, dir) => {
        writeFileSync(join(dir, "inetd.conf"), `127.0.0.1:${p} stream tcp nowait root /bin/echo echo x\n`);
        return Bun.spawn([busyboxInetd(), "inetd", "-f", "-e", join(dir, "inetd.conf")], { stdout: "ignore", stderr: "ignore" });
      },
    },
    {
      name: "openbsd-inetd",
      start: (p, dir) => {
        writeFileSync(join(dir, "inetd.conf"), `127.0.0.1:${p} stream tcp nowait root /bin/echo echo x\n`);
        return Bun.spawn([join(peerRoot("openbsd-inetd"), "usr/sbin/inetd"), "-d", "-R", "1000000", join(dir, "inetd.conf")], {
          stdout: "ignore",
          stderr: "ignore",
        });
      },
    },
    {
      name: "xinetd",
      start: (p, dir) => {
        writeFileSync(
          join(dir, "xinetd.conf"),
          `defaults\n{\n instances = UNLIMITED\n cps = 100000 1\n}\nservice bench\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n port = ${p}\n bind = 127.0.0.1\n wait = no\n user = root\n server = /bin/echo\n server_args = x\n instances = UNLIMITED\n per_source = UNLIMITED\n cps = 100000 1\n}\n`,
        );
        return Bun.spawn([join(peerRoot("xinetd"), "usr/sbin/xinetd"), "-dontfork", "-f", join(dir, "xinetd.conf")], { stdout: "ignore", stderr: "ignore" });
      },
    },
  ];
  for (const peer of peers) {
    const p = port();
    const dir = mkdtempSync(join(tmpdir(), "bunit-bench-peer-"));
    const proc = peer.start(p, dir);
    if (!proc) {
      rows.push({
        what: "Accept=yes connections/s, /bin/echo per connection",
        ours,
        peer: NaN,
        peerName: `${peer.name} (not installed)`,
        unit: "conn/s",
        better: "higher",
      });
      continue;
    }
    try {
      await until(() => listening(p), 10000, peer.name);
      await connRate(p, 1);
      rows.push({
        what: "Accept=yes connections/s, /bin/echo per connection",
        ours,
        peer: await connRate(p),
        peerName: peer.name,
        unit: "conn/s",
        better: "higher",
      });
    } finally {
      await stop(proc);
    }
  }
  return rows;
}

function rssMiB(pid: number, field = "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function hundredSockets(): Promise<Row[]> {
  const ports = Array.from({ length: 100 }, port);
  const files: Record<string, string> = {};
  ports.forEach((p, i) => {
    files[`s${i}.socket`] = `[Socket]\nListenStream=127.0.0.1:${p}\n[Install]\nWantedBy=sockets.target\n`;
    files[`s${i}.service`] = "[Service]\nExecStart=/bin/true\n";
  });
  const d = await bunitDaemon(unitsDir(files), ports);
  await Bun.sleep(300);
  const ourRss = rssMiB(d.proc.pid);
  const ourAnon = rssMiB(d.proc.pid, "RssAnon");
  await stop(d.proc);
  const peerPorts = Array.from({ length: 100 }, port);
  const t0 = performance.now();
  const sa = Bun.spawn(["systemd-socket-activate", ...peerPorts.flatMap((p) => ["-l", `127.0.0.1:${p}`]), "/bin/true"], { stdout: "ignore", stderr: "ignore" });
  await until(() => allListening(peerPorts), 20000, "systemd-socket-activate's 100 sockets");
  const peerMs = performance.now() - t0;
  await Bun.sleep(300);
  const peerRss = rssMiB(sa.pid);
  const peerAnon = rssMiB(sa.pid, "RssAnon");
  await stop(sa);
  return [
    { what: "100 sockets: start until all listen", ours: d.startMs, peer: peerMs, peerName: "systemd-socket-activate -l x100", unit: "ms", better: "lower" },
    { what: "100 sockets: RSS of the daemon", ours: ourRss, peer: peerRss, peerName: "systemd-socket-activate -l x100", unit: "MiB", better: "lower" },
    { what: "100 sockets: private memory (RssAnon)", ours: ourAnon, peer: peerAnon, peerName: "systemd-socket-activate -l x100", unit: "MiB", better: "lower" },
  ];
}

/** Kernel-format uevents like the ones a gadget board sees (net, usb, module, tty). */
function ueventCorpus(n: number): Uint8Array[] {
  const kinds = [
    (i: number) => [
      "add@/devices/virtual/net/usb" + (i % 4),
      "ACTION=add",
      `DEVPATH=/devices/virtual/net/usb${i % 4}`,
      "SUBSYSTEM=net",
      `INTERFACE=usb${i % 4}`,
      `IFINDEX=${i % 90}`,
      `SEQNUM=${1000 + i}`,
    ],
    (i: number) => [
      `change@/devices/platform/dummy_hcd.0/usb1/1-${i % 8}`,
      "ACTION=change",
      `DEVPATH=/devices/platform/dummy_hcd.0/usb1/1-${i % 8}`,
      "SUBSYSTEM=usb",
      "DEVTYPE=usb_device",
      "PRODUCT=1d6b/104/100",
      "TYPE=0/0/0",
      "BUSNUM=001",
      `DEVNUM=00${i % 8}`,
      `SEQNUM=${2000 + i}`,
      "DEVNAME=bus/usb/001/002",
      "MAJOR=189",
      "MINOR=1",
    ],
    (i: number) => [`add@/module/mod${i % 16}`, "ACTION=add", `DEVPATH=/module/mod${i % 16}`, "SUBSYSTEM=module", `SEQNUM=${3000 + i}`],
  ];
  return Array.from({ length: n }, (_, i) => new TextEncoder().encode(kinds[i % kinds.length]!(i).join("\0") + "\0"));
}

export async function ueventParseRate(): Promise<Row> {
  const { parseKernelUevent } = await import("../../firmware/uevent/uevent.ts");
  const msgs = ueventCorpus(3000);
  const rounds = 100;
  for (const m of msgs) parseKernelUevent(m); // warm-up
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const m of msgs) parseKernelUevent(m);
  const ours = (msgs.length * rounds) / ((performance.now() - t0) / 1000);
  // The C reference over the same messages.
  const dir = mkdtempSync(join(tmpdir(), "bunit-bench-uevent-"));
  const framed = msgs.flatMap((m) => [new Uint8Array(new Uint32Array([m.length]).buffer), m]);
  writeFileSync(join(dir, "corpus"), Buffer.concat(framed));
  const ref = join(dir, "uevent-parse-ref");
  const cc = Bun.spawnSync(["cc", "-O2", "-o", ref, join(repoRoot, "test/bench/uevent-parse-ref.c")]);
  if (cc.exitCode !== 0) throw new Error(`building the C reference: ${cc.stderr}`);
  const out = Bun.spawnSync([ref, join(dir, "corpus"), String(rounds * 10)])
    .stdout.toString()
    .trim()
    .split(" ");
  if (out[1] !== "0") throw new Error(`the C reference rejected ${out[1]} messages`);
  return {
    what: "uevent parse and validate rate (kernel format)",
    ours,
    peer: Number(out[0]),
    peerName: "C reference, same checks",
    unit: "msg/s",
    better: "higher",
  };
}

/** Opens n connections to port and keeps them; resolves once all are open. */
async function holdConnections(port: number, n: number): Promise<{ close(): void }> {
  const socks: { end(): void }[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, () =>
      Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, error() {}, connectError() {} } }),
    );
    socks.push(...(await Promise.all(batch)));
  }
  return { close: () => socks.forEach((s) => s.end()) };
}

/** Live children of pid (the per-connection service processes). */
function childCount(pid: number): number {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      n += readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).length;
    } catch {
      /* thread gone */
    }
  }
  return n;
}

/**
 * The daemon's memory per live Accept=yes connection: 1000 connections held open, each with
 * its instance (a service that sleeps), RSS after minus before, over 1000.
 */
export async function perConnectionMemory(conns = 1000): Promise<Row[]> {
  // Each live connection costs the daemon two fds (the connection and the instance's pidfd):
  // the soft limit goes up to the hard one here, and the daemons started below inherit it.
  const limit = fdLimit();
  fdLimit({ soft: limit.hard, hard: limit.hard });
  if (limit.hard < 3 * conns) throw new Error(`the fd limit (${limit.hard}) is too low for ${conns} connections`);
  const measure = async (proc: Bun.Subprocess, port: number) => {
    await Bun.sleep(300);
    const before = { rss: rssMiB(proc.pid), anon: rssMiB(proc.pid, "RssAnon") };
    const held = await holdConnections(port, conns);
    await until(() => childCount(proc.pid) >= conns, 60000, `${conns} instances`);
    await Bun.sleep(500);
    const after = { rss: rssMiB(proc.pid), anon: rssMiB(proc.pid, "RssAnon") };
    held.close();
    return { rss: ((after.rss - before.rss) * 1024) / conns, anon: ((after.anon - before.anon) * 1024) / conns };
  };
  try {
    const p1 = port();
    const d = await bunitDaemon(
      unitsDir({
        "hold.socket": `[Socket]\nListenStream=127.0.0.1:${p1}\nAccept=yes\nMaxConnections=${conns + 100}\nMaxConnectionsPerSource=${conns + 100}\n${LIMITS_OFF}[Install]\nWantedBy=sockets.target\n`,
        "hold@.service": "[Service]\nExecStart=/bin/sleep 600\nStandardInput=socket\n",
      }),
      [p1],
    );
    let ours: { rss: number; anon: number };
    try {
      ours = await measure(d.proc, p1);
    } finally {
      await stop(d.proc);
    }
    const p2 = port();
    const sa = Bun.spawn(["systemd-socket-activate", "--accept", "--inetd", "-l", `127.0.0.1:${p2}`, "/bin/sleep", "600"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    let peer: { rss: number; anon: number };
    try {
      await until(() => listening(p2), 5000, "systemd-socket-activate");
      peer = await measure(sa, p2);
    } finally {
      sa.kill("SIGTERM");
      await sa.exited;
      Bun.spawnSync(["pkill", "-f", "^/bin/sleep 600$"]);
    }
    // systemd-socket-activate keeps no per-connection state (it forks and forgets), so its
    // growth is a floor, not a peer to divide by: the rows name it and leave the ratio out.
    const what = `${conns} live Accept=yes connections: daemon memory per connection`;
    const floor = (v: number) => `systemd-socket-activate --accept grew ${v.toFixed(2)} KiB per connection (keeps no state)`;
    return [
      { what: `${what} (RSS)`, ours: ours.rss, peer: NaN, peerName: floor(peer.rss), unit: "KiB", better: "lower" },
      { what: `${what} (RssAnon)`, ours: ours.anon, peer: NaN, peerName: floor(peer.anon), unit: "KiB", better: "lower" },
    ];
  } finally {
    fdLimit(limit);
  }
}
