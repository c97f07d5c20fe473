/**
 * The host end of virtio-vsock, pure: the connection table keyed by (guest port, host port),
 * the stream state machine (REQUEST/RESPONSE/RW/SHUTDOWN/RST) and credit-based flow control in
 * both directions. The virtqueues hand packets from the guest to fromGuest() and ask fillRx()
 * for the next packet to the guest; the host side (unix sockets, or a fake in tests) is the
 * HostSide interface, called for every effect.
 *
 * Credit: we advertise bufAlloc bytes and count in fwdCnt what the host side has taken; the
 * guest sends no more than bufAlloc - (its tx count - our last announced fwdCnt). Every packet
 * to the guest carries fwdCnt; a CREDIT_UPDATE goes out when a quarter of the buffer was freed
 * since the last announcement, or on CREDIT_REQUEST. Towards the guest we send at most
 * peerBufAlloc - (txCnt - peerFwdCnt) bytes and read from the host socket only then.
 */
import { encodeHeader, HDR_SIZE, HOST_CID, Op, opName, type PacketHeader, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM } from "./vsock-packet.ts";

export type ConnState = "connecting-out" | "connecting-in" | "established" | "closed";

export class VsockConn {
  state: ConnState;
  /** Guest to host: bytes copied out of the tx queue, waiting for the host socket. */
  toHost: Uint8Array[] = [];
  toHostBytes = 0;
  fwdCnt = 0;
  lastAnnouncedFwd = 0;
  creditQueued = false;
  /** Host to guest. */
  txCnt = 0;
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** The host socket may have data (cleared when a read finds none; the host side sets it again). */
  hostReadable = false;
  hostEof = false;
  guestShutSend = false;
  guestShutRecv = false;
  /** After toHost drains: shut the host socket's sending side (guest SHUTDOWN SEND) or close it. */
  afterFlush: "none" | "shutdown" | "close" = "none";
  /** Free for the host side (its fd, handshake state). */
  hostData: unknown = null;

  constructor(
    readonly guestPort: number,
    readonly hostPort: number,
    state: ConnState,
  ) {
    this.state = state;
  }

  get key(): string {
    return `${this.guestPort}:${this.hostPort}`;
  }

  /** Bytes the guest can still take from us. */
  credit(): number {
    return Math.max(0, this.peerBufAlloc - ((this.txCnt - this.peerFwdCnt) >>> 0));
  }
}

export interface HostSide {
  /** The guest connects to host port conn.hostPort; answer with mux.hostConnected(conn, ok). */
  connect(conn: VsockConn): void;
  /** The guest accepted a connection the host side asked for (connectFromHost). */
  established(conn: VsockConn): void;
  /** Reads up to buf.length bytes from the host socket: > 0 read, 0 end of stream, null none now. */
  read(conn: VsockConn, buf: Uint8Array): number | null;
  /** conn.hostReadable was cleared: tell the mux (hostReadable()) when data comes. */
  watchRead(conn: VsockConn): void;
  /** conn.toHost has data: send it, calling mux.forwarded() for what went out. */
  flush(conn: VsockConn): void;
  /** The connection is gone (RST or refused): close the host socket (after flushing if conn.afterFlush says so). */
  close(conn: VsockConn, why: string): void;
  /** Something can go to the guest now: fill the rx queue. */
  wake(): void;
  log?(msg: string): void;
}

interface Ctl {
  guestPort: number;
  hostPort: number;
  op: number;
  flags: number;
  conn: VsockConn | null;
}

export interface MuxOptions {
  guestCid: number;
  /** Our receive buffer per connection (buf_alloc). */
  bufAlloc?: number;
  /** First host port handed to host-initiated connections. */
  firstLocalPort?: number;
}

export class VsockMux {
  readonly conns = new Map<string, VsockConn>();
  readonly guestCid: number;
  readonly bufAlloc: number;
  private readonly ctl: Ctl[] = [];
  private readonly ready = new Set<VsockConn>();
  private nextLocalPort: number;
  private readonly firstLocalPort: number;
  private readonly hdr = new Uint8Array(HDR_SIZE);

  constructor(
    private readonly host: HostSide,
    opts: MuxOptions,
  ) {
    this.guestCid = opts.guestCid;
    this.bufAlloc = opts.bufAlloc ?? 256 * 1024;
    this.firstLocalPort = opts.firstLocalPort ?? 0x4000_0000;
    this.nextLocalPort = this.firstLocalPort;
  }

  // ---- from the guest (tx queue) -------------------------------------------------------------

