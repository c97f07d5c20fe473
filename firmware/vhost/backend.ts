/**
 * A vhost-user back-end session: answers the front-end's (QEMU's) messages and keeps the
 * device state they set up (features, guest memory, the vrings with their kick and call
 * fds). The device itself (what the queues carry) is a VhostDevice; everything that touches
 * the kernel (mapping memory, watching and signalling eventfds, closing fds) is BackendIo, so
 * a session can be driven by recorded messages in tests.
 *
 * A ring runs once it has its addresses and a kick fd (SET_VRING_KICK starts it, as the spec
 * says) and stops at GET_VRING_BASE, which answers the next avail index to resume from.
 * SET_VRING_ENABLE 0 pauses it without losing its place.
 */
import { GuestMemory } from "./memory.ts";
import {
  bit,
  decodeConfig,
  decodeMemTable,
  decodeU64,
  decodeVringAddr,
  decodeVringFd,
  decodeVringState,
  encodeConfigReply,
  encodeU64Reply,
  encodeVringStateReply,
  F,
  FLAG_NEED_REPLY,
  type MemRegion,
  type Message,
  PF,
  ProtocolError,
  Req,
  reqName,
  type VringAddr,
} from "./protocol.ts";
import { SplitQueue } from "./virtqueue.ts";

export interface VhostDevice {
  /** Device feature bits offered (virtio, without VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly features: bigint;
  readonly queueCount: number;
  /** The device's config space (GET_CONFIG reads from it). */
  config(): Uint8Array;
  /** A ring is running (again) on `queue`: process what is pending. */
  start(index: number, queue: SplitQueue): void;
  /** A ring stops (its queue object must not be touched any more). */
  stop(index: number): void;
  /** The driver kicked ring `index`. */
  kick(index: number): void;
  /** The device is reset (front-end gone, RESET_OWNER, or every ring stopped). */
  reset(why: string): void;
}

export interface MappedMemory {
  bytes: Uint8Array;
  unmap(): void;
}

/**
 * A session's state with its fds, to carry it across an exec of the back-end (the front-end
 * keeps its connection and never learns). Ring positions need no saving beyond base: every
 * chain taken is returned before the back-end yields, so the avail index taken equals the
 * used index in guest memory.
 */
export interface BackendSnapshot {
  features: string;
  protocolFeatures: string;
  memory: { fd: number; guestAddr: string; size: string; userAddr: string; mmapOffset: string }[];
  rings: {
    num: number;
    addr: { index: number; flags: number; desc: string; used: string; avail: string; log: string } | null;
    base: number;
    kickFd: number;
    callFd: number;
    errFd: number;
    enabled: boolean;
    /**
     * The ring was running when the state was taken without stopping it (describe()): base is
     * stale then, and a restore resumes from the used index in guest memory (see restore()).
     */
    running?: boolean;
  }[];
}

export interface BackendIo {
  /** Maps `size` bytes of fd from `offset` (shared, read-write). */
  map(fd: number, size: number, offset: number): MappedMemory;
  closeFd(fd: number): void;
  /** Calls onKick whenever fd (an eventfd) is signalled, until unwatchKick. */
  watchKick(fd: number, onKick: () => void): void;
  unwatchKick(fd: number): void;
  /** Signals an eventfd (the call fd: an interrupt to the guest). */
  signal(fd: number): void;
  log(msg: string): void;
}

interface Ring {
  num: number;
  addr: VringAddr | null;
  base: number;
  kickFd: number;
  callFd: number;
  errFd: number;
  enabled: boolean;
  queue: SplitQueue | null;
}

const newRing = (): Ring => ({ num: 0, addr: null, base: 0, kickFd: -1, callFd: -1, errFd: -1, enabled: true, queue: null });

/** Protocol features this back-end speaks. */
export const PROTOCOL_FEATURES = bit(PF.REPLY_ACK) | bit(PF.CONFIG);

export class VhostUserBackend {
  private features = 0n;
  private protocolFeatures = 0n;
  private memory: GuestMemory | null = null;
  private maps: MappedMemory[] = [];
  /** The memory table and its fds (kept open for a snapshot). */
  private table: { region: MemRegion; fd: number }[] = [];
  private rings: Ring[];

  constructor(
    private readonly dev: VhostDevice,
    private readonly io: BackendIo,
  ) {
    this.rings = Array.from({ length: dev.queueCount }, newRing);
  }

  /** Features the front-end may choose from. */
  offeredFeatures(): bigint {
    return this.dev.features | bit(F.VERSION_1) | bit(F.INDIRECT_DESC) | bit(F.NOTIFY_ON_EMPTY) | bit(F.PROTOCOL_FEATURES);
  }

