/**
 * The guest's memory as the back-end sees it: the regions of SET_MEM_TABLE, each mapped from
 * its fd, found either by guest-physical address (descriptor buffers) or by the front-end's
 * user address (the vring addresses of SET_VRING_ADDR). Pure: the bytes of each region are
 * handed in (a mapping in production, a plain buffer in tests).
 */
import type { MemRegion } from "./protocol.ts";

export interface MappedRegion {
  guestAddr: number;
  userAddr: number;
  size: number;
  /** The region's bytes, index 0 = guestAddr. */
  bytes: Uint8Array;
}

export class MemoryError extends Error {}

export class GuestMemory {
  readonly regions: MappedRegion[];

  constructor(regions: MappedRegion[]) {
    this.regions = regions;
  }

  /** Regions of a decoded table with their bytes (Number addresses: below 2^53 on any real guest). */
  static fromTable(table: MemRegion[], bytesOf: (r: MemRegion, i: number) => Uint8Array): GuestMemory {
    return new GuestMemory(table.map((r, i) => ({ guestAddr: Number(r.guestAddr), userAddr: Number(r.userAddr), size: Number(r.size), bytes: bytesOf(r, i) })));
  }

  /** len bytes at guest-physical addr, as a view into the mapping (never a copy). */
  guest(addr: number, len: number): Uint8Array {
    for (const r of this.regions) {
      if (addr >= r.guestAddr && addr + len <= r.guestAddr + r.size) return r.bytes.subarray(addr - r.guestAddr, addr - r.guestAddr + len);
    }
    throw new MemoryError(`guest address 0x${addr.toString(16)} (+${len}) is outside guest memory`);
  }

  /** len bytes at the front-end's user address addr. */
  user(addr: number, len: number): Uint8Array {
    for (const r of this.regions) {
      if (addr >= r.userAddr && addr + len <= r.userAddr + r.size) return r.bytes.subarray(addr - r.userAddr, addr - r.userAddr + len);
    }
    throw new MemoryError(`front-end address 0x${addr.toString(16)} (+${len}) is outside guest memory`);
  }
}
