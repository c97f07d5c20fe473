/**
 * AF_VSOCK for programs on either side of a host-guest channel (Bun's networking has no
 * vsock): connect to a service in a guest, or listen for a guest's connections.
 *
 *   const s = await connectVsock("3:20000");        // CID 3 (a guest), port 20000
 *   await s.write("hello\n");
 *   for await (const chunk of s.chunks()) ...       // or s.readable, a ReadableStream
 *   s.end();                                         // shutdown(SHUT_WR): the peer sees EOF
 *
 *   const l = listenVsock(20000);                    // any CID
 *   const c = await l.accept();                      // c.peer = { cid, port }
 *
 *   const l = VsockListener.fromListenFds();         // ListenStream=vsock:… with Accept=no
 *
 * Targets are "CID:PORT" with named CIDs as in ListenStream= (hypervisor, local, host), or
 * "unix:PATH:PORT" for a guest behind a vhost-user-vsock back-end (`bunit vsock host`, or
 * Firecracker / vhost-device-vsock, same convention): the stream connects to the unix socket
 * PATH and asks for the guest's PORT (`CONNECT PORT`, answered `OK HOSTPORT` or `ERR why`);
 * its `via` says so and `peer` is null (the back-end knows the guest's CID, the host program
 * does not). Either way the stream is the same VsockStream. The fds are non-blocking and
 * watched with bunit's fd watcher.
 */
import * as n from "../native.ts";
import {
  AF_UNIX,
  AF_VSOCK,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  F_GETFL,
  F_SETFL,
  O_NONBLOCK,
  SHUT_WR,
  SO_ACCEPTCONN,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  VMADDR_CID_ANY,
} from "../sys/constants.ts";
import { parseVsockCid } from "../unit/listen-address.ts";
import { AioContext } from "../usb/aio.ts";
import { isErrno } from "../sys/errno.ts";
import { listenFds, type ListenFd } from "./listen-fds.ts";
import { parseOkLine } from "../vhost/uds-protocol.ts";

export interface VsockAddress {
  cid: number;
  port: number;
}

/** A guest port reached through a vhost-user-vsock back-end's unix socket. */
export interface UdsVsockTarget {
  uds: string;
  port: number;
}

/** "unix:PATH:PORT" as a UdsVsockTarget, or null when s is not one. */
export function parseUdsTarget(s: string): UdsVsockTarget | null {
  if (!s.startsWith("unix:")) return null;
  const i = s.lastIndexOf(":");
  const uds = s.slice(5, i);
  const port = s.slice(i + 1);
  if (i < 5 || !uds || !/^\d+$/.test(port) || Number(port) > 0xffffffff) throw new Error(`"${s}" is not unix:PATH:PORT`);
  return { uds, port: Number(port) };
}

export function parseVsockTarget(s: string): VsockAddress {
  const i = s.lastIndexOf(":");
  if (i < 0) throw new Error(`"${s}" is not CID:PORT`);
  const cid = parseVsockCid(s.slice(0, i));
  const port = Number(s.slice(i + 1));
  if (!/^\d+$/.test(s.slice(i + 1)) || port > 0xffffffff) throw new Error(`"${s}": the port must be a number`);
  return { cid, port };
}

/**
 * Waiters per fd: a reader and a writer of one socket wait at the same time. An fd stays
 * registered with the watcher (disarmed: its reports are one-shot) until it is closed, so
 * that the next wait costs one re-arm rather than a removal and a new registration.
 */
const waiters = new Map<number, { events: number; resolve: (revents: number) => void }[]>();

function rearm(fd: number): void {
  const w = n.fdWatcher();
  const list = waiters.get(fd);
  if (!list?.length) {
    waiters.delete(fd);
    return;
  }
  let mask = 0;
  for (const x of list) mask |= x.events;
  if (w.isWatched(fd)) return w.arm(fd, mask);
  w.watch(fd, mask, (rev) => {
    const all = waiters.get(fd) ?? [];
    const keep: typeof all = [];
    const fire: typeof all = [];
    for (const x of all) (rev & (x.events | EPOLLERR | EPOLLHUP) ? fire : keep).push(x);
    waiters.set(fd, keep);
    for (const f of fire) f.resolve(rev);
    rearm(fd);
  });
}

