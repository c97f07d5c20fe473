/**
 * The whole back-end with real fds but no QEMU: a fake front-end speaks vhost-user over the
 * unix socket (guest memory a shared file, kicks and calls eventfds, fds as SCM_RIGHTS) and a
 * fake guest driver answers on the rings, while host programs use connectVsock("unix:...")
 * and a unix listener at PATH_PORT.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectVsock, type VsockStream } from "../lib/vsock.ts";
import * as n from "../native.ts";
import { AF_UNIX, EPOLLIN, F_GETFL, F_SETFL, O_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../sys/constants.ts";
import { FakeDriver, FakeGuestMemory, USER_BASE } from "./fake-driver.ts";
import { bit, encodeRequest, F, FLAG_NEED_REPLY, FLAG_VERSION, HEADER_SIZE, PF, Req } from "./protocol.ts";
import { decodeHeader, encodeHeader, HDR_SIZE, HOST_CID, Op, type PacketHeader, TYPE_STREAM } from "./vsock-packet.ts";
import { type FdStoreIo, nativeFdFiles } from "./session-store.ts";
import { startVsockHost, type VsockHost } from "./vsock-host.ts";

const MEM = 4 << 20;
const CID = 5;
const O_RDWR_CREAT = 0o102;

function u64(v: bigint | number) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}
function words(...vals: [number, "u32" | "u64"][]) {
  const len = vals.reduce((s, [, t]) => s + (t === "u32" ? 4 : 8), 0);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const [v, t] of vals) {
    if (t === "u32") dv.setUint32(o, v, true);
    else dv.setBigUint64(o, BigInt(v), true);
    o += t === "u32" ? 4 : 8;
  }
  return b;
}

/** A vhost-user front-end and a guest, in this process. */
class FakeFrontEnd {
  fd = -1;
  kick: number[] = [];
  call: number[] = [];
  mem!: FakeGuestMemory;
  rx!: FakeDriver;
  tx!: FakeDriver;
  private memFd = -1;
  private mapping: n.SharedMapping | null = null;

  async connect(socket: string, memFile: string): Promise<void> {
    this.fd = n.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    n.connect(this.fd, { family: "unix", path: socket, abstract: false });
    this.memFd = n.open(memFile, O_RDWR_CREAT, 0o600);
    truncateSync(memFile, MEM);
    this.mapping = n.mmapShared(this.memFd, MEM);
    this.mem = new FakeGuestMemory(MEM, this.mapping.bytes);
    this.rx = new FakeDriver(this.mem, 64);
    this.tx = new FakeDriver(this.mem, 64);
  }

  async request(req: number, payload = new Uint8Array(0), fds: number[] = [], flags = FLAG_VERSION): Promise<Uint8Array | null> {
    const m = encodeRequest(req, payload, flags);
    if (fds.length) n.sendFds(this.fd, m, fds);
    else n.send(this.fd, m);
    const wantsReply =
      [Req.GET_FEATURES, Req.GET_PROTOCOL_FEATURES, Req.GET_QUEUE_NUM, Req.GET_CONFIG, Req.GET_VRING_BASE].includes(req as never) || flags & FLAG_NEED_REPLY;
    if (!wantsReply) return null;
    const buf = new Uint8Array(512);
    for (;;) {
      const got = n.recv(this.fd, buf);
      if (got === 0) throw new Error("the back-end closed the vhost-user connection");
      if (got !== null) return buf.slice(HEADER_SIZE, got);
      await n.whenReady(this.fd, EPOLLIN);
    }
  }

