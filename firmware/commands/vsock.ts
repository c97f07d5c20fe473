/**
 * `bunit vsock connect CID:PORT` and `bunit vsock listen [CID:]PORT`: a stdin/stdout bridge to
 * an AF_VSOCK stream, so a host talks to services in a guest (and back) without socat.
 * connect: stdin goes to the peer (EOF on stdin shuts down the sending side), the peer's data
 * goes to stdout; it exits when the peer closes. listen: waits for one connection, prints the
 * peer to stderr, then bridges the same way. CID:PORT may be unix:PATH:PORT (a guest behind a
 * vhost-user-vsock back-end's unix socket).
 *
 * `bunit vsock host --vhost-user SOCKET --uds PATH --guest-cid N`: the vhost-user-vsock
 * back-end (firmware/vhost/) for a QEMU guest on a host without /dev/vhost-vsock: QEMU connects
 * to SOCKET; host programs reach guest port P through PATH (`CONNECT P`), and the guest's
 * connections to CID 2 port P reach a listener at PATH_P. Runs until SIGTERM/SIGINT.
 */
import { connectVsock, listenVsock, parseVsockTarget, type VsockStream } from "../lib/vsock.ts";
import { VMADDR_CID_ANY } from "../sys/constants.ts";
import { errorText } from "../core/errors.ts";

const USAGE =
  "usage: bunit vsock connect CID:PORT|unix:PATH:PORT [--timeout MS]\n" +
  "       bunit vsock listen [CID:]PORT\n" +
  "       bunit vsock host --vhost-user SOCKET --uds PATH --guest-cid N [--quiet]\n";

const STATE_ENV = "BUNIT_VSOCK_HOST_STATE";

async function runHost(args: string[]): Promise<number> {
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const vhostUser = opt("--vhost-user");
  const uds = opt("--uds");
  const cid = Number(opt("--guest-cid"));
  if (!vhostUser || !uds || !opt("--guest-cid")) {
    process.stderr.write(USAGE);
    return 2;
  }
  const quiet = args.includes("--quiet");
  const { startVsockHost } = await import("../vhost/vsock-host.ts");
  const n = await import("../native.ts");
  const log = (m: string) => quiet || process.stderr.write(`bunit vsock host: ${m}\n`);
  // After a SIGHUP re-exec, the session comes in the environment with its fds still open.
  const handed = process.env[STATE_ENV];
  delete process.env[STATE_ENV];
  const h = startVsockHost({ vhostUser, uds, guestCid: cid, log }, handed ? JSON.parse(handed) : undefined);
  process.stderr.write(`bunit vsock host: vhost-user on ${vhostUser}, host programs on ${uds}, guest CID ${cid}\n`);
  process.on("SIGHUP", () => {
    // Restart in place (an upgrade): QEMU keeps its vhost-user connection, which it cannot re-open.
    let state: ReturnType<typeof h.handover>;
    try {
      state = h.handover();
    } catch (e) {
      return log(`not restarting: ${errorText(e)}`);
    }
    log("restarting (exec)");
    for (const fd of state.fds) n.setCloexec(fd, false);
    n.execve(process.execPath, [process.execPath, ...process.argv.slice(1)], {
      ...(process.env as Record<string, string>),
      [STATE_ENV]: JSON.stringify(state.state),
    });
  });
  return await new Promise<number>((resolve) => {
    const stop = () => {
      h.close();
      resolve(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

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
    if (sub === "host") return await runHost(args.slice(1));
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
    process.stderr.write(`bunit vsock ${sub}: ${errorText(e)}\n`);
    return 1;
  }
  process.stderr.write(USAGE);
  return 2;
}
