/**
 * The virtio-vsock packet header (virtio 1.2, 5.10.6): 44 bytes, little-endian, before each
 * packet's payload on the rx and tx virtqueues. Pure encode/decode.
 */

export const HDR_SIZE = 44;
export const HOST_CID = 2;
export const TYPE_STREAM = 1;

export const Op = {
  INVALID: 0,
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;

export const SHUTDOWN_RCV = 1;
export const SHUTDOWN_SEND = 2;

export interface PacketHeader {
  srcCid: number;
  dstCid: number;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

const u64 = (dv: DataView, o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x1_0000_0000;

export function decodeHeader(b: Uint8Array): PacketHeader {
  if (b.length < HDR_SIZE) throw new Error(`vsock packet of ${b.length} bytes (the header alone is ${HDR_SIZE})`);
  const dv = new DataView(b.buffer, b.byteOffset, HDR_SIZE);
  return {
    srcCid: u64(dv, 0),
    dstCid: u64(dv, 8),
    srcPort: dv.getUint32(16, true),
    dstPort: dv.getUint32(20, true),
    len: dv.getUint32(24, true),
    type: dv.getUint16(28, true),
    op: dv.getUint16(30, true),
    flags: dv.getUint32(32, true),
    bufAlloc: dv.getUint32(36, true),
    fwdCnt: dv.getUint32(40, true),
  };
}

/** Writes h into the first HDR_SIZE bytes of out. */
export function encodeHeader(h: PacketHeader, out: Uint8Array = new Uint8Array(HDR_SIZE)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, HDR_SIZE);
  dv.setUint32(0, h.srcCid >>> 0, true);
  dv.setUint32(4, Math.floor(h.srcCid / 0x1_0000_0000), true);
  dv.setUint32(8, h.dstCid >>> 0, true);
  dv.setUint32(12, Math.floor(h.dstCid / 0x1_0000_0000), true);
  dv.setUint32(16, h.srcPort, true);
  dv.setUint32(20, h.dstPort, true);
  dv.setUint32(24, h.len, true);
  dv.setUint16(28, h.type, true);
  dv.setUint16(30, h.op, true);
  dv.setUint32(32, h.flags, true);
  dv.setUint32(36, h.bufAlloc, true);
  dv.setUint32(40, h.fwdCnt >>> 0, true);
  return out;
}

export const opName = (op: number): string => Object.entries(Op).find(([, v]) => v === op)?.[0] ?? `op ${op}`;
