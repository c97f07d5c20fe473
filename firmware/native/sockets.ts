/** Sockets: create, bind, listen, accept, options, addresses, credentials, messages with fds. Calls into libbunit.so through lib.ts. */
import { check, L } from "./lib.ts";
import { decodeSockAddr, encodeSockAddr, SOCKADDR_MAX, type SockAddr } from "../sys/sockaddr.ts";
import { SO_COOKIE, SOL_SOCKET } from "../sys/constants.ts";

// ---- sockets ---------------------------------------------------------------------------

export function socket(family: number, type: number, protocol = 0, blocking = false): number {
  return check(blocking ? L().bunit_socket_blocking(family, type, protocol) : L().bunit_socket(family, type, protocol), "socket");
}
export function bind(fd: number, addr: SockAddr, describe?: string): void {
  const b = encodeSockAddr(addr);
  check(L().bunit_bind(fd, b, b.length), "bind", describe);
}
export function listen(fd: number, backlog: number): void {
  check(L().bunit_listen(fd, backlog), "listen");
}
/** Returns true when connected, false when in progress (non-blocking socket). */
export function connect(fd: number, addr: SockAddr): boolean {
  const b = encodeSockAddr(addr);
  const r = L().bunit_connect(fd, b, b.length);
  if (r === -115 /* EINPROGRESS */) return false;
  check(r, "connect");
  return true;
}
export interface Accepted {
  fd: number;
  peer: SockAddr | null;
}
/** accept4(); null when there is nothing to accept (EAGAIN). */
export function accept(fd: number, flags: number): Accepted | null {
  const addr = new Uint8Array(SOCKADDR_MAX);
  const len = new Uint32Array([SOCKADDR_MAX]);
  const r = L().bunit_accept4(fd, addr, len, flags);
  if (r === -11) return null;
  const cfd = check(r, "accept4");
  return { fd: cfd, peer: decodeSockAddr(addr, len[0]!) };
}
export function shutdown(fd: number, how: number): void {
  check(L().bunit_shutdown(fd, how), "shutdown");
}
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  check(L().bunit_setsockopt_int(fd, level, name, value), "setsockopt", `(${level}, ${name})`);
}
export function setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array): void {
  check(L().bunit_setsockopt(fd, level, name, value.length ? value : new Uint8Array(1), value.length), "setsockopt", `(${level}, ${name})`);
}
export function getsockoptBytes(fd: number, level: number, name: number, size = 64): Uint8Array {
  const buf = new Uint8Array(size);
  const n = check(L().bunit_getsockopt(fd, level, name, buf, size), "getsockopt", `(${level}, ${name})`);
  return buf.subarray(0, n);
}
export function getsockoptInt(fd: number, level: number, name: number): number {
  const b = getsockoptBytes(fd, level, name, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
}
export function socketCookie(fd: number): bigint {
  const b = getsockoptBytes(fd, SOL_SOCKET, SO_COOKIE, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}
export function getsockname(fd: number): SockAddr | null {
  const buf = new Uint8Array(SOCKADDR_MAX);
  const n = check(L().bunit_getsockname(fd, buf, buf.length), "getsockname");
  return decodeSockAddr(buf, n);
}
export function getpeername(fd: number): SockAddr | null {
  const buf = new Uint8Array(SOCKADDR_MAX);
  const n = check(L().bunit_getpeername(fd, buf, buf.length), "getpeername");
  return decodeSockAddr(buf, n);
}
export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}
export function peercred(fd: number): Ucred {
  const out = new Int32Array(3);
  check(L().bunit_peercred(fd, out), "getsockopt", "SO_PEERCRED");
  return { pid: out[0]!, uid: out[1]! >>> 0, gid: out[2]! >>> 0 };
}
export function socketpair(family: number, type: number): [number, number] {
  const out = new Int32Array(2);
  check(L().bunit_socketpair(family, type, out), "socketpair");
  return [out[0]!, out[1]!];
}
export function send(fd: number, data: Uint8Array, flags = 0): number {
  return check(L().bunit_send(fd, data.length ? data : new Uint8Array(1), data.length, flags), "send");
}
/** recv(); null on EAGAIN. */
export function recv(fd: number, buf: Uint8Array, flags = 0): number | null {
  const r = Number(L().bunit_recv(fd, buf, buf.length, flags));
  if (r === -11) return null;
  return check(r, "recv");
}
export function sendto(fd: number, data: Uint8Array, addr: SockAddr, flags = 0): number {
  const a = encodeSockAddr(addr);
  return check(L().bunit_sendto(fd, data.length ? data : new Uint8Array(1), data.length, flags, a, a.length), "sendto");
}
export interface ReceivedMessage {
  /** Real datagram size (may exceed the buffer: see truncated). */
  size: number;
  truncated: boolean;
  controlTruncated: boolean;
  from: SockAddr | null;
  creds: Ucred | null;
}
/** recvmsg() with the sender address and SCM_CREDENTIALS; null on EAGAIN. */
export function recvmsgCreds(fd: number, buf: Uint8Array, flags = 0): ReceivedMessage | null {
  const addr = new Uint8Array(SOCKADDR_MAX);
  const meta = new Int32Array(6);
  const r = Number(L().bunit_recvmsg_creds(fd, buf, buf.length, addr, addr.length, meta, flags));
  if (r === -11) return null;
  const size = check(r, "recvmsg");
  return {
    size,
    truncated: size > buf.length,
    controlTruncated: (meta[5]! & 0x8) !== 0,
    from: meta[0]! > 0 ? decodeSockAddr(addr, meta[0]!) : null,
    creds: meta[4] ? { pid: meta[1]!, uid: meta[2]! >>> 0, gid: meta[3]! >>> 0 } : null,
  };
}
export function sendmsgCreds(fd: number, data: Uint8Array, to: SockAddr, creds: Ucred): number {
  const a = encodeSockAddr(to);
  return check(L().bunit_sendmsg_creds(fd, data, data.length, a, a.length, creds.pid, creds.uid, creds.gid), "sendmsg");
}
export function sendFds(fd: number, data: Uint8Array, fds: number[]): number {
  const arr = new Int32Array(fds.length ? fds : [0]);
  return check(L().bunit_send_fds(fd, data.length ? data : new Uint8Array(1), data.length, arr, fds.length), "sendmsg", "SCM_RIGHTS");
}
/** recvmsg() with SCM_RIGHTS; null on EAGAIN. */
export function recvFds(fd: number, buf: Uint8Array, maxFds: number): { size: number; fds: number[] } | null {
  const arr = new Int32Array(Math.max(1, maxFds));
  const n = new Uint32Array(1);
  const r = Number(L().bunit_recv_fds(fd, buf, buf.length, arr, maxFds, n));
  if (r === -11) return null;
  const size = check(r, "recvmsg", "SCM_RIGHTS");
  return { size, fds: Array.from(arr.subarray(0, n[0]!)) };
}

export interface NotifyMessage {
  size: number;
  truncated: boolean;
  creds: Ucred | null;
  fds: number[];
}
/** recvmsg() with SCM_CREDENTIALS and SCM_RIGHTS (the notify socket); null on EAGAIN. */
export function recvmsgNotify(fd: number, buf: Uint8Array, maxFds: number): NotifyMessage | null {
  const arr = new Int32Array(Math.max(1, maxFds));
  const nfds = new Uint32Array(1);
  const meta = new Int32Array(5);
  const r = Number(L().bunit_recvmsg_notify(fd, buf, buf.length, arr, maxFds, nfds, meta));
  if (r === -11) return null;
  const size = check(r, "recvmsg", "notify socket");
  return {
    size,
    truncated: size > buf.length || (meta[4]! & 0x8) !== 0,
    creds: meta[3] ? { pid: meta[0]!, uid: meta[1]! >>> 0, gid: meta[2]! >>> 0 } : null,
    fds: Array.from(arr.subarray(0, nfds[0]!)),
  };
}
