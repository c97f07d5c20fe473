/**
 * The host side of the vsock back-end as unix stream sockets (see uds-protocol.ts): it listens
 * at PATH for host programs, and connects to PATH_<port> for the guest's connections to the
 * host. Implements the mux's HostSide: every fd is non-blocking and watched through FdWatch.
 */
import { listenUnix } from "./listen-unix.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import { AF_UNIX, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, MSG_PEEK, SHUT_WR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET } from "../sys/constants.ts";
import { isErrno } from "../sys/errno.ts";
import { hostListenerPath, MAX_LINE, parseConnectLine } from "./uds-protocol.ts";
import type { HostSide, VsockConn, VsockMux } from "./vsock-mux.ts";

const SO_ERROR = 4;

interface Entry {
  fd: number;
  conn: VsockConn;
  wantRead: boolean;
  wantWrite: boolean;
  /** Announced to the host program (OK written) or connected for the guest. */
  open: boolean;
  shutWr: boolean;
  closed: boolean;
}

const entryOf = (c: VsockConn) => c.hostData as Entry | null;

export class UnixHostSide implements HostSide {
  mux!: VsockMux;
  /** Called when the rx queue should be filled. */
  onWake: () => void = () => {};
  private listenFd = -1;
  private readonly handshakes = new Set<number>();
  private readonly entries = new Set<Entry>();
  /** Host programs refused at the handshake (for status and tests). */
  refused = 0;
  /** How long a host program's CONNECT waits for the guest's answer. */
  connectTimeoutMs = 10_000;

  constructor(
    readonly path: string,
    private readonly watch: FdWatch,
    readonly log: (msg: string) => void = () => {},
  ) {}

  /** Binds PATH (a stale socket file is replaced) and starts accepting host programs. */
  listen(): void {
    const fd = listenUnix(this.path, 128);
    this.adopt(fd);
  }

  /** Closes every host socket but hands the listening one over (for the next process image). */
  handover(): number {
    const fd = this.listenFd;
    if (fd >= 0) this.watch.forget(fd);
    this.listenFd = -1;
    this.stop();
    return fd;
  }

  /** The listening socket (-1 when not listening). */
  get listeningFd(): number {
    return this.listenFd;
  }

  /** Listens on a socket from handover(). */
  adopt(fd: number): void {
    this.listenFd = fd;
    this.watch.watch(fd, EPOLLIN, () => {
      for (let a = n.accept(fd, SOCK_NONBLOCK | SOCK_CLOEXEC); a; a = n.accept(fd, SOCK_NONBLOCK | SOCK_CLOEXEC)) this.handshake(a.fd);
      this.watch.arm(fd, EPOLLIN);
    });
  }

  /** Stops listening and closes every host socket. */
  stop(): void {
    if (this.listenFd >= 0) {
      this.watch.forget(this.listenFd);
      n.close(this.listenFd);
      this.listenFd = -1;
    }
    for (const fd of this.handshakes) this.closeFd(fd);
    this.handshakes.clear();
    for (const e of [...this.entries]) this.finish(e);
  }

  get connectionCount(): number {
    return this.entries.size;
  }

  private closeFd(fd: number): void {
    this.watch.forget(fd);
    n.close(fd);
  }

  private handshake(fd: number): void {
    this.handshakes.add(fd);
    const buf = new Uint8Array(MAX_LINE);
    const fail = (why: string) => {
      this.refused++;
      this.log(`vsock host: refused a host program: ${why}`);
      try {
        n.send(fd, new TextEncoder().encode(`ERR ${why}\n`));
      } catch {
        /* it went away */
      }
      this.handshakes.delete(fd);
      this.closeFd(fd);
    };
    this.watch.watch(fd, EPOLLIN, () => {
      let got: number | null;
      try {
        got = n.recv(fd, buf, MSG_PEEK);
      } catch (e) {
        return fail(errorText(e));
      }
      if (got === null) return this.watch.arm(fd, EPOLLIN);
      if (got === 0) {
        this.handshakes.delete(fd);
        return this.closeFd(fd);
      }
      const line = parseConnectLine(buf.subarray(0, got));
      if (!line) return this.watch.arm(fd, EPOLLIN);
      if ("error" in line) return fail(line.error);
      n.recv(fd, buf.subarray(0, line.consumed)); // consume exactly the line; data after it stays queued
      this.handshakes.delete(fd);
      this.watch.forget(fd);
      const conn = this.mux.connectFromHost(line.port);
      const e = this.track(fd, conn, false);
      // A guest that is not up (or whose rings are not running) never answers the REQUEST.
      const t = setTimeout(() => {
        if (!e.open && !e.closed) this.mux.hostFailed(conn, `the guest did not answer within ${this.connectTimeoutMs} ms`);
      }, this.connectTimeoutMs);
      t.unref?.();
    });
  }

