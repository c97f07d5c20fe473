/**
 * AF_VSOCK for programs on either side of a host-guest channel (Bun's networking has no
 * vsock): connect to a service in a guest, or listen for a guest's connections.
 *
 *   const s = await connectVsock("3:20000");        // CID 3 (a guest), port 20000
 *   await s.write("hello\n");
 *   for await (const chunk of s.readable) ...
 *   s.end();                                         // shutdown(SHUT_WR): the peer sees EOF
 *
 *   const l = listenVsock(20000);                    // any CID
 *   const c = await l.accept();                      // c.peer = { cid, port }
 *
 *   const l = VsockListener.fromListenFds();         // ListenStream=vsock:… with Accept=no
 *
 * Targets are "CID:PORT" with named CIDs as in ListenStream= (hypervisor, local, host). The
 * fds are non-blocking and watched with bunit's fd watcher.
 */
import * as n from "../native.ts";
import { AF_VSOCK, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, F_GETFL, F_SETFL, O_NONBLOCK, SHUT_WR, SO_ACCEPTCONN, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, VMADDR_CID_ANY } from "../sys/constants.ts";
import { isErrno } from "../sys/errno.ts";
import { parseVsockCid } from "../socket/listen-address.ts";
import { listenFds, type ListenFd } from "./listen-fds.ts";

export interface VsockAddress {
  cid: number;
  port: number;
}

export function parseVsockTarget(s: string): VsockAddress {
  const i = s.lastIndexOf(":");
  if (i < 0) throw new Error(`"${s}" is not CID:PORT`);
  const cid = parseVsockCid(s.slice(0, i));
  const port = Number(s.slice(i + 1));
  if (!/^\d+$/.test(s.slice(i + 1)) || port > 0xffffffff) throw new Error(`"${s}": the port must be a number`);
  return { cid, port };
}

/** Waiters per fd: a reader and a writer of one socket wait at the same time. */
const waiters = new Map<number, { events: number; resolve: (revents: number) => void }[]>();

function rearm(fd: number): void {
  const w = n.fdWatcher();
  const list = waiters.get(fd);
  if (!list?.length) {
    waiters.delete(fd);
    w.forget(fd);
    return;
  }
  const mask = list.reduce((m, x) => m | x.events, 0);
  if (w.isWatched(fd)) return w.arm(fd, mask);
  w.watch(fd, mask, (rev) => {
    const all = waiters.get(fd) ?? [];
    const fire = all.filter((x) => rev & (x.events | EPOLLERR | EPOLLHUP));
    waiters.set(fd, all.filter((x) => !fire.includes(x)));
    for (const f of fire) f.resolve(rev);
    rearm(fd);
  });
}

/** Waits until fd reports one of `events` (or an error or hang-up). */
function ready(fd: number, events: number): Promise<number> {
  return new Promise((resolve) => {
    const list = waiters.get(fd) ?? [];
    list.push({ events, resolve });
    waiters.set(fd, list);
    rearm(fd);
  });
}

function forgetFd(fd: number): void {
  waiters.delete(fd);
  n.fdWatcher().forget(fd);
}

/** A connected stream socket: a ReadableStream for input, write()/end() for output. */
export class VsockStream {
  readonly readable: ReadableStream<Uint8Array>;
  private closed = false;

  constructor(
    readonly fd: number,
    readonly peer: VsockAddress | null,
  ) {
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        const buf = new Uint8Array(65536);
        for (;;) {
          if (this.closed) return ctl.close();
          let got: number | null;
          try {
            got = n.recv(this.fd, buf);
          } catch (e) {
            return ctl.error(e);
          }
          if (got === null) {
            await ready(this.fd, EPOLLIN);
            continue;
          }
          if (got === 0) return ctl.close();
          ctl.enqueue(buf.subarray(0, got)); // a fresh buffer per pull: no copy needed
          return;
        }
      },
    });
  }

  async write(data: Uint8Array | string): Promise<void> {
    let b = typeof data === "string" ? new TextEncoder().encode(data) : data;
    while (b.length) {
      try {
        b = b.subarray(n.send(this.fd, b));
      } catch (e) {
        if (!isErrno(e, "EAGAIN")) throw e;
        await ready(this.fd, EPOLLOUT);
      }
    }
  }

  /** No more output (the peer reads EOF); input goes on. */
  end(): void {
    if (!this.closed) n.shutdown(this.fd, SHUT_WR);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    forgetFd(this.fd);
    n.close(this.fd);
  }
}

