/**
 * The vsock library's own cost per MB, without vsock: a VsockStream over a unix socketpair
 * whose other end is cat(1) (reading /dev/zero into it, or copying it to /dev/null). Prints
 * MB/s and the CPU time of this process per MB, each way. Then the cost of a wait: two streams
 * of this process play ping-pong with one byte over a socketpair, so every read waits once.
 *   bun test/bench/vsock/lib-overhead.ts [chunks|views|readable] [SECONDS]
 */
import * as n from "../../../firmware/native.ts";
import { VsockStream } from "../../../firmware/lib/vsock.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../../../firmware/sys/constants.ts";

const mode = process.argv[2] ?? "views";
const SECONDS = Number(process.argv[3] ?? 2);

function peer(cmd: string, side: "stdin" | "stdout"): { s: VsockStream; p: { kill(): void } } {
  const [a, b] = n.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const p = side === "stdout" ? Bun.spawn(["sh", "-c", cmd], { stdout: b, stdin: "ignore" }) : Bun.spawn(["sh", "-c", cmd], { stdin: b, stdout: "ignore" });
  n.close(b);
  return { s: new VsockStream(a, null), p };
}

function report(what: string, bytes: number, t0: number, c0: NodeJS.CpuUsage): void {
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  console.log(`${what}: ${(bytes / secs / 1e6).toFixed(0)} MB/s, ${((c.user + c.system) / (bytes / 1e6)).toFixed(0)} us CPU per MB`);
}

{
  const { s, p } = peer("exec cat /dev/zero", "stdout");
  const it = mode === "readable" ? s.readable : s.chunks({ views: mode === "views" });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const stop = t0 + SECONDS * 1000;
  let bytes = 0;
  for await (const c of it) {
    bytes += c.length;
    if (performance.now() > stop) break;
  }
  report(`read (${mode})`, bytes, t0, c0);
  p.kill();
  s.close();
}
{
  const { s, p } = peer("exec cat > /dev/null", "stdin");
  const buf = new Uint8Array(65536).fill(0x5a);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const stop = t0 + SECONDS * 1000;
  let bytes = 0;
  while (performance.now() < stop) {
    await s.write(buf);
    bytes += buf.length;
  }
  report("write (64 KiB)", bytes, t0, c0);
  p.kill();
  s.close();
}
{
  const [a, b] = n.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const ping = new VsockStream(a, null);
  const pong = new VsockStream(b, null);
  const rounds = 5000;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const echo = (async () => {
    const one = new Uint8Array(1);
    for (let i = 0; i < rounds; i++) {
      await pong.read(one);
      await pong.write(one);
    }
  })();
  const one = new Uint8Array(1);
  for (let i = 0; i < rounds; i++) {
    await ping.write(one);
    await ping.read(one);
  }
  await echo;
  const c = process.cpuUsage(c0);
  const secs = (performance.now() - t0) / 1000;
  console.log(`ping-pong: ${(rounds / secs) | 0} round trips/s, ${((c.user + c.system) / (2 * rounds)).toFixed(1)} us CPU per wait (with its read and write)`);
  ping.close();
  pong.close();
}
process.exit(0);