  /** Handles one message; returns the reply to send, if any. Errors in a message throw. */
  handle(msg: Message): Uint8Array | null {
    let reply: Uint8Array | null = null;
    let fdsTaken = false;
    try {
      [reply, fdsTaken] = this.dispatch(msg);
    } catch (e) {
      if (!fdsTaken) for (const fd of msg.fds) this.io.closeFd(fd);
      if (msg.flags & FLAG_NEED_REPLY && this.protocolFeatures & bit(PF.REPLY_ACK) && e instanceof ProtocolError) {
        this.io.log(`vhost-user: ${reqName(msg.request)}: ${e.message}`);
        return encodeU64Reply(msg.request, 1n);
      }
      throw e;
    }
    if (!reply && msg.flags & FLAG_NEED_REPLY && this.protocolFeatures & bit(PF.REPLY_ACK)) return encodeU64Reply(msg.request, 0n);
    return reply;
  }

  private ring(index: number): Ring {
    const r = this.rings[index];
    if (!r) throw new ProtocolError(`vring ${index} does not exist (the device has ${this.rings.length})`);
    return r;
  }

  /** Returns [reply, whether the message's fds were taken over]. */
  private dispatch(msg: Message): [Uint8Array | null, boolean] {
    const p = msg.payload;
    switch (msg.request) {
      case Req.GET_FEATURES:
        return [encodeU64Reply(msg.request, this.offeredFeatures()), false];
      case Req.SET_FEATURES: {
        const f = decodeU64(p);
        if (f & ~this.offeredFeatures()) throw new ProtocolError(`SET_FEATURES: 0x${f.toString(16)} has bits not offered`);
        this.features = f;
        this.io.log(`vhost-user: features 0x${f.toString(16)} set`);
        // Without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled as they start.
        if (!(f & bit(F.PROTOCOL_FEATURES))) for (const r of this.rings) r.enabled = true;
        return [null, false];
      }
      case Req.GET_PROTOCOL_FEATURES:
        return [encodeU64Reply(msg.request, PROTOCOL_FEATURES), false];
      case Req.SET_PROTOCOL_FEATURES:
        this.protocolFeatures = decodeU64(p) & PROTOCOL_FEATURES;
        return [null, false];
      case Req.SET_OWNER:
        return [null, false];
      case Req.RESET_OWNER:
      case Req.RESET_DEVICE:
        this.reset(`${reqName(msg.request)}`);
        return [null, false];
      case Req.GET_QUEUE_NUM:
        return [encodeU64Reply(msg.request, BigInt(this.rings.length)), false];
      case Req.SET_MEM_TABLE:
        this.setMemTable(msg);
        return [null, true];
      case Req.SET_VRING_NUM: {
        const s = decodeVringState(p);
        const r = this.ring(s.index);
        if (!s.num || s.num > 32768 || s.num & (s.num - 1)) throw new ProtocolError(`SET_VRING_NUM: ${s.num} is not a power of 2 up to 32768`);
        r.num = s.num;
        return [null, false];
      }
      case Req.SET_VRING_ADDR: {
        const a = decodeVringAddr(p);
        this.ring(a.index).addr = a;
        return [null, false];
      }
      case Req.SET_VRING_BASE: {
        const s = decodeVringState(p);
        this.ring(s.index).base = s.num & 0xffff;
        return [null, false];
      }
      case Req.GET_VRING_BASE: {
        const s = decodeVringState(p);
        const r = this.ring(s.index);
        this.stopRing(s.index);
        this.io.log(`vhost-user: vring ${s.index} stopped at avail index ${r.base}`);
        return [encodeVringStateReply(msg.request, { index: s.index, num: r.base }), false];
      }
      case Req.SET_VRING_KICK:
      case Req.SET_VRING_CALL:
      case Req.SET_VRING_ERR:
        this.setVringFd(msg);
        return [null, true];
      case Req.SET_VRING_ENABLE: {
        const s = decodeVringState(p);
        const r = this.ring(s.index);
        r.enabled = s.num !== 0;
        if (r.enabled) this.maybeStart(s.index);
        else if (r.queue) {
          r.base = r.queue.lastAvail;
          r.queue = null;
          this.dev.stop(s.index);
        }
        return [null, false];
      }
      case Req.GET_CONFIG: {
        const c = decodeConfig(p);
        const space = this.dev.config();
        if (c.offset + c.size > space.length) throw new ProtocolError(`GET_CONFIG: ${c.size} bytes at ${c.offset} (the config space has ${space.length})`);
        return [encodeConfigReply(msg.request, c, space.subarray(c.offset, c.offset + c.size)), false];
      }
      case Req.SET_CONFIG:
        return [null, false]; // vsock's config (the guest CID) is read-only
      case Req.SET_STATUS:
        return [null, false];
      default:
        throw new ProtocolError(`${reqName(msg.request)} is not supported`);
    }
  }

