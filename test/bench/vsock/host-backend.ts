/**
 * Host<->guest vsock throughput through bunit's vhost-user back-end (`bunit vsock host`), run
 * on the HOST by test/bench/run.ts against a guest booted with `vsock: "vhost-user"`. A bunit
 * daemon in the guest activates test/guest/vsock-stream-service.ts (Accept=no; "SEND N" /
 * "RECV N", the guest hashing what it receives); the host streams MIB MiB each way through
 * the back-end's unix socket, then the same exchanges run inside the guest over loopback
 * (CID 1, `vsock-stream-service.ts loopback-client`) in the same boot, for the ratio.
 * Returns MiB/s: { backend: {toGuest, fromGuest}, loopback: {toGuest, fromGuest} } where
 * "toGuest" is client -> service and "fromGuest" service -> client.
 */
import type { Guest } from "../../../scripts/lib/qemu.ts";
import { connectVsock, type VsockStream } from "../../../firmware/lib/vsock.ts";
import { streamPattern } from "../../guest/vsock-stream-service.ts";

const MiB = 1 << 20;
// Ports >= 20000, apart from throughput.ts's 20100-20102.
const PORT = 20310;
const UNITS = "/tmp/bench-vhost-units";

export interface Directions {
  toGuest: number;
  fromGuest: number;
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** CPU seconds (user + system) used so far by process pid, from /proc/PID/stat. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const f = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Runs f, and says on stderr where the CPU went meanwhile: QEMU (the guest), the back-end, this client. */
async function profiled<T>(guest: Guest, what: string, f: () => Promise<T>): Promise<T> {
  const pids = [guest.proc.pid, guest.vsockBackend?.proc?.pid];
  const before = await Promise.all(pids.map(cpuSeconds));
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const wall = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const after = await Promise.all(pids.map(cpuSeconds));
  const [qemu, backend] = after.map((a, i) => a - before[i]!);
  process.stderr.write(
    `vsock vhost-user ${what}: ${wall.toFixed(1)} s wall; CPU: QEMU ${qemu!.toFixed(1)} s, back-end ${backend!.toFixed(1)} s, host client ${((self.user + self.system) / 1e6).toFixed(1)} s\n`,
  );
  return r;
}

async function connect(guest: Guest): Promise<VsockStream> {
  return connectVsock(`unix:${guest.vsockUds}:${PORT}`, { timeoutMs: 30_000 });
}

/** The service writes mib MiB to the host; MiB/s from the first byte to the last. */
async function fromGuest(guest: Guest, mib: number): Promise<number> {
  const s = await connect(guest);
  await s.write(`SEND ${mib * MiB}\n`);
  let got = 0;
  let t0 = 0;
  for await (const c of s.readable) {
    if (!t0) t0 = performance.now();
    got += c.length;
    if (got >= mib * MiB) break;
  }
  const ms = performance.now() - t0;
  s.end();
  s.close();
  if (got !== mib * MiB) throw new Error(`guest -> host: got ${got} of ${mib * MiB} bytes`);
  return (mib * 1000) / ms;
}

/** The host writes mib MiB to the service, which answers with their sha256 once it has them all. */
async function toGuest(guest: Guest, mib: number): Promise<number> {
  const chunk = streamPattern();
  const chunks = Array.from({ length: mib }, (_, k) => chunk(k));
  const expected = new Bun.CryptoHasher("sha256");
  for (const c of chunks) expected.update(c);
  const want = `sha256 ${expected.digest("hex")} ${mib * MiB}\n`;
  const s = await connect(guest);
  await s.write(`RECV ${mib * MiB}\n`);
  const t0 = performance.now();
  for (const c of chunks) await s.write(c);
  s.end();
  const parts: Uint8Array[] = [];
  for await (const c of s.readable) parts.push(c);
  const ms = performance.now() - t0;
  s.close();
  const answer = new TextDecoder().decode(Buffer.concat(parts));
  if (answer !== want) throw new Error(`host -> guest: the service answered ${JSON.stringify(answer)}, expected ${JSON.stringify(want)}`);
  return (mib * 1000) / ms;
}

export async function vhostUserThroughput(guest: Guest, mib: number): Promise<{ backend: Directions; loopback: Directions }> {
  if (!guest.vsockUds) throw new Error('the guest has no vhost-user vsock back-end (boot it with vsock: "vhost-user")');
  await guest.sh(`mkdir -p ${UNITS}`);
  await guest.write(`${UNITS}/bvstream.socket`, `[Socket]\nListenStream=vsock::${PORT}\nFileDescriptorName=stream\n[Install]\nWantedBy=sockets.target\n`);
  await guest.write(`${UNITS}/bvstream.service`, "[Service]\nExecStart=/usr/bin/bun /opt/bunit/test/guest/vsock-stream-service.ts\n");
  await guest.sh(
    `setsid /usr/bin/bun /usr/lib/bunit/firmware/cli.ts daemon --units ${UNITS} --control ${UNITS}.control/control > /tmp/bench-vhost-daemon.log 2>&1 < /dev/null & echo $! > /tmp/bench-vhost-daemon.pid`,
  );
  try {
    await waitFor(
      "the guest's daemon to reach default.target",
      async () => (await guest.sh("cat /tmp/bench-vhost-daemon.log")).includes("Reached default.target"),
      60_000,
    );
    // A small warm-up activates the service (and loads its code) outside the timed runs.
    await fromGuest(guest, 1);
    const backend = {
      fromGuest: await profiled(guest, "guest -> host", () => fromGuest(guest, mib)),
      toGuest: await profiled(guest, "host -> guest", () => toGuest(guest, mib)),
    };
    const out = await guest.sh(`/usr/bin/bun /opt/bunit/test/guest/vsock-stream-service.ts loopback-client ${PORT} ${mib}`, { timeoutMs: 600_000 });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { recvMiBps: number; sendMiBps: number };
    const loopback = { fromGuest: r.recvMiBps, toGuest: r.sendMiBps };
    process.stderr.write(
      `vsock vhost-user: back-end host -> guest ${backend.toGuest.toFixed(1)} MiB/s, guest -> host ${backend.fromGuest.toFixed(1)} MiB/s; loopback client -> service ${loopback.toGuest.toFixed(1)}, service -> client ${loopback.fromGuest.toFixed(1)} MiB/s (${mib} MiB each)\n`,
    );
    return { backend, loopback };
  } finally {
    await guest.sh(`kill $(cat /tmp/bench-vhost-daemon.pid) 2>/dev/null; true`);
  }
}