  private track(fd: number, conn: VsockConn, open: boolean): Entry {
    const e: Entry = { fd, conn, wantRead: false, wantWrite: false, open, shutWr: false, closed: false };
    conn.hostData = e;
    this.entries.add(e);
    this.watch.watch(fd, 0, (rev) => this.onReady(e, rev));
    return e;
  }

  private onReady(e: Entry, rev: number): void {
    if (e.closed) return;
    if (e.wantRead && rev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      e.wantRead = false;
      this.mux.hostReadable(e.conn);
    }
    if (e.wantWrite && rev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      e.wantWrite = false;
      this.flush(e.conn);
    }
    this.rearm(e);
  }

  private rearm(e: Entry): void {
    if (e.closed) return;
    const mask = (e.wantRead ? EPOLLIN : 0) | (e.wantWrite ? EPOLLOUT : 0);
    if (mask) this.watch.arm(e.fd, mask);
  }

  // ---- HostSide ----------------------------------------------------------------------------

  connect(conn: VsockConn): void {
    const path = hostListenerPath(this.path, conn.hostPort);
    let fd = -1;
    try {
      fd = n.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
      const done = n.connect(fd, { family: "unix", path, abstract: false });
      const e = this.track(fd, conn, true);
      if (done) {
        queueMicrotask(() => this.connected(e, true));
      } else {
        this.watch.watch(fd, EPOLLOUT, () => {
          const err = n.getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
          this.watch.watch(fd, 0, (rev) => this.onReady(e, rev));
          this.connected(e, err === 0);
        });
      }
    } catch (err) {
      this.log(`vsock host: the guest's connection to host port ${conn.hostPort} (${path}): ${errorText(err)}`);
      if (fd >= 0 && !conn.hostData) n.close(fd);
      queueMicrotask(() => this.mux.hostConnected(conn, false));
    }
  }

  private connected(e: Entry, ok: boolean): void {
    this.mux.hostConnected(e.conn, ok);
    if (ok && !e.closed) this.mux.hostReadable(e.conn);
  }

  established(conn: VsockConn): void {
    const e = entryOf(conn);
    if (!e) return;
    e.open = true;
    try {
      n.send(e.fd, new TextEncoder().encode(`OK ${conn.hostPort}\n`));
    } catch (err) {
      return this.mux.hostFailed(conn, `answering the host program: ${errorText(err)}`);
    }
    this.mux.hostReadable(conn);
  }

  read(conn: VsockConn, buf: Uint8Array): number | null {
    const e = entryOf(conn);
    if (!e || e.closed) return 0;
    try {
      return n.recv(e.fd, buf);
    } catch (err) {
      queueMicrotask(() => this.mux.hostFailed(conn, `reading the host socket: ${errorText(err)}`));
      return null;
    }
  }

  watchRead(conn: VsockConn): void {
    const e = entryOf(conn);
    if (!e || e.closed || e.wantRead) return;
    e.wantRead = true;
    this.rearm(e);
  }

  flush(conn: VsockConn): void {
    const e = entryOf(conn);
    if (!e || e.closed) return;
    while (conn.toHost.length) {
      const b = conn.toHost[0]!;
      let sent: number;
      try {
        sent = n.send(e.fd, b);
      } catch (err) {
        if (isErrno(err, "EAGAIN")) {
          if (!e.wantWrite) {
            e.wantWrite = true;
            this.rearm(e);
          }
          return;
        }
        conn.toHost.length = 0;
        this.mux.hostFailed(conn, `writing the host socket: ${errorText(err)}`);
        if (conn.state === "closed") this.finish(e);
        return;
      }
      if (sent < b.length) conn.toHost[0] = b.subarray(sent);
      else conn.toHost.shift();
      this.mux.forwarded(conn, sent);
    }
    if (conn.afterFlush === "close" || conn.state === "closed") return this.finish(e);
    if (conn.afterFlush === "shutdown" && !e.shutWr) {
      e.shutWr = true;
      try {
        n.shutdown(e.fd, SHUT_WR);
      } catch {
        /* the peer is gone: a later read or write reports it */
      }
    }
  }

  close(conn: VsockConn, why: string): void {
    const e = entryOf(conn);
    if (!e || e.closed) return;
    if (!e.open) {
      this.log(`vsock host: connection to guest port ${conn.guestPort}: ${why}`);
      try {
        n.send(e.fd, new TextEncoder().encode(`ERR ${why}\n`));
      } catch {
        /* gone */
      }
    }
    if (conn.toHost.length && conn.afterFlush === "close") return this.flush(conn); // finishes when drained
    this.finish(e);
  }

  private finish(e: Entry): void {
    if (e.closed) return;
    e.closed = true;
    this.entries.delete(e);
    this.closeFd(e.fd);
  }

  wake(): void {
    this.onWake();
  }
}