export async function connectVsock(target: string | VsockAddress, opts: { timeoutMs?: number } = {}): Promise<VsockStream> {
  const a = typeof target === "string" ? parseVsockTarget(target) : target;
  const fd = n.socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  try {
    if (!n.connect(fd, { family: "vsock", cid: a.cid, port: a.port })) {
      const timeout = opts.timeoutMs ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const t = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeout)));
      const r = await Promise.race([ready(fd, EPOLLOUT), t]);
      clearTimeout(timer);
      if (r === "timeout") throw new Error(`connecting to vsock ${a.cid}:${a.port}: timed out after ${timeout} ms`);
      const err = n.getsockoptInt(fd, 1 /* SOL_SOCKET */, 4 /* SO_ERROR */);
      if (err) throw new Error(`connecting to vsock ${a.cid}:${a.port}: ${n.strerror(err)}`);
    }
  } catch (e) {
    forgetFd(fd);
    n.close(fd);
    throw e;
  }
  return new VsockStream(fd, a);
}

export class VsockListener {
  private constructor(readonly fd: number, readonly port: number) {}

  static listen(port: number, cid = VMADDR_CID_ANY, backlog = 128): VsockListener {
    const fd = n.socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    try {
      n.bind(fd, { family: "vsock", cid, port }, `vsock:${cid === VMADDR_CID_ANY ? "" : cid}:${port}`);
      n.listen(fd, backlog);
    } catch (e) {
      n.close(fd);
      throw e;
    }
    return new VsockListener(fd, port);
  }

  /** A listening vsock socket passed by socket activation (bunit or systemd, Accept=no). */
  static fromFd(fd: number): VsockListener {
    const a = n.getsockname(fd);
    if (a?.family !== "vsock") throw new Error(`fd ${fd} is not an AF_VSOCK socket`);
    if (!n.getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN)) throw new Error(`fd ${fd} (vsock port ${a.port}) is not listening (Accept=yes passes a connection, not a listener)`);
    n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
    return new VsockListener(fd, a.port);
  }

  /**
   * The first listening vsock socket in $LISTEN_FDS (named `name` if given). listenFds() unsets
   * LISTEN_*; a service with other fds too passes what it read itself as `fds`.
   */
  static fromListenFds(opts: { name?: string; fds?: ListenFd[] } = {}): VsockListener {
    const fds = opts.fds ?? listenFds();
    const isVsock = (fd: number) => {
      try {
        return n.getsockname(fd)?.family === "vsock";
      } catch {
        return false; // not a socket (a FIFO, a FunctionFS endpoint, ...)
      }
    };
    const mine = fds.find((f) => (!opts.name || f.name === opts.name) && isVsock(f.fd));
    if (!mine) throw new Error(`no vsock socket${opts.name ? ` named ${opts.name}` : ""} in LISTEN_FDS (${fds.map((f) => f.name).join(", ") || "none"})`);
    return VsockListener.fromFd(mine.fd);
  }

  async accept(): Promise<VsockStream> {
    for (;;) {
      const a = n.accept(this.fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (a) return new VsockStream(a.fd, a.peer?.family === "vsock" ? { cid: a.peer.cid, port: a.peer.port } : null);
      await ready(this.fd, EPOLLIN);
    }
  }

  close(): void {
    forgetFd(this.fd);
    n.close(this.fd);
  }
}

export function listenVsock(port: number, cid = VMADDR_CID_ANY): VsockListener {
  return VsockListener.listen(port, cid);
}
