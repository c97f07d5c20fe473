/**
 * A vhost-user session as QEMU 7.2 drives vhost-user-vsock-pci (the message sequence of a
 * boot, recorded from the protocol), against fake I/O and a guest laid out by a fake driver;
 * then vsock packets through the rings to the mux and back.
 */
import { describe, expect, test } from "bun:test";
import { type BackendIo, PROTOCOL_FEATURES, VhostUserBackend } from "./backend.ts";
import { FakeDriver, FakeGuestMemory, USER_BASE } from "./fake-driver.ts";
import { bit, encodeRequest, F, FLAG_NEED_REPLY, FLAG_REPLY, FLAG_VERSION, HEADER_SIZE, type Message, MessageAssembler, PF, Req } from "./protocol.ts";
import { decodeHeader, encodeHeader, HDR_SIZE, HOST_CID, Op, TYPE_STREAM } from "./vsock-packet.ts";
import { type HostSide, type VsockConn, VsockMux } from "./vsock-mux.ts";
import { RX, TX, VsockDevice } from "./vsock-device.ts";

const u64 = (v: bigint | number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
};
const state = (index: number, num: number) => {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, index, true);
  dv.setUint32(4, num, true);
  return b;
};
function vringAddr(index: number, a: { desc: number; avail: number; used: number }) {
  const b = new Uint8Array(40);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, index, true);
  dv.setBigUint64(8, BigInt(a.desc), true);
  dv.setBigUint64(16, BigInt(a.used), true);
  dv.setBigUint64(24, BigInt(a.avail), true);
  return b;
}
function memTable(regions: { gpa: number; size: number; uaddr: number; off: number }[]) {
  const b = new Uint8Array(8 + 32 * regions.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, regions.length, true);
  regions.forEach((r, i) => {
    dv.setBigUint64(8 + 32 * i, BigInt(r.gpa), true);
    dv.setBigUint64(16 + 32 * i, BigInt(r.size), true);
    dv.setBigUint64(24 + 32 * i, BigInt(r.uaddr), true);
    dv.setBigUint64(32 + 32 * i, BigInt(r.off), true);
  });
  return b;
}
const msg = (request: number, payload = new Uint8Array(0), fds: number[] = [], flags = FLAG_VERSION): Message => ({ request, flags, payload, fds });
const replyU64 = (r: Uint8Array | null) => new DataView(r!.buffer, r!.byteOffset).getBigUint64(HEADER_SIZE, true);

class FakeIo implements BackendIo {
  closed: number[] = [];
  kicks = new Map<number, () => void>();
  signals: number[] = [];
  maps: { fd: number; size: number; offset: number; unmapped: boolean }[] = [];
  logs: string[] = [];
  constructor(private readonly guest: FakeGuestMemory) {}
  map(fd: number, size: number, offset: number) {
    const m = { fd, size, offset, unmapped: false };
    this.maps.push(m);
    return { bytes: this.guest.bytes.subarray(offset, offset + size), unmap: () => void (m.unmapped = true) };
  }
  closeFd(fd: number) {
    this.closed.push(fd);
  }
  watchKick(fd: number, on: () => void) {
    this.kicks.set(fd, on);
  }
  unwatchKick(fd: number) {
    this.kicks.delete(fd);
  }
  signal(fd: number) {
    this.signals.push(fd);
  }
  log(m: string) {
    this.logs.push(m);
  }
}

class Host implements HostSide {
  conns: VsockConn[] = [];
  mux!: VsockMux;
  dev!: VsockDevice;
  sent: number[] = [];
  connect(c: VsockConn) {
    this.conns.push(c);
    this.mux.hostConnected(c, true);
  }
  established() {}
  read() {
    return null;
  }
  watchRead() {}
  flush(c: VsockConn) {
    for (const b of c.toHost.splice(0)) {
      this.sent.push(...b);
      this.mux.forwarded(c, b.length);
    }
  }
  close() {}
  wake() {
    this.dev.wake();
  }
}

const GUEST_CID = 3;

function boot() {
  const guest = new FakeGuestMemory(1 << 20);
  const io = new FakeIo(guest);
  const dev = new VsockDevice(GUEST_CID);
  const host = new Host();
  const mux = new VsockMux(host, { guestCid: GUEST_CID });
  Object.assign(host, { mux, dev });
  dev.mux = mux;
  const be = new VhostUserBackend(dev, io);
  dev.notify = (i) => be.notify(i);
  const rx = new FakeDriver(guest, 16);
  const tx = new FakeDriver(guest, 16);
  return { guest, io, dev, mux, host, be, rx, tx };
}

