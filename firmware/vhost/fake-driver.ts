/**
 * For tests: a virtio driver in a plain ArrayBuffer. It lays out split rings in "guest
 * memory", offers descriptor chains the way Linux does (chained or indirect) and reads the
 * used ring back, so the device side runs against memory built exactly as a guest builds it.
 */
import { GuestMemory } from "./memory.ts";
import { DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, type RingAddresses } from "./virtqueue.ts";

/** Where the fake front-end "mapped" guest memory (user addresses = this + guest address). */
export const USER_BASE = 0x7f00_0000_0000;

export class FakeGuestMemory {
  readonly bytes: Uint8Array;
  private top = 0x1000;

  constructor(
    readonly size = 1 << 20,
    bytes?: Uint8Array,
  ) {
    this.bytes = bytes ?? new Uint8Array(size);
  }

  memory(): GuestMemory {
    return new GuestMemory([{ guestAddr: 0, userAddr: USER_BASE, size: this.size, bytes: this.bytes }]);
  }

  /** Allocates len bytes (aligned) and returns the guest address. */
  alloc(len: number, align = 16): number {
    this.top = Math.ceil(this.top / align) * align;
    const a = this.top;
    this.top += len;
    if (this.top > this.size) throw new Error("fake guest memory is full");
    return a;
  }

  /** The allocation mark, to rewind to (buffers the device has returned can be reused). */
  mark(): number {
    return this.top;
  }
  rewind(mark: number): void {
    this.top = mark;
  }

  view(addr: number, len: number): DataView {
    return new DataView(this.bytes.buffer, addr, len);
  }
}

export interface Buf {
  /** Bytes the driver writes (device-readable); or `writable` bytes of room for the device. */
  data?: Uint8Array;
  writable?: number;
}

export class FakeDriver {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsed = 0;
  /** Guest addresses of the writable buffers of each offered chain, by head. */
  readonly writableOf = new Map<number, { addr: number; len: number }[]>();

  constructor(
    readonly mem: FakeGuestMemory,
    readonly size = 16,
  ) {
    this.desc = mem.alloc(16 * size);
    this.avail = mem.alloc(6 + 2 * size, 2);
    this.used = mem.alloc(6 + 8 * size, 4);
  }

  addresses(): RingAddresses {
    return { desc: USER_BASE + this.desc, avail: USER_BASE + this.avail, used: USER_BASE + this.used };
  }

  private writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const dv = this.mem.view(table + 16 * i, 16);
    dv.setBigUint64(0, BigInt(addr), true);
    dv.setUint32(8, len, true);
    dv.setUint16(12, flags, true);
    dv.setUint16(14, next, true);
  }

  private place(bufs: Buf[]): { addr: number; len: number; flags: number }[] {
    return bufs.map((b) => {
      const len = b.data ? b.data.length : b.writable!;
      const addr = this.mem.alloc(len);
      if (b.data) this.mem.bytes.set(b.data, addr);
      return { addr, len, flags: b.data ? 0 : DESC_F_WRITE };
    });
  }

  /** Offers a chain of descriptors (or one indirect descriptor holding them); returns its head. */
  offer(bufs: Buf[], opts: { indirect?: boolean; publish?: boolean } = {}): number {
    const placed = this.place(bufs);
    const head = this.nextDesc % this.size;
    if (opts.indirect) {
      const table = this.mem.alloc(16 * placed.length);
      placed.forEach((p, i) => this.writeDesc(table, i, p.addr, p.len, p.flags | (i < placed.length - 1 ? DESC_F_NEXT : 0), i + 1));
      this.writeDesc(this.desc, head, table, 16 * placed.length, DESC_F_INDIRECT, 0);
      this.nextDesc++;
    } else {
      placed.forEach((p, i) => {
        const idx = (this.nextDesc + i) % this.size;
        this.writeDesc(this.desc, idx, p.addr, p.len, p.flags | (i < placed.length - 1 ? DESC_F_NEXT : 0), (idx + 1) % this.size);
      });
      this.nextDesc += placed.length;
    }
    this.writableOf.set(
      head,
      placed.filter((p) => p.flags & DESC_F_WRITE),
    );
    const dv = this.mem.view(this.avail, 6 + 2 * this.size);
    dv.setUint16(4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    if (opts.publish !== false) dv.setUint16(2, this.availIdx, true);
    return head;
  }

  /** Writes a raw descriptor (for malformed-chain tests). */
  rawDesc(i: number, addr: number, len: number, flags: number, next: number): void {
    this.writeDesc(this.desc, i, addr, len, flags, next);
  }

  /** Makes head available without placing buffers. */
  publishHead(head: number): void {
    const dv = this.mem.view(this.avail, 6 + 2 * this.size);
    dv.setUint16(4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    dv.setUint16(2, this.availIdx, true);
  }

  setNoInterrupt(on: boolean): void {
    this.mem.view(this.avail, 2).setUint16(0, on ? 1 : 0, true);
  }

  /** Used entries the device returned since the last call, with what it wrote. */
  takeUsed(): { head: number; len: number; written: Uint8Array }[] {
    const dv = this.mem.view(this.used, 6 + 8 * this.size);
    const idx = dv.getUint16(2, true);
    const out: { head: number; len: number; written: Uint8Array }[] = [];
    while (this.lastUsed !== idx) {
      const o = 4 + 8 * (this.lastUsed % this.size);
      const head = dv.getUint32(o, true);
      const len = dv.getUint32(o + 4, true);
      const parts = (this.writableOf.get(head) ?? []).map((w) => this.mem.bytes.slice(w.addr, w.addr + w.len));
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      out.push({ head, len, written: all.subarray(0, len) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}
