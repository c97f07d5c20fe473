/** The vsock connection table and credit logic against a fake host side. */
import { describe, expect, test } from "bun:test";
import { decodeHeader, encodeHeader, HDR_SIZE, HOST_CID, Op, type PacketHeader, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM } from "./vsock-packet.ts";
import { type HostSide, type VsockConn, VsockMux } from "./vsock-mux.ts";

const GUEST = 7;

class FakeHost implements HostSide {
  connects: VsockConn[] = [];
  established_: VsockConn[] = [];
  closed: { conn: VsockConn; why: string }[] = [];
  written = new Map<VsockConn, number[]>();
  /** Data the host sockets hold, per connection. */
  input = new Map<VsockConn, Uint8Array[]>();
  eof = new Set<VsockConn>();
  wakes = 0;
  watching = new Set<VsockConn>();
  /** How many bytes a flush may send (simulates a full socket). */
  sendRoom = Infinity;
  mux!: VsockMux;
  connect(c: VsockConn) {
    this.connects.push(c);
  }
  established(c: VsockConn) {
    this.established_.push(c);
  }
  read(c: VsockConn, buf: Uint8Array): number | null {
    const q = this.input.get(c) ?? [];
    const b = q.shift();
    if (!b) return this.eof.has(c) ? 0 : null;
    const n = Math.min(b.length, buf.length);
    buf.set(b.subarray(0, n));
    if (n < b.length) q.unshift(b.subarray(n));
    return n;
  }
  watchRead(c: VsockConn) {
    this.watching.add(c);
  }
  flush(c: VsockConn) {
    while (c.toHost.length && this.sendRoom > 0) {
      const b = c.toHost[0]!;
      const n = Math.min(b.length, this.sendRoom);
      this.sendRoom -= n;
      (this.written.get(c) ?? this.written.set(c, []).get(c)!).push(...b.subarray(0, n));
      if (n < b.length) c.toHost[0] = b.subarray(n);
      else c.toHost.shift();
      this.mux.forwarded(c, n);
    }
  }
  close(c: VsockConn, why: string) {
    this.closed.push({ conn: c, why });
  }
  wake() {
    this.wakes++;
  }
}

function setup(bufAlloc = 64 * 1024) {
  const host = new FakeHost();
  const mux = new VsockMux(host, { guestCid: GUEST, bufAlloc });
  host.mux = mux;
  return { host, mux };
}

function pkt(p: Partial<PacketHeader>): PacketHeader {
  return { srcCid: GUEST, dstCid: HOST_CID, srcPort: 5000, dstPort: 1234, len: 0, type: TYPE_STREAM, op: Op.RW, flags: 0, bufAlloc: 1 << 20, fwdCnt: 0, ...p };
}

/** Everything the mux has for the guest, as (header, payload) with 4 KiB rx buffers. */
function drainRx(mux: VsockMux, room = 4096): { h: PacketHeader; data: Uint8Array }[] {
  const out: { h: PacketHeader; data: Uint8Array }[] = [];
  for (;;) {
    const buf = new Uint8Array(HDR_SIZE + room);
    const n = mux.fillRx([buf.subarray(0, HDR_SIZE), buf.subarray(HDR_SIZE)]);
    if (!n) return out;
    out.push({ h: decodeHeader(buf), data: buf.slice(HDR_SIZE, n) });
  }
}