/**
 * Readiness through AIO polls (IOCB_CMD_POLL): the kernel signals an eventfd that Bun's event
 * loop reads, so a wait costs one io_submit and no hop through the fd watcher's thread. The
 * watcher serves when polls are not available (no slot free, or a kernel without them).
 */
const POLL_DEPTH = 1024;
let pollCtx: AioContext | null | undefined;
/** The AIO polls pending per fd (their slots), cancelled when the fd is forgotten. */
const polls = new Map<number, Set<number>>();

function aioReady(fd: number, events: number): Promise<number> | null {
  if (pollCtx === undefined) {
    try {
      pollCtx = new AioContext(null, POLL_DEPTH);
    } catch {
      pollCtx = null;
    }
  }
  if (!pollCtx) return null;
  let resolve!: (revents: number) => void;
  const p = new Promise<number>((r) => (resolve = r));
  let mine = polls.get(fd);
  let slot: number;
  try {
    slot = pollCtx.poll(fd, events, (res) => {
      const set = polls.get(fd);
      // Cancelled because the fd was forgotten (closed): the waiter stays waiting, as with the watcher.
      if (!set?.delete(slot)) return;
      if (set.size === 0) polls.delete(fd);
      resolve(res < 0 ? EPOLLERR : res);
    });
  } catch (e) {
    if (isErrno(e, "EINVAL", "ENOSYS")) pollCtx = null; // no IOCB_CMD_POLL in this kernel
    return null;
  }
  if (!mine) polls.set(fd, (mine = new Set()));
  mine.add(slot);
  return p;
}

/** Waits until fd reports one of `events` (or an error or hang-up). */
function ready(fd: number, events: number): Promise<number> {
  return aioReady(fd, events) ?? watcherReady(fd, events);
}

function watcherReady(fd: number, events: number): Promise<number> {
  return new Promise((resolve) => {
    const list = waiters.get(fd);
    if (list) list.push({ events, resolve });
    else waiters.set(fd, [{ events, resolve }]);
    rearm(fd);
  });
}

function forgetFd(fd: number): void {
  const mine = polls.get(fd);
  if (mine) {
    // The polls hold the file: cancel them so that closing fd really closes the socket.
    polls.delete(fd);
    for (const slot of mine) pollCtx?.cancel(slot);
  }
  waiters.delete(fd);
  n.fdWatcher().forget(fd);
}

/** How a stream reads: bytes per recv(), and whether chunks are views of one reused buffer. */
export interface ChunkOptions {
  /** The most bytes one chunk holds (one recv(); 256 KiB by default, vsock's default socket buffer). */
  size?: number;
  /**
   * Yield views of the stream's own buffer instead of copies: a chunk is valid until the loop
   * asks for the next one. Saves a copy per chunk for consumers that use each chunk at once.
   */
  views?: boolean;
}

const CHUNK = 262144;

/**
 * A connected stream socket: chunks() (or the ReadableStream readable) for input, write()/end()
 * for output. Each recv() takes up to 256 KiB, what the socket holds; a chunk is a copy of
 * exactly what arrived (or, with views, a view of the stream's buffer).
 */
export class VsockStream {
  private closed = false;
  private stream: ReadableStream<Uint8Array> | null = null;
  private scratch: Uint8Array | null = null;

  constructor(
    readonly fd: number,
    readonly peer: VsockAddress | null,
    /** Set when the stream goes through a vhost-user-vsock back-end's unix socket. */
    readonly via: { uds: string; hostPort: number } | null = null,
  ) {}

