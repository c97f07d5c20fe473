/**
 * A split virtqueue (virtio 1.x, 2.7) from the device side, pure over GuestMemory: pop() takes
 * the next available descriptor chain (chained and indirect descriptors) as views of guest
 * memory, push() returns it through the used ring. Event index is not implemented, so it is
 * never negotiated; interrupts follow the driver's VRING_AVAIL_F_NO_INTERRUPT flag.
 *
 * Ordering: the driver's ring entries are read after its index and ours are written before
 * our index, in program order; x86 keeps stores and loads in order, which is what this relies
 * on (an aarch64 back-end would need barriers that JavaScript does not offer on plain memory).
 */
import type { GuestMemory } from "./memory.ts";

export const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;
export const DESC_F_INDIRECT = 4;
export const AVAIL_F_NO_INTERRUPT = 1;

export interface Chain {
  head: number;
  /** Driver-written buffers (device reads), in order. */
  readable: Uint8Array[];
  /** Device-writable buffers, in order. */
  writable: Uint8Array[];
}

export interface RingAddresses {
  /** Front-end user addresses (SET_VRING_ADDR). */
  desc: number;
  avail: number;
  used: number;
}

export class QueueError extends Error {}

const u64 = (dv: DataView, o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x1_0000_0000;

export class SplitQueue {
  private readonly desc: DataView;
  private readonly avail: DataView;
  private readonly used: DataView;
  /** Next avail ring slot to read (free-running u16). */
  lastAvail: number;
  private usedIdx: number;

  constructor(
    private readonly mem: GuestMemory,
    readonly size: number,
    addr: RingAddresses,
    lastAvail = 0,
  ) {
    if (!size || size > 32768 || (size & (size - 1)) !== 0) throw new QueueError(`queue size ${size} is not a power of 2 up to 32768`);
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);
    this.desc = dv(mem.user(addr.desc, 16 * size));
    this.avail = dv(mem.user(addr.avail, 6 + 2 * size));
    this.used = dv(mem.user(addr.used, 6 + 8 * size));
    this.lastAvail = lastAvail & 0xffff;
    this.usedIdx = this.used.getUint16(2, true);
  }

  /** How many chains the driver has made available and we have not taken. */
  pending(): number {
    return (this.avail.getUint16(2, true) - this.lastAvail) & 0xffff;
  }

  /** The next available chain, or null when the driver has given none. */
  pop(): Chain | null {
    if (!this.pending()) return null;
    const head = this.avail.getUint16(4 + 2 * (this.lastAvail % this.size), true);
    if (head >= this.size) throw new QueueError(`avail ring entry ${head} is beyond the queue size ${this.size}`);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    const chain: Chain = { head, readable: [], writable: [] };
    this.walk(this.desc, this.size, head, chain, false);
    return chain;
  }

  private walk(table: DataView, count: number, first: number, chain: Chain, indirect: boolean): void {
    let i = first;
    for (let hops = 0; ; hops++) {
      if (hops >= count) throw new QueueError("descriptor chain loops or is longer than its table");
      const o = 16 * i;
      const addr = u64(table, o);
      const len = table.getUint32(o + 8, true);
      const flags = table.getUint16(o + 12, true);
      if (flags & DESC_F_INDIRECT) {
        if (indirect) throw new QueueError("an indirect descriptor inside an indirect table");
        if (len % 16 || !len) throw new QueueError(`indirect table of ${len} bytes`);
        const t = this.mem.guest(addr, len);
        this.walk(new DataView(t.buffer, t.byteOffset, t.length), len / 16, 0, chain, true);
      } else {
        const b = this.mem.guest(addr, len);
        (flags & DESC_F_WRITE ? chain.writable : chain.readable).push(b);
      }
      if (!(flags & DESC_F_NEXT)) return;
      i = table.getUint16(o + 14, true);
      if (i >= count) throw new QueueError(`descriptor next ${i} is beyond the table (${count})`);
    }
  }

  /** Returns a chain to the driver with `len` bytes written into its writable buffers. */
  push(head: number, len: number): void {
    const o = 4 + 8 * (this.usedIdx % this.size);
    this.used.setUint32(o, head, true);
    this.used.setUint32(o + 4, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.used.setUint16(2, this.usedIdx, true);
  }

  /** Puts a popped chain back (it was not used): the next pop() returns it again. */
  unpop(): void {
    this.lastAvail = (this.lastAvail - 1) & 0xffff;
  }

  /** Whether the driver wants an interrupt for used buffers. */
  wantsInterrupt(): boolean {
    return (this.avail.getUint16(0, true) & AVAIL_F_NO_INTERRUPT) === 0;
  }
}

/** Copies data into a chain's writable buffers from offset `at`; returns the bytes copied. */
export function writeChain(bufs: Uint8Array[], data: Uint8Array, at = 0): number {
  let skip = at;
  let done = 0;
  for (const b of bufs) {
    if (done === data.length) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    const n = Math.min(b.length - skip, data.length - done);
    b.set(data.subarray(done, done + n), skip);
    done += n;
    skip = 0;
  }
  return done;
}

export function chainLength(bufs: Uint8Array[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/** The readable buffers as one byte array (a view when there is one buffer). */
export function gather(bufs: Uint8Array[]): Uint8Array {
  if (bufs.length === 1) return bufs[0]!;
  const out = new Uint8Array(chainLength(bufs));
  let o = 0;
  for (const b of bufs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