/** The messages QEMU 7.2 sends for vhost-user-vsock-pci up to a running device. */
function qemuStart(t: ReturnType<typeof boot>) {
  const { be, rx, tx } = t;
  const feats = replyU64(be.handle(msg(Req.GET_FEATURES)));
  expect(feats & bit(F.PROTOCOL_FEATURES)).toBeTruthy();
  expect(replyU64(be.handle(msg(Req.GET_PROTOCOL_FEATURES)))).toBe(PROTOCOL_FEATURES);
  expect(be.handle(msg(Req.SET_PROTOCOL_FEATURES, u64(bit(PF.REPLY_ACK) | bit(PF.CONFIG))))).toBeNull();
  expect(replyU64(be.handle(msg(Req.GET_QUEUE_NUM)))).toBe(2n);
  be.handle(msg(Req.SET_OWNER));
  const cfg = be.handle(msg(Req.GET_CONFIG, new Uint8Array([0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, ...new Array(8).fill(0)])))!;
  expect(new DataView(cfg.buffer).getUint32(4, true)).toBe(FLAG_VERSION | FLAG_REPLY);
  expect(new DataView(cfg.buffer).getBigUint64(HEADER_SIZE + 12, true)).toBe(BigInt(GUEST_CID));
  be.handle(msg(Req.SET_FEATURES, u64(bit(F.VERSION_1) | bit(F.PROTOCOL_FEATURES))));
  const ack = be.handle(msg(Req.SET_MEM_TABLE, memTable([{ gpa: 0, size: 1 << 20, uaddr: USER_BASE, off: 0 }]), [50], FLAG_VERSION | FLAG_NEED_REPLY));
  expect(replyU64(ack)).toBe(0n);
  for (const [i, d] of [
    [RX, rx],
    [TX, tx],
  ] as const) {
    be.handle(msg(Req.SET_VRING_NUM, state(i, 16)));
    be.handle(msg(Req.SET_VRING_BASE, state(i, 0)));
    be.handle(msg(Req.SET_VRING_ADDR, vringAddr(i, d.addresses())));
    be.handle(msg(Req.SET_VRING_KICK, u64(i), [60 + i]));
    be.handle(msg(Req.SET_VRING_CALL, u64(i), [70 + i]));
    be.handle(msg(Req.SET_VRING_ENABLE, state(i, 1)));
  }
}

function guestPacket(op: number, srcPort: number, dstPort: number, data = new Uint8Array(0)) {
  const h = encodeHeader({
    srcCid: GUEST_CID,
    dstCid: HOST_CID,
    srcPort,
    dstPort,
    len: data.length,
    type: TYPE_STREAM,
    op,
    flags: 0,
    bufAlloc: 256 * 1024,
    fwdCnt: 0,
  });
  return data.length ? [{ data: h }, { data }] : [{ data: h }];
}

describe("MessageAssembler", () => {
  test("messages split across chunks and several in one chunk, with fds bound to the message the chunk ends in", () => {
    const a = new MessageAssembler();
    const m1 = encodeRequest(Req.SET_VRING_KICK, u64(1));
    const m2 = encodeRequest(Req.GET_FEATURES);
    const m3 = encodeRequest(Req.SET_VRING_CALL, u64(1));
    expect(a.want()).toBe(HEADER_SIZE);
    a.push(m1.subarray(0, 5), [7]);
    expect(a.want()).toBe(HEADER_SIZE - 5);
    expect(a.next()).toBeNull();
    a.push(m1.subarray(5, HEADER_SIZE));
    expect(a.want()).toBe(8);
    a.push(m1.subarray(HEADER_SIZE));
    // As the kernel delivers it: a read gathers m2 (no fds) and m3, whose fds end the read.
    a.push(new Uint8Array([...m2, ...m3]), [8]);
    expect(a.next()).toMatchObject({ request: Req.SET_VRING_KICK, fds: [7] });
    expect(a.next()).toMatchObject({ request: Req.GET_FEATURES, fds: [] });
    expect(a.next()).toMatchObject({ request: Req.SET_VRING_CALL, fds: [8] });
    expect(a.next()).toBeNull();
  });

  test("a wrong version or an oversized payload is a protocol error", () => {
    const a = new MessageAssembler();
    a.push(encodeRequest(Req.GET_FEATURES, new Uint8Array(0), 2));
    expect(() => a.next()).toThrow("version 2");
    const b = new MessageAssembler();
    const big = encodeRequest(Req.SET_MEM_TABLE);
    new DataView(big.buffer).setUint32(8, 1 << 20, true);
    b.push(big);
    expect(() => b.next()).toThrow("payload of 1048576 bytes");
  });
});

