/**
 * Runs inside the QEMU board (test/bench/run.ts starts it): vsock stream throughput over the
 * loopback transport (CID 1) through an Accept=no service, with the same C client for every
 * variant (test/bench/vsock/vsock-sink-source.c, 64 KiB writes):
 *   direct   the C service binds vsock::PORT itself (no activation: the kernel's figure);
 *   bunit-c  the same C service, activated by bunit from ListenStream=vsock::PORT;
 *   bunit-ts the TypeScript service on bunit's vsock library, activated the same way.
 * All three run at once, and ROUNDS rounds of SECONDS each alternate between them. Prints one
 * JSON line: { direct: {send, recv}, "bunit-c": ..., "bunit-ts": ... }, medians in bytes per
 * second ("send" is client to service, "recv" service to client).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsbDaemon } from "../../guest/support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = 5;
const BIN = "/opt/bunit/bin/vsock-sink-source";
const CID_LOCAL = 1;

export interface Rates {
  send: number;
  recv: number;
}

async function client(port: number, dir: "send" | "recv", seconds: number): Promise<number> {
  const p = Bun.spawn([BIN, "client", String(CID_LOCAL), String(port), dir, String(seconds)], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`vsock client ${dir} to port ${port} failed (${code}): ${err}`);
  const [bytes, secs] = out.trim().split(" ").map(Number);
  return bytes! / secs!;
}

async function warmUp(port: number): Promise<void> {
  // The first connection activates the service (or waits for it to listen): a short warm-up in
  // each direction, retried while the service is not there yet.
  for (let i = 0; ; i++) {
    try {
      await client(port, "send", 0.5);
      await client(port, "recv", 0.5);
      return;
    } catch (e) {
      if (i >= 40) throw e;
      await Bun.sleep(250);
    }
  }
}

/** A process's CPU time so far (utime + stime from /proc/PID/stat), in seconds. */
function cpuSeconds(pid: number): number {
  if (pid < 0) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in USER_HZ (100)
}

/** The pid whose command line (NUL-separated) is exactly argv. */
function pidOf(argv: string[]): number {
  const want = `${argv.join("\0")}\0`;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8") === want) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  console.error(`(no process running ${argv.join(" ")}: its CPU is not reported)`);
  return -1;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Ports >= 20000 (the guide's rule is >= 10000).
const variants = { direct: 20100, "bunit-c": 20101, "bunit-ts": 20102 } as const;
type Variant = keyof typeof variants;

const direct = Bun.spawn([BIN, "serve", String(variants.direct)], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
const dir = mkdtempSync("/tmp/bunit-bench-vsock-");
const unit = (name: string, port: number, execStart: string) => {
  writeFileSync(join(dir, `${name}.socket`), `[Socket]\nListenStream=vsock::${port}\n[Install]\nWantedBy=sockets.target\n`);
  writeFileSync(join(dir, `${name}.service`), `[Service]\nExecStart=${execStart}\n`);
};
unit("vbench-c", variants["bunit-c"], `${BIN} serve`);
unit("vbench-ts", variants["bunit-ts"], "/usr/bin/bun /opt/bunit/test/bench/vsock/ts-sink-source.ts");
const daemon = await UsbDaemon.start(dir);
try {
  await daemon.waitLog(/Reached default\.target/, 30000);
  for (const port of Object.values(variants)) await warmUp(port);
  // The figures are only worth something if bunit started the services.
  await daemon.waitLog(/vbench-c\.service: Started/, 10000);
  await daemon.waitLog(/vbench-ts\.service: Started/, 10000);
  // Every service runs, and the daemon idles, during every variant's rounds; the rounds
  // alternate between the variants so that drift in the emulated machine hits them alike.
  const got: Record<Variant, { send: number[]; recv: number[] }> = {
    direct: { send: [], recv: [] },
    "bunit-c": { send: [], recv: [] },
    "bunit-ts": { send: [], recv: [] },
  };
  // The service's CPU seconds per direction, to tell what each costs per MB.
  const pids: Record<Variant, number> = {
    direct: direct.pid,
    "bunit-c": pidOf([BIN, "serve"]),
    "bunit-ts": pidOf(["/usr/bin/bun", "/opt/bunit/test/bench/vsock/ts-sink-source.ts"]),
  };
  const cpu: Record<Variant, { send: number; recv: number }> = {
    direct: { send: 0, recv: 0 },
    "bunit-c": { send: 0, recv: 0 },
    "bunit-ts": { send: 0, recv: 0 },
  };
  const bytes: Record<Variant, { send: number; recv: number }> = structuredClone(cpu);
  const timed = async (v: Variant, port: number, d: "send" | "recv") => {
    const c0 = cpuSeconds(pids[v]);
    const rate = await client(port, d, SECONDS);
    cpu[v][d] += cpuSeconds(pids[v]) - c0;
    bytes[v][d] += rate * SECONDS;
    got[v][d].push(rate);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [v, port] of Object.entries(variants) as [Variant, number][]) {
      await timed(v, port, "send");
      await timed(v, port, "recv");
    }
  }
  const res = {} as Record<Variant, Rates>;
  for (const v of Object.keys(variants) as Variant[]) {
    res[v] = { send: median(got[v].send), recv: median(got[v].recv) };
    console.error(
      `${v}: client -> service ${(res[v].send / 1e6).toFixed(1)} MB/s, service -> client ${(res[v].recv / 1e6).toFixed(1)} MB/s (median of ${ROUNDS}); ` +
        `service CPU ${((cpu[v].send * 1e6) / (bytes[v].send / 1e6)).toFixed(0)} / ${((cpu[v].recv * 1e6) / (bytes[v].recv / 1e6)).toFixed(0)} us per MB, ` +
        `${((100 * cpu[v].send) / (ROUNDS * SECONDS)).toFixed(0)} / ${((100 * cpu[v].recv) / (ROUNDS * SECONDS)).toFixed(0)} % of a CPU`,
    );
  }
  console.log(JSON.stringify(res));
} finally {
  await daemon.stop();
  direct.kill();
  await direct.exited;
}
process.exit(0);
