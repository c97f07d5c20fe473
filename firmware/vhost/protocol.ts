/**
 * The vhost-user wire format (QEMU's docs/interop/vhost-user.rst), pure: message numbers,
 * feature bits, decoding the front-end's requests and encoding the back-end's replies.
 *
 * A message is a 12-byte header (request u32, flags u32, size u32, little-endian) and `size`
 * bytes of payload; fds travel beside the header as SCM_RIGHTS. MessageAssembler turns the
 * stream (chunks with the fds that came with them) back into whole messages.
 */

export const Req = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  RESET_DEVICE: 34,
  GET_MAX_MEM_SLOTS: 36,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;

export const reqName = (r: number): string => Object.entries(Req).find(([, v]) => v === r)?.[0] ?? `request ${r}`;

export const FLAG_VERSION = 0x1;
export const FLAG_REPLY = 0x4;
export const FLAG_NEED_REPLY = 0x8;
export const HEADER_SIZE = 12;
/** Larger payloads are refused (the biggest legal one, a memory table of 8 regions, is 264 bytes). */
export const MAX_PAYLOAD = 4096;

/** Virtio feature bits (u64 bit numbers). */
export const F = {
  NOTIFY_ON_EMPTY: 24,
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  PROTOCOL_FEATURES: 30, // VHOST_USER_F_PROTOCOL_FEATURES
  VERSION_1: 32,
} as const;

/** Protocol feature bits. */
export const PF = {
  MQ: 0,
  REPLY_ACK: 3,
  CONFIG: 9,
} as const;

export const bit = (n: number): bigint => 1n << BigInt(n);

export interface Message {
  request: number;
  flags: number;
  payload: Uint8Array;
  fds: number[];
}

export interface VringState {
  index: number;
  num: number;
}

export interface VringAddr {
  index: number;
  flags: number;
  desc: bigint;
  used: bigint;
  avail: bigint;
  log: bigint;
}

export interface MemRegion {
  guestAddr: bigint;
  size: bigint;
  userAddr: bigint;
  mmapOffset: bigint;
}

export interface ConfigRequest {
  offset: number;
  size: number;
  flags: number;
}

class ProtocolError extends Error {}
export { ProtocolError };

function view(p: Uint8Array, need: number, what: string): DataView {
  if (p.length < need) throw new ProtocolError(`${what}: payload of ${p.length} bytes, need ${need}`);
  return new DataView(p.buffer, p.byteOffset, p.length);
}

export function decodeU64(p: Uint8Array, what = "u64"): bigint {
  return view(p, 8, what).getBigUint64(0, true);
}

export function decodeVringState(p: Uint8Array): VringState {
  const v = view(p, 8, "vring state");
  return { index: v.getUint32(0, true), num: v.getUint32(4, true) };
}

export function decodeVringAddr(p: Uint8Array): VringAddr {
  const v = view(p, 40, "vring address");
  return {
    index: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    desc: v.getBigUint64(8, true),
    used: v.getBigUint64(16, true),
    avail: v.getBigUint64(24, true),
    log: v.getBigUint64(32, true),
  };
}

export const MAX_REGIONS = 8;

export function decodeMemTable(p: Uint8Array): MemRegion[] {
  const v = view(p, 8, "memory table");
  const n = v.getUint32(0, true);
  if (n > MAX_REGIONS) throw new ProtocolError(`memory table: ${n} regions (at most ${MAX_REGIONS})`);
  view(p, 8 + n * 32, "memory table");
  return Array.from({ length: n }, (_, i) => {
    const o = 8 + i * 32;
    return {
      guestAddr: v.getBigUint64(o, true),
      size: v.getBigUint64(o + 8, true),
      userAddr: v.getBigUint64(o + 16, true),
      mmapOffset: v.getBigUint64(o + 24, true),
    };
  });
}

/** SET_VRING_KICK/CALL/ERR: the ring index and whether an fd came (bit 8 set: none, polling). */
export function decodeVringFd(p: Uint8Array): { index: number; noFd: boolean } {
  const u = decodeU64(p, "vring fd");
  return { index: Number(u & 0xffn), noFd: (u & 0x100n) !== 0n };
}

export function decodeConfig(p: Uint8Array): ConfigRequest {
  const v = view(p, 12, "config");
  return { offset: v.getUint32(0, true), size: v.getUint32(4, true), flags: v.getUint32(8, true) };
}