  fromGuest(h: PacketHeader, payload: Uint8Array): void {
    if (h.srcCid !== this.guestCid) return this.host.log?.(`vsock: dropped ${opName(h.op)} from CID ${h.srcCid} (the guest is ${this.guestCid})`);
    if (h.dstCid !== HOST_CID || h.type !== TYPE_STREAM) {
      if (h.op !== Op.RST) this.queueCtl({ guestPort: h.srcPort, hostPort: h.dstPort, op: Op.RST, flags: 0, conn: null });
      return;
    }
    const conn = this.conns.get(`${h.srcPort}:${h.dstPort}`);
    if (!conn) {
      if (h.op === Op.REQUEST) {
        const c = new VsockConn(h.srcPort, h.dstPort, "connecting-in");
        this.updatePeer(c, h);
        this.conns.set(c.key, c);
        this.host.connect(c);
      } else if (h.op !== Op.RST) {
        this.queueCtl({ guestPort: h.srcPort, hostPort: h.dstPort, op: Op.RST, flags: 0, conn: null });
      }
      return;
    }
    this.updatePeer(conn, h);
    switch (h.op) {
      case Op.RESPONSE:
        if (conn.state !== "connecting-out") return this.reset(conn, "RESPONSE on a connection not being opened");
        conn.state = "established";
        this.host.established(conn);
        return this.markReady(conn);
      case Op.RW: {
        if (conn.state !== "established" || conn.guestShutSend) return this.reset(conn, "data on a connection that is not open for it");
        const n = Math.min(h.len, payload.length);
        if (!n) return;
        if (conn.toHostBytes + n > 2 * this.bufAlloc) return this.reset(conn, "the guest sent beyond its credit");
        conn.toHost.push(payload.slice(0, n));
        conn.toHostBytes += n;
        return this.host.flush(conn);
      }
      case Op.CREDIT_UPDATE:
        return this.markReady(conn);
      case Op.CREDIT_REQUEST:
        return this.queueCredit(conn);
      case Op.SHUTDOWN:
        if (h.flags & SHUTDOWN_SEND) conn.guestShutSend = true;
        if (h.flags & SHUTDOWN_RCV) conn.guestShutRecv = true;
        if (conn.guestShutSend && conn.guestShutRecv) {
          // The guest closed: what it sent still reaches the host socket, then it is closed.
          conn.afterFlush = "close";
          this.queueCtl({ guestPort: conn.guestPort, hostPort: conn.hostPort, op: Op.RST, flags: 0, conn: null });
          this.drop(conn, "the guest closed");
        } else if (conn.guestShutSend) {
          conn.afterFlush = "shutdown";
          this.host.flush(conn);
        }
        return;
      case Op.RST:
        return this.drop(conn, "reset by the guest");
      default:
        return this.reset(conn, `unexpected ${opName(h.op)}`);
    }
  }

  private updatePeer(c: VsockConn, h: PacketHeader): void {
    c.peerBufAlloc = h.bufAlloc;
    c.peerFwdCnt = h.fwdCnt;
  }

  // ---- from the host side ----------------------------------------------------------------------

  /**
   * The next host port for host-initiated connections. A successor process continues from it:
   * the guest may still hold a reset connection on an old port until its program closes it, and
   * a REQUEST from the same port would be refused.
   */
  get localPortCursor(): number {
    return this.nextLocalPort;
  }
  set localPortCursor(port: number) {
    this.nextLocalPort = port >= this.firstLocalPort && port <= 0xffff_fffe ? port : this.firstLocalPort;
  }

  /** A host program asks for the guest's port: REQUEST goes out, established() or close() follow. */
  connectFromHost(guestPort: number): VsockConn {
    let port = this.nextLocalPort;
    while (this.conns.has(`${guestPort}:${port}`)) port = port >= 0xffff_fffe ? this.firstLocalPort : port + 1;
    this.nextLocalPort = port >= 0xffff_fffe ? this.firstLocalPort : port + 1;
    const c = new VsockConn(guestPort, port, "connecting-out");
    this.conns.set(c.key, c);
    this.queueCtl({ guestPort, hostPort: port, op: Op.REQUEST, flags: 0, conn: c });
    return c;
  }

  /** The host side's answer to connect(). */
  hostConnected(conn: VsockConn, ok: boolean): void {
    if (conn.state !== "connecting-in") return;
    if (!ok) return this.reset(conn, `nothing listens on host port ${conn.hostPort}`);
    conn.state = "established";
    this.queueCtl({ guestPort: conn.guestPort, hostPort: conn.hostPort, op: Op.RESPONSE, flags: 0, conn });
    this.markReady(conn);
  }

  /** The host socket has data again. */
  hostReadable(conn: VsockConn): void {
    conn.hostReadable = true;
    this.markReady(conn);
  }

  /** n bytes of conn.toHost went out to the host socket (the host side removed them). */
  forwarded(conn: VsockConn, n: number): void {
    conn.fwdCnt = (conn.fwdCnt + n) >>> 0;
    conn.toHostBytes -= n;
    if (conn.state === "established" && (conn.fwdCnt - conn.lastAnnouncedFwd) >>> 0 >= this.bufAlloc / 4) this.queueCredit(conn);
  }

  /** The host socket failed or was closed under us: the guest gets RST. */
  hostFailed(conn: VsockConn, why: string): void {
    if (conn.state !== "closed") this.reset(conn, why);
  }