  /** The input as a ReadableStream (made on first use); chunks() is the cheaper way to read. */
  get readable(): ReadableStream<Uint8Array> {
    if (this.stream) return this.stream;
    const it = this.chunks();
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        try {
          const r = await it.next();
          if (r.done) ctl.close();
          else ctl.enqueue(r.value);
        } catch (e) {
          ctl.error(e);
        }
      },
      cancel: async () => void (await it.return(undefined)),
    });
    return this.stream;
  }

  /**
   * Reads into buf: resolves with the byte count, 0 at end of input (or once closed). Waits
   * when nothing has arrived.
   */
  async read(buf: Uint8Array): Promise<number> {
    for (;;) {
      if (this.closed) return 0;
      const got = n.recv(this.fd, buf);
      if (got !== null) return got;
      await ready(this.fd, EPOLLIN);
    }
  }

  /** The input, chunk by chunk, until the peer ends it (see ChunkOptions). */
  async *chunks(opts: ChunkOptions = {}): AsyncGenerator<Uint8Array> {
    const size = opts.size ?? CHUNK;
    // One buffer per stream for copies (the copy is what leaves); a reader of views owns its own.
    let buf: Uint8Array;
    if (opts.views) buf = new Uint8Array(size);
    else buf = this.scratch?.length === size ? this.scratch : (this.scratch = new Uint8Array(size));
    for (;;) {
      if (this.closed) return;
      const got = n.recv(this.fd, buf);
      if (got === null) {
        await ready(this.fd, EPOLLIN);
        continue;
      }
      if (got === 0) return;
      yield opts.views ? buf.subarray(0, got) : buf.slice(0, got);
    }
  }

  /** Writes all of data, waiting for room as often as needed. */
  async write(data: Uint8Array | string): Promise<void> {
    let b = typeof data === "string" ? new TextEncoder().encode(data) : data;
    while (b.length) {
      // write(2) on a socket is send(2) without flags; it says EAGAIN with null, not an exception.
      const sent = n.write(this.fd, b);
      if (sent !== null) b = b.subarray(sent);
      // A short write means the socket is full: wait for room rather than be told EAGAIN.
      if (b.length) await ready(this.fd, EPOLLOUT);
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

export async function connectVsock(target: string | VsockAddress | UdsVsockTarget, opts: { timeoutMs?: number } = {}): Promise<VsockStream> {
  const u = typeof target === "string" ? parseUdsTarget(target) : "uds" in target ? target : null;
  if (u) return connectUds(u, opts.timeoutMs ?? 10_000);
  const a = typeof target === "string" ? parseVsockTarget(target) : (target as VsockAddress);
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

/** Resolves with "timeout" after ms unless cancelled. */
function deadline(ms: number): { p: Promise<"timeout">; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const p = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  return { p, cancel: () => clearTimeout(timer) };
}

/** The unix-socket transport: CONNECT PORT, then the OK line, then the stream. */
async function connectUds(t: UdsVsockTarget, timeoutMs: number): Promise<VsockStream> {
  const what = `vsock port ${t.port} through ${t.uds}`;
  const fd = n.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const d = deadline(timeoutMs);
  try {
    if (!n.connect(fd, { family: "unix", path: t.uds, abstract: false })) await ready(fd, EPOLLOUT);
    const req = new TextEncoder().encode(`CONNECT ${t.port}\n`);
    if (n.send(fd, req) !== req.length) throw new Error("the request did not fit the socket buffer");
    // Read the answer byte by byte up to its newline: what follows is the guest's data.
    const line = new Uint8Array(64);
    let len = 0;
    for (;;) {
      const got = n.recv(fd, line.subarray(len, len + 1));
      if (got === null) {
        const r = await Promise.race([ready(fd, EPOLLIN), d.p]);
        if (r === "timeout") throw new Error(`timed out after ${timeoutMs} ms`);
        continue;
      }
      if (got === 0) throw new Error("the back-end closed the connection (no guest listener, or the guest is not up)");
      len++;
      const ok = parseOkLine(line.subarray(0, len));
      if (!ok) continue;
      if ("error" in ok) throw new Error(ok.error);
      return new VsockStream(fd, null, { uds: t.uds, hostPort: ok.hostPort });
    }
  } catch (e) {
    forgetFd(fd);
    n.close(fd);
    throw new Error(`connecting to ${what}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    d.cancel();
  }
}

export class VsockListener {
  private constructor(
    readonly fd: number,
    readonly port: number,
  ) {}

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
    if (!n.getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN))
      throw new Error(`fd ${fd} (vsock port ${a.port}) is not listening (Accept=yes passes a connection, not a listener)`);
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
