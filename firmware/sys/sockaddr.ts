/**
 * Socket addresses as bunit models them, and their kernel byte layout (struct sockaddr_*).
 * Pure: no system calls.
 */
import { AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, AF_VSOCK, VMADDR_CID_ANY } from "./constants.ts";
import { formatIPv4, formatIPv6, isV4Mapped } from "./ip.ts";

export type SockAddr =
  | { family: "unix"; path: string; abstract: boolean }
  | { family: "inet"; addr: Uint8Array; port: number }
  | { family: "inet6"; addr: Uint8Array; port: number; scopeId: number; flowInfo?: number }
  | { family: "vsock"; cid: number; port: number }
  | { family: "netlink"; pid: number; groups: number };

export const SOCKADDR_MAX = 128; // sizeof(struct sockaddr_storage)
const UNIX_PATH_MAX = 108;

export function familyNumber(a: SockAddr): number {
  switch (a.family) {
    case "unix":
      return AF_UNIX;
    case "inet":
      return AF_INET;
    case "inet6":
      return AF_INET6;
    case "vsock":
      return AF_VSOCK;
    case "netlink":
      return AF_NETLINK;
  }
}

export function encodeSockAddr(a: SockAddr): Uint8Array {
  const buf = new Uint8Array(SOCKADDR_MAX);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, familyNumber(a), true);
  switch (a.family) {
    case "unix": {
      const name = new TextEncoder().encode(a.path);
      if (a.abstract) {
        if (name.length + 1 > UNIX_PATH_MAX) throw new RangeError(`abstract socket name too long: @${a.path}`);
        buf[2] = 0;
        buf.set(name, 3);
        return buf.slice(0, 3 + name.length);
      }
      if (name.length + 1 > UNIX_PATH_MAX) throw new RangeError(`socket path too long (max ${UNIX_PATH_MAX - 1} bytes): ${a.path}`);
      buf.set(name, 2);
      return buf.slice(0, 2 + name.length + 1);
    }
    case "inet":
      dv.setUint16(2, a.port, false);
      buf.set(a.addr, 4);
      return buf.slice(0, 16);
    case "inet6":
      dv.setUint16(2, a.port, false);
      dv.setUint32(4, a.flowInfo ?? 0, false);
      buf.set(a.addr, 8);
      dv.setUint32(24, a.scopeId, true);
      return buf.slice(0, 28);
    case "vsock":
      dv.setUint32(4, a.port >>> 0, true);
      dv.setUint32(8, a.cid >>> 0, true);
      return buf.slice(0, 16);
    case "netlink":
      dv.setUint32(4, a.pid >>> 0, true);
      dv.setUint32(8, a.groups >>> 0, true);
      return buf.slice(0, 12);
  }
}

export function decodeSockAddr(bytes: Uint8Array, len = bytes.length): SockAddr | null {
  if (len < 2) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const fam = dv.getUint16(0, true);
  switch (fam) {
    case AF_UNIX: {
      if (len <= 2) return { family: "unix", path: "", abstract: false };
      if (bytes[2] === 0) return { family: "unix", path: new TextDecoder().decode(bytes.subarray(3, len)), abstract: true };
      let end = 2;
      while (end < len && bytes[end] !== 0) end++;
      return { family: "unix", path: new TextDecoder().decode(bytes.subarray(2, end)), abstract: false };
    }
    case AF_INET:
      return { family: "inet", port: dv.getUint16(2, false), addr: bytes.slice(4, 8) };
    case AF_INET6:
      return { family: "inet6", port: dv.getUint16(2, false), flowInfo: dv.getUint32(4, false), addr: bytes.slice(8, 24), scopeId: dv.getUint32(24, true) };
    case AF_VSOCK:
      return { family: "vsock", port: dv.getUint32(4, true), cid: dv.getUint32(8, true) };
    case AF_NETLINK:
      return { family: "netlink", pid: dv.getUint32(4, true), groups: dv.getUint32(8, true) };
    default:
      return null;
  }
}

/** The host part as systemd prints REMOTE_ADDR (no port; v4-mapped v6 shown as v4). */
export function formatHost(a: SockAddr): string {
  switch (a.family) {
    case "unix":
      return a.abstract ? `@${a.path}` : a.path;
    case "inet":
      return formatIPv4(a.addr);
    case "inet6":
      return isV4Mapped(a.addr) ? formatIPv4(a.addr.subarray(12)) : formatIPv6(a.addr);
    case "vsock":
      return `vsock:${a.cid}`;
    case "netlink":
      return `netlink:${a.pid}`;
  }
}

/** Like systemd's sockaddr_pretty(include_port=true). */
export function formatSockAddr(a: SockAddr): string {
  switch (a.family) {
    case "unix":
      return a.abstract ? `@${a.path}` : a.path;
    case "inet":
      return `${formatIPv4(a.addr)}:${a.port}`;
    case "inet6":
      if (isV4Mapped(a.addr)) return `${formatIPv4(a.addr.subarray(12))}:${a.port}`;
      return `[${formatIPv6(a.addr)}]:${a.port}${a.scopeId ? `%${a.scopeId}` : ""}`;
    case "vsock":
      return a.cid === VMADDR_CID_ANY ? `vsock::${a.port}` : `vsock:${a.cid}:${a.port}`;
    case "netlink":
      return `netlink:${a.pid}:${a.groups}`;
  }
}