  /** Every connection is reset, the guest told with RST (the device goes on, e.g. after an exec). */
  resetAllWithRst(why: string): void {
    for (const c of [...this.conns.values()]) this.reset(c, why);
  }

  /** Every connection ends (the device stopped or the front-end went away). */
  resetAll(why: string): void {
    for (const c of [...this.conns.values()]) this.drop(c, why);
    this.ctl.length = 0;
  }

  // ---- to the guest (rx queue) -------------------------------------------------------------------

  /** Whether fillRx() may have something. */
  hasRxWork(): boolean {
    return this.ctl.length > 0 || this.ready.size > 0;
  }

  /**
   * Writes the next packet into a chain's writable buffers; returns its length (header and
   * payload) or 0 when there is nothing to send.
   */
  fillRx(writable: Uint8Array[]): number {
    const c = this.ctl.shift();
    if (c) {
      if (c.conn) {
        c.conn.lastAnnouncedFwd = c.conn.fwdCnt;
        if (c.op === Op.CREDIT_UPDATE) c.conn.creditQueued = false;
      }
      this.writeHeader(writable, c.guestPort, c.hostPort, c.op, c.flags, 0, c.conn);
      return HDR_SIZE;
    }
    const area = payloadArea(writable);
    if (!area) return 0;
    for (const conn of this.ready) {
      if (conn.state !== "established" || !conn.hostReadable || conn.hostEof || conn.guestShutRecv) {
        this.ready.delete(conn);
        continue;
      }
      const credit = conn.credit();
      if (!credit) {
        this.ready.delete(conn); // a CREDIT_UPDATE from the guest marks it again
        continue;
      }
      const got = this.host.read(conn, area.subarray(0, Math.min(credit, area.length)));
      if (got === null) {
        conn.hostReadable = false;
        this.ready.delete(conn);
        this.host.watchRead(conn);
        continue;
      }
      // Round robin: the next fill starts with another connection.
      this.ready.delete(conn);
      if (got === 0) {
        conn.hostEof = true;
        conn.lastAnnouncedFwd = conn.fwdCnt;
        this.writeHeader(writable, conn.guestPort, conn.hostPort, Op.SHUTDOWN, SHUTDOWN_SEND, 0, conn);
        return HDR_SIZE;
      }
      this.ready.add(conn);
      conn.txCnt = (conn.txCnt + got) >>> 0;
      conn.lastAnnouncedFwd = conn.fwdCnt;
      this.writeHeader(writable, conn.guestPort, conn.hostPort, Op.RW, 0, got, conn);
      return HDR_SIZE + got;
    }
    return 0;
  }

  private writeHeader(writable: Uint8Array[], guestPort: number, hostPort: number, op: number, flags: number, len: number, conn: VsockConn | null): void {
    encodeHeader(
      {
        srcCid: HOST_CID,
        dstCid: this.guestCid,
        srcPort: hostPort,
        dstPort: guestPort,
        len,
        type: TYPE_STREAM,
        op,
        flags,
        bufAlloc: this.bufAlloc,
        fwdCnt: conn?.fwdCnt ?? 0,
      },
      this.hdr,
    );
    let o = 0;
    for (const b of writable) {
      const n = Math.min(b.length, HDR_SIZE - o);
      b.set(this.hdr.subarray(o, o + n));
      o += n;
      if (o === HDR_SIZE) break;
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  private markReady(conn: VsockConn): void {
    if (conn.state === "established" && conn.hostReadable && !conn.hostEof) {
      this.ready.add(conn);
      this.host.wake();
    }
  }

  private queueCredit(conn: VsockConn): void {
    if (conn.creditQueued || conn.state === "closed") return;
    conn.creditQueued = true;
    this.queueCtl({ guestPort: conn.guestPort, hostPort: conn.hostPort, op: Op.CREDIT_UPDATE, flags: 0, conn });
  }

  private queueCtl(c: Ctl): void {
    this.ctl.push(c);
    this.host.wake();
  }

  /** RST to the guest and the connection ends. */
  private reset(conn: VsockConn, why: string): void {
    this.queueCtl({ guestPort: conn.guestPort, hostPort: conn.hostPort, op: Op.RST, flags: 0, conn: null });
    this.drop(conn, why);
  }

  private drop(conn: VsockConn, why: string): void {
    if (conn.state === "closed") return;
    conn.state = "closed";
    this.conns.delete(conn.key);
    this.ready.delete(conn);
    for (let i = this.ctl.length - 1; i >= 0; i--) if (this.ctl[i]!.conn === conn) this.ctl.splice(i, 1);
    this.host.close(conn, why);
  }
}

/** The contiguous writable space for a payload after the 44-byte header, or null. */
export function payloadArea(writable: Uint8Array[]): Uint8Array | null {
  let skip = HDR_SIZE;
  for (const b of writable) {
    if (skip < b.length) return b.subarray(skip);
    skip -= b.length;
  }
  return null;
}
