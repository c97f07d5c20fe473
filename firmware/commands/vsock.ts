/**
 * `bunit vsock connect CID:PORT` and `bunit vsock listen [CID:]PORT`: a stdin/stdout bridge to
 * an AF_VSOCK stream, so a host talks to services in a guest (and back) without socat.
 * connect: stdin goes to the peer (EOF on stdin shuts down the sending side), the peer's data
 * goes to stdout; it exits when the peer closes. listen: waits for one connection, prints the
 * peer to stderr, then bridges the same way.
 */
import { connectVsock, listenVsock, parseVsockTarget, type VsockStream } from "../lib/vsock.ts";
import { VMADDR_CID_ANY } from "../sys/constants.ts";

const USAGE = "usage: bunit vsock connect CID:PORT [--timeout MS]\n       bunit vsock listen [CID:]PORT\n";

async function bridge(s: VsockStream): Promise<void> {
  const toPeer = (async () => {
    for await (const chunk of Bun.stdin.stream()) await s.write(chunk);
    s.end();
  })();
  for await (const chunk of s.readable) await Bun.write(Bun.stdout, chunk);
  s.close();
  void toPeer.catch(() => {});
}

export async function runVsock(args: string[]): Promise<number> {
  const [sub, target, ...rest] = args;
  try {
    if (sub === "connect" && target) {
      const t = rest.indexOf("--timeout");
      const s = await connectVsock(target, { timeoutMs: t >= 0 ? Number(rest[t + 1]) : undefined });
      await bridge(s);
      return 0;
    }
    if (sub === "listen" && target) {
      const a = target.includes(":") ? parseVsockTarget(target) : { cid: VMADDR_CID_ANY, port: Number(target) };
      if (!Number.isInteger(a.port) || a.port < 0) throw new Error(`"${target}" is not a port`);
      const l = listenVsock(a.port, a.cid);
      const s = await l.accept();
      l.close();
      process.stderr.write(`bunit vsock: connection from ${s.peer ? `${s.peer.cid}:${s.peer.port}` : "?"}\n`);
      await bridge(s);
      return 0;
    }
  } catch (e) {
    process.stderr.write(`bunit vsock ${sub}: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(USAGE);
  return 2;
}