describe("VhostUserBackend with the vsock device", () => {
  test("QEMU's start sequence: features, config (guest CID), memory mapped, rings started", () => {
    const t = boot();
    qemuStart(t);
    expect(t.io.maps).toEqual([{ fd: 50, size: 1 << 20, offset: 0, unmapped: false }]);
    expect(t.io.closed).not.toContain(50); // kept for a snapshot, closed with the table
    expect([...t.io.kicks.keys()].sort()).toEqual([60, 61]);
  });

  test("a guest connects to host port 1234 and sends data; the host side gets it and the guest its RESPONSE", async () => {
    const t = boot();
    qemuStart(t);
    for (let i = 0; i < 4; i++) t.rx.offer([{ writable: HDR_SIZE }, { writable: 4096 }]);
    t.tx.offer(guestPacket(Op.REQUEST, 40000, 1234), { indirect: true });
    t.tx.offer(guestPacket(Op.RW, 40000, 1234, new TextEncoder().encode("hello host")));
    t.io.kicks.get(61)!();
    expect(t.tx.takeUsed()).toHaveLength(2);
    expect(t.io.signals).toContain(71);
    await Promise.resolve(); // the rx pass runs in a microtask
    const rx = t.rx.takeUsed();
    expect(rx).toHaveLength(1);
    expect(decodeHeader(rx[0]!.written)).toMatchObject({ op: Op.RESPONSE, srcCid: HOST_CID, dstCid: GUEST_CID, srcPort: 1234, dstPort: 40000 });
    expect(new TextDecoder().decode(new Uint8Array(t.host.sent))).toBe("hello host");
    expect(t.io.signals).toContain(70);
  });

  test("GET_VRING_BASE stops a ring and answers where to resume; the device resets when both stop", () => {
    const t = boot();
    qemuStart(t);
    t.tx.offer(guestPacket(Op.REQUEST, 1, 2));
    t.io.kicks.get(61)!();
    expect(t.mux.conns.size).toBe(1);
    const r = t.be.handle(msg(Req.GET_VRING_BASE, state(TX, 0)))!;
    expect(new DataView(r.buffer).getUint32(HEADER_SIZE + 4, true)).toBe(1);
    expect(t.io.kicks.has(61)).toBe(false);
    t.be.handle(msg(Req.GET_VRING_BASE, state(RX, 0)));
    expect(t.mux.conns.size).toBe(0);
  });

  test("bad messages: unknown request throws, bad ring with NEED_REPLY answers a failure, fds are closed", () => {
    const t = boot();
    qemuStart(t);
    expect(() => t.be.handle(msg(99))).toThrow("request 99 is not supported");
    const r = t.be.handle(msg(Req.SET_VRING_CALL, u64(5), [90], FLAG_VERSION | FLAG_NEED_REPLY));
    expect(replyU64(r)).toBe(1n);
    expect(t.io.closed).toContain(90);
    expect(() => t.be.handle(msg(Req.SET_FEATURES, u64(1n << 60n)))).toThrow("bits not offered");
  });

  test("a new memory table while running re-creates the rings over it and unmaps the old one", () => {
    const t = boot();
    qemuStart(t);
    t.be.handle(msg(Req.SET_MEM_TABLE, memTable([{ gpa: 0, size: 1 << 20, uaddr: USER_BASE, off: 0 }]), [51]));
    expect(t.io.maps.map((m) => m.unmapped)).toEqual([true, false]);
    expect(t.io.closed).toContain(50);
    expect(t.io.closed).not.toContain(51);
    t.tx.offer(guestPacket(Op.REQUEST, 9, 9));
    t.io.kicks.get(61)!();
    expect(t.mux.conns.size).toBe(1);
  });

  test("RESET_OWNER forgets everything and closes every fd", () => {
    const t = boot();
    qemuStart(t);
    t.be.handle(msg(Req.RESET_OWNER));
    expect(t.io.closed).toEqual(expect.arrayContaining([50, 60, 61, 70, 71]));
    expect(t.io.maps[0]!.unmapped).toBe(true);
  });

  test("a snapshot carries the session into a fresh back-end: same memory, rings resume where they stopped", async () => {
    const t = boot();
    qemuStart(t);
    for (let i = 0; i < 4; i++) t.rx.offer([{ writable: HDR_SIZE }, { writable: 4096 }]);
    t.tx.offer(guestPacket(Op.REQUEST, 1, 2));
    t.io.kicks.get(61)!();
    await Promise.resolve();
    expect(t.rx.takeUsed()).toHaveLength(1); // RESPONSE
    const snap = JSON.parse(JSON.stringify(t.be.snapshot()));
    expect(t.be.fds().sort()).toEqual([50, 60, 61, 70, 71]);
    expect(snap.rings.map((r: { base: number }) => r.base)).toEqual([1, 1]);
    // The next process: new device and back-end over the same guest.
    const t2 = boot();
    Object.assign(t2, { guest: t.guest, rx: t.rx, tx: t.tx });
    const io2 = new FakeIo(t.guest);
    const be2 = new VhostUserBackend(t2.dev, io2);
    t2.dev.notify = (i) => be2.notify(i);
    be2.restore(snap);
    expect(io2.maps).toEqual([{ fd: 50, size: 1 << 20, offset: 0, unmapped: false }]);
    t.tx.offer(guestPacket(Op.REQUEST, 3, 4));
    io2.kicks.get(61)!();
    await Promise.resolve();
    const used = t.rx.takeUsed();
    expect(used).toHaveLength(1);
    expect(decodeHeader(used[0]!.written)).toMatchObject({ op: Op.RESPONSE, srcPort: 4, dstPort: 3 });
  });

  test("a new kick fd for a running ring replaces the old one", () => {
    const t = boot();
    qemuStart(t);
    t.be.handle(msg(Req.SET_VRING_KICK, u64(TX), [81]));
    expect(t.io.closed).toContain(61);
    expect(t.io.kicks.has(61)).toBe(false);
    t.tx.offer(guestPacket(Op.REQUEST, 5, 6));
    t.io.kicks.get(81)!();
    expect(t.mux.conns.size).toBe(1);
  });
});