  async start(): Promise<void> {
    await this.request(Req.GET_FEATURES);
    await this.request(Req.GET_PROTOCOL_FEATURES);
    await this.request(Req.SET_PROTOCOL_FEATURES, u64(bit(PF.REPLY_ACK) | bit(PF.CONFIG)));
    await this.request(Req.SET_OWNER);
    const cfg = await this.request(Req.GET_CONFIG, words([0, "u32"], [8, "u32"], [0, "u32"], [0, "u64"]));
    expect(new DataView(cfg!.buffer).getBigUint64(12, true)).toBe(BigInt(CID));
    await this.request(Req.SET_FEATURES, u64(bit(F.VERSION_1) | bit(F.PROTOCOL_FEATURES) | bit(F.INDIRECT_DESC)));
    const ack = await this.request(
      Req.SET_MEM_TABLE,
      words([1, "u32"], [0, "u32"], [0, "u64"], [MEM, "u64"], [USER_BASE, "u64"], [0, "u64"]),
      [this.memFd],
      FLAG_VERSION | FLAG_NEED_REPLY,
    );
    expect(new DataView(ack!.buffer).getBigUint64(0, true)).toBe(0n);
    for (const [i, d] of [this.rx, this.tx].entries()) {
      this.kick[i] = n.eventfd();
      this.call[i] = n.eventfd();
      const a = d.addresses();
      await this.request(Req.SET_VRING_NUM, words([i, "u32"], [64, "u32"]));
      await this.request(Req.SET_VRING_BASE, words([i, "u32"], [0, "u32"]));
      await this.request(Req.SET_VRING_ADDR, words([i, "u32"], [0, "u32"], [a.desc, "u64"], [a.used, "u64"], [a.avail, "u64"], [0, "u64"]));
      await this.request(Req.SET_VRING_CALL, u64(i), [this.call[i]!]);
      await this.request(Req.SET_VRING_KICK, u64(i), [this.kick[i]!]);
      await this.request(Req.SET_VRING_ENABLE, words([i, "u32"], [1, "u32"]));
    }
    for (let i = 0; i < 32; i++) this.rx.offer([{ writable: HDR_SIZE }, { writable: 4096 }]);
    n.write(this.kick[0]!, u64(1));
  }

  /** The guest sends a packet (header and payload in two descriptors, as Linux does). */
  send(h: Partial<PacketHeader>, data = new Uint8Array(0)): void {
    const hdr = encodeHeader({
      srcCid: CID,
      dstCid: HOST_CID,
      srcPort: 0,
      dstPort: 0,
      len: data.length,
      type: TYPE_STREAM,
      op: Op.RW,
      flags: 0,
      bufAlloc: 1 << 20,
      fwdCnt: 0,
      ...h,
    });
    this.tx.offer(data.length ? [{ data: hdr }, { data }] : [{ data: hdr }]);
    n.write(this.kick[1]!, u64(1));
  }

  private inbox: { h: PacketHeader; data: Uint8Array }[] = [];

  /** The next packet the back-end put on the rx ring (buffers are given back as they are used). */
  async receive(timeoutMs = 5000): Promise<{ h: PacketHeader; data: Uint8Array }> {
    const end = Date.now() + timeoutMs;
    while (!this.inbox.length) {
      for (const u of this.rx.takeUsed()) {
        this.inbox.push({ h: decodeHeader(u.written), data: u.written.slice(HDR_SIZE) });
        this.rx.offer([{ writable: HDR_SIZE }, { writable: 4096 }]);
        n.write(this.kick[0]!, u64(1));
      }
      if (this.inbox.length) break;
      if (Date.now() > end) throw new Error("no packet from the back-end");
      await Promise.race([n.whenReady(this.call[0]!, EPOLLIN).then(() => n.read(this.call[0]!, new Uint8Array(8))), Bun.sleep(50)]);
    }
    return this.inbox.shift()!;
  }

  close(): void {
    if (this.fd >= 0) n.close(this.fd);
    this.fd = -1;
    this.mapping?.unmap();
    this.mapping = null;
    for (const fd of [...this.kick, ...this.call, this.memFd]) if (fd >= 0) n.close(fd);
    this.kick = [];
    this.call = [];
    this.memFd = -1;
  }
}

async function readText(s: VsockStream, until: (t: string) => boolean): Promise<string> {
  let t = "";
  const r = s.readable.getReader();
  while (!until(t)) {
    const c = await r.read();
    if (c.done) break;
    t += new TextDecoder().decode(c.value);
  }
  r.releaseLock();
  return t;
}