  private setMemTable(msg: Message): void {
    const table = decodeMemTable(msg.payload);
    if (msg.fds.length !== table.length) throw new ProtocolError(`SET_MEM_TABLE: ${table.length} regions but ${msg.fds.length} fds`);
    const running = this.rings.map((r) => r.queue !== null);
    this.rings.forEach((_, i) => running[i] && this.pauseRing(i));
    this.mapTable(table.map((region, i) => ({ region, fd: msg.fds[i]! })));
    const mib = table.reduce((sum, r) => sum + r.size, 0n) >> 20n;
    this.io.log(`vhost-user: memory table of ${table.length} region${table.length === 1 ? "" : "s"} (${mib} MiB) mapped`);
    this.rings.forEach((_, i) => running[i] && this.maybeStart(i));
  }

  /** Maps a memory table (its fds are kept, and closed when the table is replaced). */
  private mapTable(entries: { region: MemRegion; fd: number }[]): void {
    const table = entries.map((e) => e.region);
    const maps: MappedMemory[] = [];
    let memory: GuestMemory;
    try {
      memory = GuestMemory.fromTable(table, (r, i) => {
        // mmap wants a page-aligned offset: map from the page start and skip the rest.
        const off = Number(r.mmapOffset);
        const aligned = off - (off % 4096);
        const m = this.io.map(entries[i]!.fd, Number(r.size) + (off - aligned), aligned);
        maps.push(m);
        return m.bytes.subarray(off - aligned);
      });
    } catch (e) {
      for (const m of maps) m.unmap();
      throw e; // the caller still owns the fds
    }
    this.dropTable();
    this.memory = memory;
    this.maps = maps;
    this.table = entries;
  }

  private dropTable(): void {
    for (const m of this.maps) m.unmap();
    for (const t of this.table) this.io.closeFd(t.fd);
    this.maps = [];
    this.table = [];
    this.memory = null;
  }

  private setVringFd(msg: Message): void {
    const { index, noFd } = decodeVringFd(msg.payload);
    const r = this.rings[index];
    const fd = noFd ? -1 : msg.fds[0];
    for (const extra of msg.fds.slice(noFd ? 0 : 1)) this.io.closeFd(extra);
    if (!r) {
      if (fd !== undefined && fd >= 0) this.io.closeFd(fd);
      throw new ProtocolError(`vring ${index} does not exist`);
    }
    if (fd === undefined) throw new ProtocolError(`${reqName(msg.request)}: no fd and no 'no fd' flag`);
    if (msg.request === Req.SET_VRING_KICK) {
      if (r.kickFd >= 0) {
        this.io.unwatchKick(r.kickFd);
        this.io.closeFd(r.kickFd);
      }
      r.kickFd = fd;
      if (fd < 0) throw new ProtocolError("SET_VRING_KICK without an fd (polling) is not supported");
      if (r.queue) {
        // A new kick fd for a running ring: watch it, and look at the ring once.
        this.io.watchKick(fd, () => this.dev.kick(index));
        this.dev.kick(index);
      } else this.maybeStart(index);
    } else if (msg.request === Req.SET_VRING_CALL) {
      if (r.callFd >= 0) this.io.closeFd(r.callFd);
      r.callFd = fd;
    } else {
      if (r.errFd >= 0) this.io.closeFd(r.errFd);
      r.errFd = fd;
    }
  }

  private maybeStart(index: number): void {
    const r = this.rings[index]!;
    if (r.queue || !r.enabled || !r.addr || r.kickFd < 0 || !r.num || !this.memory) return;
    r.queue = new SplitQueue(this.memory, r.num, { desc: Number(r.addr.desc), avail: Number(r.addr.avail), used: Number(r.addr.used) }, r.base);
    this.io.watchKick(r.kickFd, () => this.dev.kick(index));
    this.io.log(`vhost-user: vring ${index} running (${r.num} entries, from avail index ${r.base})`);
    this.dev.start(index, r.queue);
  }

  /** Stops a ring for a moment (a new memory table): its place is kept in base. */
  private pauseRing(index: number): void {
    const r = this.rings[index]!;
    if (!r.queue) return;
    r.base = r.queue.lastAvail;
    r.queue = null;
    this.io.unwatchKick(r.kickFd);
    this.dev.stop(index);
  }

  private stopRing(index: number): void {
    const r = this.rings[index]!;
    this.pauseRing(index);
    if (r.kickFd >= 0) {
      this.io.unwatchKick(r.kickFd);
      this.io.closeFd(r.kickFd);
      r.kickFd = -1;
    }
    if (this.rings.every((x) => !x.queue)) this.dev.reset("the rings stopped");
  }