describe("VsockMux: connections from the guest", () => {
  test("REQUEST asks the host side to connect; success answers RESPONSE with our credit", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    expect(host.connects).toHaveLength(1);
    expect(drainRx(mux)).toEqual([]);
    mux.hostConnected(host.connects[0]!, true);
    const [r] = drainRx(mux);
    expect(r!.h).toMatchObject({ op: Op.RESPONSE, srcCid: HOST_CID, dstCid: GUEST, srcPort: 1234, dstPort: 5000, bufAlloc: 64 * 1024, type: TYPE_STREAM });
  });

  test("nothing listening: RST, and the connection is gone", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    mux.hostConnected(host.connects[0]!, false);
    expect(drainRx(mux).map((p) => p.h.op)).toEqual([Op.RST]);
    expect(mux.conns.size).toBe(0);
  });

  test("RW goes to the host socket and fwd_cnt comes back as a credit update", () => {
    const { host, mux } = setup(16 * 1024);
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    drainRx(mux);
    const data = new Uint8Array(5000).fill(65);
    mux.fromGuest(pkt({ op: Op.RW, len: 5000 }), data);
    expect(host.written.get(c)!.length).toBe(5000);
    expect(c.fwdCnt).toBe(5000);
    const [u] = drainRx(mux); // 5000 >= 16 KiB / 4
    expect(u!.h).toMatchObject({ op: Op.CREDIT_UPDATE, fwdCnt: 5000 });
    mux.fromGuest(pkt({ op: Op.CREDIT_REQUEST }), new Uint8Array(0));
    expect(drainRx(mux).map((p) => p.h.op)).toEqual([Op.CREDIT_UPDATE]);
  });

  test("a slow host socket: fwd_cnt counts only what it took, the rest waits", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    host.sendRoom = 100;
    mux.fromGuest(pkt({ op: Op.RW, len: 300 }), new Uint8Array(300));
    expect(c.fwdCnt).toBe(100);
    expect(c.toHostBytes).toBe(200);
    host.sendRoom = Infinity;
    host.flush(c);
    expect(c.fwdCnt).toBe(300);
  });

  test("host data goes to the guest within the guest's credit only", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST, bufAlloc: 6000, fwdCnt: 0 }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    host.input.set(c, [new Uint8Array(10_000).fill(1)]);
    mux.hostReadable(c);
    const got = drainRx(mux);
    expect(got.map((p) => [p.h.op, p.data.length])).toEqual([
      [Op.RESPONSE, 0],
      [Op.RW, 4096],
      [Op.RW, 1904],
    ]);
    expect(c.credit()).toBe(0);
    // The guest read 3000 bytes: its CREDIT_UPDATE lets 3000 more through.
    mux.fromGuest(pkt({ op: Op.CREDIT_UPDATE, bufAlloc: 6000, fwdCnt: 3000 }), new Uint8Array(0));
    expect(drainRx(mux).map((p) => p.data.length)).toEqual([3000]);
  });

  test("the host socket runs dry: the host side is asked to watch it, and EOF becomes SHUTDOWN(SEND)", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    mux.hostReadable(c);
    drainRx(mux);
    expect(host.watching.has(c)).toBe(true);
    host.input.set(c, [new Uint8Array([1, 2, 3])]);
    host.eof.add(c);
    mux.hostReadable(c);
    const got = drainRx(mux);
    expect(got.map((p) => p.h.op)).toEqual([Op.RW, Op.SHUTDOWN]);
    expect(got[1]!.h.flags).toBe(SHUTDOWN_SEND);
  });

  test("SHUTDOWN with both flags: the host socket is closed after its data, and the guest gets RST", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    drainRx(mux);
    mux.fromGuest(pkt({ op: Op.SHUTDOWN, flags: SHUTDOWN_RCV | SHUTDOWN_SEND }), new Uint8Array(0));
    expect(drainRx(mux).map((p) => p.h.op)).toEqual([Op.RST]);
    expect(host.closed).toEqual([{ conn: c, why: "the guest closed" }]);
    expect(c.afterFlush).toBe("close");
    expect(mux.conns.size).toBe(0);
  });

  test("SHUTDOWN(SEND) only: the host socket's sending side is shut after the data", () => {
    const { host, mux } = setup();
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    mux.fromGuest(pkt({ op: Op.SHUTDOWN, flags: SHUTDOWN_SEND }), new Uint8Array(0));
    expect(c.afterFlush).toBe("shutdown");
    expect(c.state).toBe("established");
  });

  test("packets for unknown connections get RST; RST for unknown ones is ignored; other CIDs are dropped", () => {
    const { mux } = setup();
    mux.fromGuest(pkt({ op: Op.RW, len: 3 }), new Uint8Array(3));
    mux.fromGuest(pkt({ op: Op.RST }), new Uint8Array(0));
    mux.fromGuest(pkt({ op: Op.REQUEST, srcCid: 99 }), new Uint8Array(0));
    mux.fromGuest(pkt({ op: Op.REQUEST, dstCid: 5 }), new Uint8Array(0));
    expect(drainRx(mux).map((p) => [p.h.op, p.h.dstPort, p.h.srcPort])).toEqual([
      [Op.RST, 5000, 1234],
      [Op.RST, 5000, 1234],
    ]);
  });

  test("RW beyond twice our buffer (a guest ignoring credit) resets the connection", () => {
    const { host, mux } = setup(4096);
    mux.fromGuest(pkt({ op: Op.REQUEST }), new Uint8Array(0));
    const c = host.connects[0]!;
    mux.hostConnected(c, true);
    host.sendRoom = 0;
    mux.fromGuest(pkt({ op: Op.RW, len: 8000 }), new Uint8Array(8000));
    mux.fromGuest(pkt({ op: Op.RW, len: 8000 }), new Uint8Array(8000));
    expect(host.closed[0]!.why).toContain("beyond its credit");
  });
});

describe("VsockMux: connections from the host", () => {
  test("connectFromHost sends REQUEST from a fresh local port; RESPONSE establishes", () => {
    const { host, mux } = setup();
    const a = mux.connectFromHost(20000);
    const b = mux.connectFromHost(20000);
    expect(a.hostPort).not.toBe(b.hostPort);
    const reqs = drainRx(mux);
    expect(reqs.map((p) => [p.h.op, p.h.dstPort, p.h.srcPort])).toEqual([
      [Op.REQUEST, 20000, a.hostPort],
      [Op.REQUEST, 20000, b.hostPort],
    ]);
    mux.fromGuest(pkt({ op: Op.RESPONSE, srcPort: 20000, dstPort: a.hostPort }), new Uint8Array(0));
    expect(host.established_).toEqual([a]);
    mux.fromGuest(pkt({ op: Op.RST, srcPort: 20000, dstPort: b.hostPort }), new Uint8Array(0));
    expect(host.closed).toEqual([{ conn: b, why: "reset by the guest" }]);
  });

  test("resetAll ends every connection", () => {
    const { host, mux } = setup();
    mux.connectFromHost(1);
    mux.connectFromHost(2);
    mux.resetAll("device stopped");
    expect(host.closed.map((c) => c.why)).toEqual(["device stopped", "device stopped"]);
    expect(mux.hasRxWork()).toBe(false);
  });

  test("header encode/decode round trip", () => {
    const h = pkt({ srcCid: 0x1_0000_0003, op: Op.SHUTDOWN, flags: 3, fwdCnt: 0xffff_fff0 });
    expect(decodeHeader(encodeHeader(h))).toEqual(h);
  });
});