function header(request: number, size: number): { bytes: Uint8Array; dv: DataView } {
  const bytes = new Uint8Array(HEADER_SIZE + size);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, request, true);
  dv.setUint32(4, FLAG_VERSION | FLAG_REPLY, true);
  dv.setUint32(8, size, true);
  return { bytes, dv };
}

export function encodeU64Reply(request: number, value: bigint): Uint8Array {
  const { bytes, dv } = header(request, 8);
  dv.setBigUint64(HEADER_SIZE, value, true);
  return bytes;
}

export function encodeVringStateReply(request: number, s: VringState): Uint8Array {
  const { bytes, dv } = header(request, 8);
  dv.setUint32(HEADER_SIZE, s.index, true);
  dv.setUint32(HEADER_SIZE + 4, s.num, true);
  return bytes;
}

export function encodeConfigReply(request: number, c: ConfigRequest, data: Uint8Array): Uint8Array {
  const { bytes, dv } = header(request, 12 + data.length);
  dv.setUint32(HEADER_SIZE, c.offset, true);
  dv.setUint32(HEADER_SIZE + 4, data.length, true);
  dv.setUint32(HEADER_SIZE + 8, c.flags, true);
  bytes.set(data, HEADER_SIZE + 12);
  return bytes;
}

/** Encodes a request the way a front-end sends it (tests, recorded sessions). */
export function encodeRequest(request: number, payload: Uint8Array = new Uint8Array(0), flags = FLAG_VERSION): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE + payload.length);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, request, true);
  dv.setUint32(4, flags, true);
  dv.setUint32(8, payload.length, true);
  bytes.set(payload, HEADER_SIZE);
  return bytes;
}

/**
 * Reassembles messages from a byte stream. fds are bound to the message holding the last byte
 * of the chunk they came with: a unix stream read may gather data sent before the message that
 * carried fds, but stops right after taking them. Reading exactly want() bytes at a time (a
 * header, then its payload) keeps every chunk within one message anyway.
 */
export class MessageAssembler {
  private buf = new Uint8Array(0);
  /** fds waiting for their message: [offset of the chunk's last byte relative to buf start, fds]. */
  private pendingFds: { at: number; fds: number[] }[] = [];

  /** How many bytes complete the header or the message under way. */
  want(): number {
    if (this.buf.length < HEADER_SIZE) return HEADER_SIZE - this.buf.length;
    const size = new DataView(this.buf.buffer, this.buf.byteOffset, HEADER_SIZE).getUint32(8, true);
    return Math.max(1, Math.min(HEADER_SIZE + size, HEADER_SIZE + MAX_PAYLOAD) - this.buf.length);
  }

  push(chunk: Uint8Array, fds: number[] = []): void {
    if (fds.length) this.pendingFds.push({ at: this.buf.length + Math.max(0, chunk.length - 1), fds });
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
  }

  /** The next whole message, or null. Throws ProtocolError on a malformed header. */
  next(): Message | null {
    if (this.buf.length < HEADER_SIZE) return null;
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, HEADER_SIZE);
    const request = dv.getUint32(0, true);
    const flags = dv.getUint32(4, true);
    const size = dv.getUint32(8, true);
    if ((flags & 0x3) !== FLAG_VERSION) throw new ProtocolError(`${reqName(request)}: version ${flags & 0x3} (only 1 is spoken)`);
    if (size > MAX_PAYLOAD) throw new ProtocolError(`${reqName(request)}: payload of ${size} bytes (at most ${MAX_PAYLOAD})`);
    const total = HEADER_SIZE + size;
    if (this.buf.length < total) return null;
    const payload = this.buf.slice(HEADER_SIZE, total);
    const fds: number[] = [];
    const rest: { at: number; fds: number[] }[] = [];
    for (const p of this.pendingFds) {
      if (p.at < total) fds.push(...p.fds);
      else rest.push({ at: p.at - total, fds: p.fds });
    }
    this.pendingFds = rest;
    this.buf = this.buf.slice(total);
    return { request, flags, payload, fds };
  }

  /** fds received but not yet handed out (to close when the connection ends). */
  strayFds(): number[] {
    return this.pendingFds.flatMap((p) => p.fds);
  }
}