  /** Signals the guest that ring `index` has used buffers (if it wants to know). */
  notify(index: number): void {
    const r = this.rings[index];
    if (r && r.callFd >= 0 && r.queue?.wantsInterrupt()) this.io.signal(r.callFd);
  }

  /** Forgets every ring and the memory (RESET_OWNER, or the front-end went away). */
  reset(why: string): void {
    this.rings.forEach((_, i) => this.pauseRing(i));
    for (const r of this.rings) {
      if (r.kickFd >= 0) {
        this.io.unwatchKick(r.kickFd);
        this.io.closeFd(r.kickFd);
      }
      for (const fd of [r.callFd, r.errFd]) if (fd >= 0) this.io.closeFd(fd);
    }
    this.rings = this.rings.map(newRing);
    this.dev.reset(why);
    this.dropTable();
    this.features = 0n;
    this.protocolFeatures = 0n;
  }

  /** The session's state and fds; the rings stop (the back-end is about to exec). */
  snapshot(): BackendSnapshot {
    this.rings.forEach((_, i) => this.pauseRing(i));
    return this.describe();
  }

  /** The session's state and fds as they are, the rings left running (for a store that outlives the process). */
  describe(): BackendSnapshot {
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    return {
      features: hex(this.features),
      protocolFeatures: hex(this.protocolFeatures),
      memory: this.table.map((t) => ({
        fd: t.fd,
        guestAddr: hex(t.region.guestAddr),
        size: hex(t.region.size),
        userAddr: hex(t.region.userAddr),
        mmapOffset: hex(t.region.mmapOffset),
      })),
      rings: this.rings.map((r) => ({
        num: r.num,
        addr: r.addr && {
          index: r.addr.index,
          flags: r.addr.flags,
          desc: hex(r.addr.desc),
          used: hex(r.addr.used),
          avail: hex(r.addr.avail),
          log: hex(r.addr.log),
        },
        base: r.base,
        kickFd: r.kickFd,
        callFd: r.callFd,
        errFd: r.errFd,
        enabled: r.enabled,
        ...(r.queue ? { running: true } : {}),
      })),
    };
  }

  /**
   * Takes over a session from a snapshot (after the exec, or after a crash from the file
   * descriptor store): memory mapped again, rings running. A ring that was running when a
   * describe() was taken resumes at the used index in guest memory: every chain is returned
   * before the back-end yields, so that is where it stood, and a chain taken by a process that
   * died before returning it is taken again. The guest gets one interrupt per ring, in case
   * the process died between returning chains and signalling them.
   */
  restore(s: BackendSnapshot): void {
    if (s.rings.length !== this.rings.length) throw new Error(`snapshot of ${s.rings.length} rings, the device has ${this.rings.length}`);
    this.features = BigInt(s.features);
    this.protocolFeatures = BigInt(s.protocolFeatures);
    if (s.memory.length) {
      this.mapTable(
        s.memory.map((m) => ({
          fd: m.fd,
          region: { guestAddr: BigInt(m.guestAddr), size: BigInt(m.size), userAddr: BigInt(m.userAddr), mmapOffset: BigInt(m.mmapOffset) },
        })),
      );
    }
    this.rings = s.rings.map((r) => ({
      num: r.num,
      addr: r.addr && {
        index: r.addr.index,
        flags: r.addr.flags,
        desc: BigInt(r.addr.desc),
        used: BigInt(r.addr.used),
        avail: BigInt(r.addr.avail),
        log: BigInt(r.addr.log),
      },
      base: r.base,
      kickFd: r.kickFd,
      callFd: r.callFd,
      errFd: r.errFd,
      enabled: r.enabled,
      queue: null,
    }));
    s.rings.forEach((r, i) => {
      const ring = this.rings[i]!;
      if (!r.running || !ring.addr || !this.memory) return;
      const used = this.memory.user(Number(ring.addr.used), 4); // flags, idx (u16 each)
      ring.base = new DataView(used.buffer, used.byteOffset, 4).getUint16(2, true);
    });
    this.rings.forEach((_, i) => this.maybeStart(i));
    s.rings.forEach((r, i) => r.running && this.rings[i]!.callFd >= 0 && this.io.signal(this.rings[i]!.callFd));
  }

  /** Every fd the session holds (to keep open across an exec). */
  fds(): number[] {
    return [...this.table.map((t) => t.fd), ...this.rings.flatMap((r) => [r.kickFd, r.callFd, r.errFd])].filter((fd) => fd >= 0);
  }

  get negotiated(): { features: bigint; protocolFeatures: bigint } {
    return { features: this.features, protocolFeatures: this.protocolFeatures };
  }
}