describe("the vsock back-end over real sockets, with a fake front-end", () => {
  let dir = "";
  let host: VsockHost | null = null;
  let fe: FakeFrontEnd | null = null;
  const logs: string[] = [];
  afterEach(() => {
    if (process.env.VHOST_TEST_LOG) console.log(logs.splice(0).join("\n"));
    fe?.close();
    host?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function up(): Promise<{ uds: string; fe: FakeFrontEnd; host: VsockHost }> {
    dir = mkdtempSync(join(tmpdir(), "bunit-vhost-"));
    host = startVsockHost({ vhostUser: join(dir, "vhost.sock"), uds: join(dir, "v.sock"), guestCid: CID, log: (m) => logs.push(m) });
    fe = new FakeFrontEnd();
    await fe.connect(join(dir, "vhost.sock"), join(dir, "mem"));
    await fe.start();
    return { uds: join(dir, "v.sock"), fe, host };
  }

  test("a host program connects to a guest port: REQUEST, the guest's RESPONSE, OK, data both ways", async () => {
    const { uds, fe } = await up();
    const pending = connectVsock(`unix:${uds}:20000`);
    const req = await fe.receive();
    expect(req.h).toMatchObject({ op: Op.REQUEST, srcCid: HOST_CID, dstCid: CID, dstPort: 20000 });
    const hostPort = req.h.srcPort;
    fe.send({ op: Op.RESPONSE, srcPort: 20000, dstPort: hostPort });
    const s = await pending;
    expect(s.via).toEqual({ uds, hostPort });
    await s.write("from the host");
    const rw = await fe.receive();
    expect(rw.h).toMatchObject({ op: Op.RW, len: 13 });
    expect(new TextDecoder().decode(rw.data.subarray(0, 13))).toBe("from the host");
    fe.send({ op: Op.RW, srcPort: 20000, dstPort: hostPort }, new TextEncoder().encode("from the guest"));
    expect(await readText(s, (t) => t.length >= 14)).toBe("from the guest");
    s.end();
    expect((await fe.receive()).h).toMatchObject({ op: Op.SHUTDOWN, flags: 2 });
    fe.send({ op: Op.SHUTDOWN, srcPort: 20000, dstPort: hostPort, flags: 3 });
    expect((await fe.receive()).h.op).toBe(Op.RST);
    expect(await readText(s, () => false)).toBe(""); // closed by the back-end
    s.close();
  });

  test("the guest refuses: the host program gets an error", async () => {
    const { uds, fe } = await up();
    const pending = connectVsock(`unix:${uds}:20001`);
    const req = await fe.receive();
    fe.send({ op: Op.RST, srcPort: 20001, dstPort: req.h.srcPort });
    await expect(pending).rejects.toThrow("reset by the guest");
  });

  test("garbage on the unix socket gets ERR and does not disturb an open connection", async () => {
    const { uds, fe } = await up();
    const pending = connectVsock(`unix:${uds}:20002`);
    const req = await fe.receive();
    fe.send({ op: Op.RESPONSE, srcPort: 20002, dstPort: req.h.srcPort });
    const s = await pending;
    await expect(connectVsock(`unix:${uds}:not-a-port`).catch((e: Error) => Promise.reject(e))).rejects.toThrow("unix:PATH:PORT");
    const raw = await Bun.connect({
      unix: uds,
      socket: {
        data(_s, d) {
          got += Buffer.from(d).toString();
        },
      },
    });
    let got = "";
    raw.write("HELLO THERE\n");
    const end = Date.now() + 5000;
    while (!got.includes("\n") && Date.now() < end) await Bun.sleep(10);
    expect(got).toMatch(/^ERR expected "CONNECT <port>"/);
    raw.end();
    await s.write("still here");
    const rw = await fe.receive();
    expect(new TextDecoder().decode(rw.data.subarray(0, rw.h.len))).toBe("still here");
    s.close();
  });

  test("the guest connects to CID 2: the listener at PATH_PORT gets the stream", async () => {
    const { uds, fe } = await up();
    let received = "";
    let serverSock: { write(s: string): number; end(): void } | null = null;
    const l = Bun.listen({
      unix: `${uds}_1234`,
      socket: {
        open(s) {
          serverSock = s;
          s.write("hello guest");
        },
        data(_s, d) {
          received += Buffer.from(d).toString();
        },
      },
    });
    try {
      fe.send({ op: Op.REQUEST, srcPort: 40000, dstPort: 1234 });
      expect((await fe.receive()).h).toMatchObject({ op: Op.RESPONSE, srcPort: 1234, dstPort: 40000 });
      const rw = await fe.receive();
      expect(new TextDecoder().decode(rw.data.subarray(0, rw.h.len))).toBe("hello guest");
      fe.send({ op: Op.RW, srcPort: 40000, dstPort: 1234 }, new TextEncoder().encode("hello host"));
      const end = Date.now() + 5000;
      while (received.length < 10 && Date.now() < end) await Bun.sleep(10);
      expect(received).toBe("hello host");
      serverSock!.end();
      expect((await fe.receive()).h).toMatchObject({ op: Op.SHUTDOWN, flags: 2 });
      // Nothing listens on 1235: RST.
      fe.send({ op: Op.REQUEST, srcPort: 40001, dstPort: 1235 });
      expect((await fe.receive()).h).toMatchObject({ op: Op.RST, dstPort: 40001 });
    } finally {
      l.stop(true);
    }
  });

  test("the front-end goes away: connections end, and the next front-end is served", async () => {
    const { uds, fe, host } = await up();
    const pending = connectVsock(`unix:${uds}:20003`);
    const req = await fe.receive();
    fe.send({ op: Op.RESPONSE, srcPort: 20003, dstPort: req.h.srcPort });
    const s = await pending;
    fe.close();
    expect(await readText(s, () => false)).toBe("");
    s.close();
    const fe2 = new FakeFrontEnd();
    await fe2.connect(join(dir, "vhost.sock"), join(dir, "mem2"));
    await fe2.start();
    const p2 = connectVsock(`unix:${uds}:20004`);
    const r2 = await fe2.receive();
    expect(r2.h).toMatchObject({ op: Op.REQUEST, dstPort: 20004 });
    fe2.send({ op: Op.RESPONSE, srcPort: 20004, dstPort: r2.h.srcPort });
    (await p2).close();
    expect(host.server.sessions).toBe(2);
    fe2.close();
  });

  test("handover: the next back-end takes the session over; open connections were reset", async () => {
    const { uds, fe, host: first } = await up();
    const pending = connectVsock(`unix:${uds}:20005`);
    const req = await fe.receive();
    fe.send({ op: Op.RESPONSE, srcPort: 20005, dstPort: req.h.srcPort });
    const s = await pending;
    const { state, fds } = first.handover();
    expect(fds).toContain(state.server.clientFd);
    expect((await fe.receive()).h).toMatchObject({ op: Op.RST, dstPort: 20005 });
    expect(await readText(s, () => false)).toBe("");
    s.close();
    // What the exec'd process does with the state (here in the same process: the fds are open).
    host = startVsockHost({ vhostUser: join(dir, "vhost.sock"), uds, guestCid: CID, log: (m) => logs.push(m) }, JSON.parse(JSON.stringify(state)));
    const p2 = connectVsock(`unix:${uds}:20006`);
    const r2 = await fe.receive();
    expect(r2.h).toMatchObject({ op: Op.REQUEST, dstPort: 20006 });
    expect(r2.h.srcPort).toBe(req.h.srcPort + 1); // not the port of the reset connection
    fe.send({ op: Op.RESPONSE, srcPort: 20006, dstPort: r2.h.srcPort });
    const s2 = await p2;
    fe.send({ op: Op.RW, srcPort: 20006, dstPort: r2.h.srcPort }, new TextEncoder().encode("after"));
    expect(await readText(s2, (t) => t.length >= 5)).toBe("after");
    s2.close();
    expect(host.server.sessions).toBe(1);
  });

  test("killed outright with its session in a file descriptor store: the next process serves the same front-end, which never noticed", async () => {
    // A manager's store in this process: copies of the fds, kept by name.
    const entries = new Map<string, number>();
    const store: FdStoreIo = {
      ...nativeFdFiles,
      store: (name, fd) => entries.set(name, n.dupCloexec(fd)),
      remove: (name) => {
        const fd = entries.get(name);
        if (fd !== undefined) n.close(fd);
        entries.delete(name);
      },
    };
    dir = mkdtempSync(join(tmpdir(), "bunit-vhost-"));
    const uds = join(dir, "v.sock");
    const opts = { vhostUser: join(dir, "vhost.sock"), uds, guestCid: CID, log: (m: string) => logs.push(m), fdStore: store };
    const first = startVsockHost({ ...opts, passedFds: [] });
    fe = new FakeFrontEnd();
    await fe.connect(join(dir, "vhost.sock"), join(dir, "mem"));
    await fe.start();
    const pending = connectVsock(`unix:${uds}:20008`);
    const req = await fe.receive();
    fe.send({ op: Op.RESPONSE, srcPort: 20008, dstPort: req.h.srcPort });
    const s = await pending;
    // The process dies: every fd it had closes, nothing is said to anyone.
    const note = [...entries].find(([k]) => k.startsWith("vhost.state."))!;
    const had = Object.keys(JSON.parse(nativeFdFiles.readNote(note[1])).names as Record<string, string>).map(Number);
    expect(had).toContain(first.server.state().clientFd);
    for (const fd of had) {
      n.fdWatcher().forget(fd);
      n.close(fd);
    }
    first.hostSide.handover(); // (the host programs' sockets die with it; the listening one was closed above)
    expect(await readText(s, () => false)).toBe("");
    s.close();
    // The manager starts it again with copies of what it stored, blocking (as bunit and systemd
    // pass fds without NonBlocking=; the flag belongs to the file, so QEMU's connection too).
    const blocking = (fd: number) => (n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) & ~O_NONBLOCK), fd);
    host = startVsockHost({ ...opts, passedFds: [...entries].map(([name, fd]) => ({ name, fd: blocking(n.dupCloexec(fd)) })) });
    expect(logs.some((l) => l.includes("took over session 1 from the file descriptor store"))).toBe(true);
    // The guest's packet on the connection the dead process had: RST, as for any unknown connection.
    fe.send({ op: Op.RW, srcPort: 20008, dstPort: req.h.srcPort }, new TextEncoder().encode("late"));
    expect((await fe.receive()).h).toMatchObject({ op: Op.RST, srcPort: req.h.srcPort, dstPort: 20008 });
    const p2 = connectVsock(`unix:${uds}:20009`);
    const r2 = await fe.receive();
    expect(r2.h).toMatchObject({ op: Op.REQUEST, dstPort: 20009 });
    expect(r2.h.srcPort).toBeGreaterThan(req.h.srcPort + 1000); // past anything the dead process may have used
    fe.send({ op: Op.RESPONSE, srcPort: 20009, dstPort: r2.h.srcPort });
    const s2 = await p2;
    fe.send({ op: Op.RW, srcPort: 20009, dstPort: r2.h.srcPort }, new TextEncoder().encode("after"));
    expect(await readText(s2, (t) => t.length >= 5)).toBe("after");
    s2.close();
    expect(host.server.sessions).toBe(1);
    // A clean stop empties the store (its copy would keep QEMU's connection open).
    host.close();
    host = null;
    expect(entries.size).toBe(0);
  });

  test("a guest that never answers: the host program gets ERR after the connect timeout, and the connection is forgotten", async () => {
    const { uds, host } = await up();
    host.hostSide.connectTimeoutMs = 300;
    host.server.close(); // the front-end is gone: nothing reaches the guest
    await expect(connectVsock(`unix:${uds}:20007`)).rejects.toThrow("the guest did not answer within 300 ms");
    expect(host.mux.conns.size).toBe(0);
  });
});
