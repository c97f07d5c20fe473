/**
 * The one place that touches bun:ffi. Everything the kernel offers that Bun lacks goes
 * through native/libbunit.so (built by scripts/build-native.ts) and is exposed here as small
 * typed functions that throw SysError.
 *
 * Watching raw fds without blocking Bun's event loop
 * --------------------------------------------------
 * Bun has no API to wait for readiness on an fd it did not create (a listening socket we
 * bound ourselves, netlink, FIFOs, mqueues, FunctionFS ep0). Measured alternatives (Bun 1.4.5,
 * 20000 wake-ups of a socketpair, round trip re-arm -> write -> wake):
 *   - a native epoll thread calling a JSCallback({threadsafe: true}):        348 ms, but runs
 *     on an API Bun documents as experimental, and the callback is queued from a foreign thread;
 *   - a native epoll thread writing (token, events) records into a pipe that Bun reads with
 *     Bun.file(fd).stream() (Bun polls pipes in its own event loop):          433 ms, plain I/O;
 *   - new net.Socket({fd}) on that pipe: never delivered data; fs.createReadStream: crashed.
 * Chosen: the pipe. The native thread never enters JavaScript; fds are armed EPOLLONESHOT so
 * a busy socket cannot flood the pipe and the JS side decides when to listen again (which is
 * also how systemd stops watching a socket while its service runs). Idle cost: no CPU.
 */
import { dlopen, FFIType, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SysError } from "./sys/errno.ts";
import { decodeSockAddr, encodeSockAddr, SOCKADDR_MAX, type SockAddr } from "./sys/sockaddr.ts";
import { SO_COOKIE, SOL_SOCKET } from "./sys/constants.ts";

const { i32, u32, i64, u64, ptr: P, cstring } = FFIType;
void cstring;

const symbols = {
  bunit_abi_version: { args: [], returns: i32 },
  bunit_socket: { args: [i32, i32, i32], returns: i32 },
  bunit_socket_blocking: { args: [i32, i32, i32], returns: i32 },
  bunit_bind: { args: [i32, P, u32], returns: i32 },
  bunit_listen: { args: [i32, i32], returns: i32 },
  bunit_connect: { args: [i32, P, u32], returns: i32 },
  bunit_accept4: { args: [i32, P, P, i32], returns: i32 },
  bunit_shutdown: { args: [i32, i32], returns: i32 },
  bunit_setsockopt: { args: [i32, i32, i32, P, u32], returns: i32 },
  bunit_setsockopt_int: { args: [i32, i32, i32, i32], returns: i32 },
  bunit_getsockopt: { args: [i32, i32, i32, P, u32], returns: i32 },
  bunit_getsockname: { args: [i32, P, u32], returns: i32 },
  bunit_getpeername: { args: [i32, P, u32], returns: i32 },
  bunit_peercred: { args: [i32, P], returns: i32 },
  bunit_socketpair: { args: [i32, i32, P], returns: i32 },
  bunit_send: { args: [i32, P, u64, i32], returns: i64 },
  bunit_recv: { args: [i32, P, u64, i32], returns: i64 },
  bunit_sendto: { args: [i32, P, u64, i32, P, u32], returns: i64 },
  bunit_recvmsg_creds: { args: [i32, P, u64, P, u32, P, i32], returns: i64 },
  bunit_sendmsg_creds: { args: [i32, P, u64, P, u32, i32, i32, i32], returns: i64 },
  bunit_send_fds: { args: [i32, P, u64, P, u32], returns: i64 },
  bunit_recv_fds: { args: [i32, P, u64, P, u32, P], returns: i64 },
  bunit_open: { args: [P, i32, i32], returns: i32 },
  bunit_openat: { args: [i32, P, i32, i32], returns: i32 },
  bunit_close: { args: [i32], returns: i32 },
  bunit_read: { args: [i32, P, u64], returns: i64 },
  bunit_write: { args: [i32, P, u64], returns: i64 },
  bunit_mkfifo: { args: [P, i32], returns: i32 },
  bunit_fcntl: { args: [i32, i32, i64], returns: i32 },
  bunit_dup_cloexec: { args: [i32], returns: i32 },
  bunit_pipe: { args: [P], returns: i32 },
  bunit_ioctl: { args: [i32, u64, P], returns: i32 },
  bunit_fchown: { args: [i32, i32, i32], returns: i32 },
  bunit_lchown: { args: [P, i32, i32], returns: i32 },
  bunit_fchmod: { args: [i32, i32], returns: i32 },
  bunit_fstat: { args: [i32, P, P], returns: i32 },
  bunit_fsetxattr: { args: [i32, P, P, u32], returns: i32 },
  bunit_lsetxattr: { args: [P, P, P, u32], returns: i32 },
  bunit_poll1: { args: [i32, i32, i32], returns: i32 },
  bunit_mq_open: { args: [P, i32, i32, i64, i64], returns: i32 },
  bunit_mq_unlink: { args: [P], returns: i32 },
  bunit_mq_getattr: { args: [i32, P], returns: i32 },
  bunit_mq_receive: { args: [i32, P, u64], returns: i64 },
  bunit_mq_send: { args: [i32, P, u64, u32], returns: i32 },
  bunit_if_nametoindex: { args: [P], returns: i32 },
  bunit_strerror: { args: [i32, P, u32], returns: i32 },
  bunit_getpwnam: { args: [P, P, P, u32, P, u32], returns: i32 },
  bunit_getpwuid: { args: [i32, P, u32, P, u32], returns: i32 },
  bunit_getgrnam: { args: [P], returns: i32 },
  bunit_getgrgid: { args: [i32, P, u32], returns: i32 },
  bunit_kill: { args: [i32, i32], returns: i32 },
  bunit_getpid: { args: [], returns: i32 },
  bunit_getuid: { args: [], returns: i32 },
  bunit_waitpid_nohang: { args: [i32, P], returns: i32 },
  bunit_prctl_subreaper: { args: [i32], returns: i32 },
  bunit_pidfd_open: { args: [i32], returns: i32 },
  bunit_set_cloexec: { args: [i32, i32], returns: i32 },
  bunit_execve: { args: [P, P, P], returns: i32 },
  bunit_spawn: { args: [P, P, P, P, i32, i32, P], returns: i32 },
  bunit_recvmsg_notify: { args: [i32, P, u64, P, u32, P, P], returns: i64 },
  bunit_mount: { args: [P, P, P, u64, P], returns: i32 },
  bunit_umount: { args: [P, i32], returns: i32 },
  bunit_eventfd: { args: [u32, i32], returns: i32 },
  bunit_alloc: { args: [u64], returns: P },
  bunit_free: { args: [P], returns: FFIType.void },
  bunit_aio_setup: { args: [u32, P], returns: i32 },
  bunit_aio_destroy: { args: [u64], returns: i32 },
  bunit_aio_submit: { args: [u64, P], returns: i32 },
  bunit_aio_getevents: { args: [u64, i64, P], returns: i32 },
  bunit_aio_cancel: { args: [u64, P, P], returns: i32 },
  bunit_poller_start: { args: [], returns: i32 },
  bunit_poller_watch: { args: [i32, u32, u32], returns: i32 },
  bunit_poller_unwatch: { args: [i32], returns: i32 },
} as const;

const ABI_VERSION = 8;

/** Directory holding libbunit.so and bunit-exec for this machine. */
export function nativeDir(): string {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  const candidates = [
    process.env.BUNIT_NATIVE_DIR,
    resolve(import.meta.dir, "..", "build", "native", arch),
    "/usr/lib/bunit",
  ].filter((d): d is string => !!d);
  for (const d of candidates) if (existsSync(join(d, "libbunit.so"))) return d;
  throw new Error(`libbunit.so not found (looked in ${candidates.join(", ")}); run: bun scripts/build-native.ts`);
}

export function execHelperPath(): string {
  return join(nativeDir(), "bunit-exec");
}

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | null = null;
function L(): Lib {
  if (lib) return lib;
  const handle = dlopen(join(nativeDir(), "libbunit.so"), symbols);
  const v = handle.symbols.bunit_abi_version();
  if (v !== ABI_VERSION) throw new Error(`libbunit.so ABI ${v}, expected ${ABI_VERSION}: rebuild with bun scripts/build-native.ts`);
  lib = handle.symbols;
  return lib;
}

function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

export function strerror(errno: number): string {
  const buf = new Uint8Array(256);
  L().bunit_strerror(errno, buf, buf.length);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

function check(r: number | bigint, syscall: string, detail?: string): number {
  const n = Number(r);
  if (n < 0) throw new SysError(syscall, -n, detail, strerror);
  return n;
}

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

// ---- files -----------------------------------------------------------------------------

export function open(path: string, flags: number, mode = 0o666): number {
  return check(L().bunit_open(cstr(path), flags, mode), "open", path);
}
export function openat(dirfd: number, path: string, flags: number, mode = 0o666): number {
  return check(L().bunit_openat(dirfd, cstr(path), flags, mode), "openat", path);
}
export function close(fd: number): void {
  watcher?.forget(fd);
  check(L().bunit_close(fd), "close", String(fd));
}
/** read(); null on EAGAIN. */
export function read(fd: number, buf: Uint8Array): number | null {
  const r = Number(L().bunit_read(fd, buf, buf.length));
  if (r === -11) return null;
  return check(r, "read");
}
/** write(); null on EAGAIN. */
export function write(fd: number, data: Uint8Array): number | null {
  const r = Number(L().bunit_write(fd, data.length ? data : new Uint8Array(1), data.length));
  if (r === -11) return null;
  return check(r, "write");
}
export function mkfifo(path: string, mode: number): void {
  check(L().bunit_mkfifo(cstr(path), mode), "mkfifo", path);
}
export function fcntl(fd: number, cmd: number, arg = 0): number {
  return check(L().bunit_fcntl(fd, cmd, arg), "fcntl", `(${fd}, ${cmd})`);
}
/** pipe2(O_CLOEXEC): [read end, write end]. */
export function pipe(): [number, number] {
  const out = new Int32Array(2);
  check(L().bunit_pipe(out), "pipe2");
  return [out[0]!, out[1]!];
}
export function dupCloexec(fd: number): number {
  return check(L().bunit_dup_cloexec(fd), "fcntl", "F_DUPFD_CLOEXEC");
}
export function ioctl(fd: number, request: number, arg: Uint8Array | null): number {
  return check(L().bunit_ioctl(fd, request, arg ? ptr(arg) : (null as unknown as Pointer)), "ioctl", `0x${request.toString(16)}`);
}
export function fchown(fd: number, uid: number, gid: number): void {
  check(L().bunit_fchown(fd, uid, gid), "fchown");
}
export function lchown(path: string, uid: number, gid: number): void {
  check(L().bunit_lchown(cstr(path), uid, gid), "lchown", path);
}
export function fchmod(fd: number, mode: number): void {
  check(L().bunit_fchmod(fd, mode), "fchmod");
}
export function fsetxattr(fd: number, name: string, value: string): void {
  const v = Buffer.from(value, "utf8");
  check(L().bunit_fsetxattr(fd, cstr(name), v.length ? v : Buffer.alloc(1), v.length), "fsetxattr", name);
}
export function lsetxattr(path: string, name: string, value: string): void {
  const v = Buffer.from(value, "utf8");
  check(L().bunit_lsetxattr(cstr(path), cstr(name), v.length ? v : Buffer.alloc(1), v.length), "lsetxattr", `${path} ${name}`);
}
export interface FdStat {
  mode: number;
  uid: number;
  gid: number;
  ino: bigint;
  dev: bigint;
  rdev: bigint;
}
export function fstat(fd: number): FdStat {
  const o = new Uint32Array(3);
  const o64 = new BigUint64Array(3);
  check(L().bunit_fstat(fd, o, o64), "fstat");
  return { mode: o[0]!, uid: o[1]!, gid: o[2]!, ino: o64[0]!, dev: o64[1]!, rdev: o64[2]! };
}
/** poll() one fd; returns revents, 0 on timeout. Blocks: only for tests and short-lived tools. */
export function pollOne(fd: number, events: number, timeoutMs: number): number {
  return check(L().bunit_poll1(fd, events, timeoutMs), "poll");
}

// ---- POSIX message queues ----------------------------------------------------------------

export function mqOpen(name: string, oflag: number, mode: number, maxMsg = 0, msgSize = 0): number {
  return check(L().bunit_mq_open(cstr(name), oflag, mode, maxMsg, msgSize), "mq_open", name);
}
export function mqUnlink(name: string): void {
  check(L().bunit_mq_unlink(cstr(name)), "mq_unlink", name);
}
export function mqGetattr(fd: number): { flags: number; maxMsg: number; msgSize: number; curMsgs: number } {
  const o = new BigInt64Array(4);
  check(L().bunit_mq_getattr(fd, o), "mq_getattr");
  return { flags: Number(o[0]), maxMsg: Number(o[1]), msgSize: Number(o[2]), curMsgs: Number(o[3]) };
}
/** mq_receive(); null on EAGAIN. */
export function mqReceive(fd: number, buf: Uint8Array): number | null {
  const r = Number(L().bunit_mq_receive(fd, buf, buf.length));
  if (r === -11) return null;
  return check(r, "mq_receive");
}
export function mqSend(fd: number, data: Uint8Array, prio = 0): void {
  check(L().bunit_mq_send(fd, data.length ? data : new Uint8Array(1), data.length, prio), "mq_send");
}

// ---- names and processes -------------------------------------------------------------------

export function ifNameToIndex(name: string): number {
  return check(L().bunit_if_nametoindex(cstr(name)), "if_nametoindex", name);
}
export interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
  shell: string;
}
function cbuf(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
}
/** getpwnam(); null when the user does not exist. */
export function getpwnam(name: string): PasswdEntry | null {
  const out = new Int32Array(2);
  const home = new Uint8Array(1024);
  const shell = new Uint8Array(256);
  const r = L().bunit_getpwnam(cstr(name), out, home, home.length, shell, shell.length);
  if (r === -3 /* ESRCH */ || r === -2) return null;
  check(r, "getpwnam", name);
  return { uid: out[0]! >>> 0, gid: out[1]! >>> 0, home: cbuf(home), shell: cbuf(shell) };
}
export function getpwuid(uid: number): { name: string; home: string; gid: number } | null {
  const name = new Uint8Array(256);
  const home = new Uint8Array(1024);
  const r = L().bunit_getpwuid(uid, name, name.length, home, home.length);
  if (r === -3 || r === -2) return null;
  const gid = check(r, "getpwuid", String(uid));
  return { name: cbuf(name), home: cbuf(home), gid };
}
/** getgrnam(); null when the group does not exist. */
export function getgrnam(name: string): number | null {
  const r = L().bunit_getgrnam(cstr(name));
  if (r === -3 || r === -2) return null;
  return check(r, "getgrnam", name);
}
export function getgrgid(gid: number): string | null {
  const name = new Uint8Array(256);
  const r = L().bunit_getgrgid(gid, name, name.length);
  if (r === -3 || r === -2) return null;
  check(r, "getgrgid", String(gid));
  return cbuf(name);
}
export function kill(pid: number, sig: number): void {
  check(L().bunit_kill(pid, sig), "kill", `${pid} ${sig}`);
}
export function getuid(): number {
  return L().bunit_getuid() >>> 0;
}
export function waitpidNoHang(pid: number): { pid: number; status: number } | null {
  const st = new Int32Array(1);
  const r = L().bunit_waitpid_nohang(pid, st);
  if (r === -10 /* ECHILD */) return null;
  const got = check(r, "waitpid");
  return got === 0 ? null : { pid: got, status: st[0]! };
}
export function setChildSubreaper(on: boolean): void {
  check(L().bunit_prctl_subreaper(on ? 1 : 0), "prctl", "PR_SET_CHILD_SUBREAPER");
}

/** An fd that becomes readable when the process exits (pidfd_open(2)). */
export function pidfdOpen(pid: number): number {
  return check(L().bunit_pidfd_open(pid), "pidfd_open", String(pid));
}
export function setCloexec(fd: number, on: boolean): void {
  check(L().bunit_set_cloexec(fd, on ? 1 : 0), "fcntl", `F_SETFD ${fd}`);
}
/** NULL-terminated char* tables for argv and envp; `keep` holds the strings alive. */
function cTables(argv: string[], env: Record<string, string>): { a: BigUint64Array; e: BigUint64Array; keep: Uint8Array[] } {
  const keep: Uint8Array[] = [];
  const table = (items: string[]) => {
    const t = new BigUint64Array(items.length + 1);
    items.forEach((x, i) => {
      const b = cstr(x);
      keep.push(b);
      t[i] = BigInt(ptr(b));
    });
    return t;
  };
  return { a: table(argv), e: table(Object.entries(env).map(([k, v]) => `${k}=${v}`)), keep };
}

/** Replaces this process with another program (same pid; fds without FD_CLOEXEC stay open). Returns only on failure. */
export function execve(path: string, argv: string[], env: Record<string, string>): never {
  const t = cTables(argv, env);
  const r = L().bunit_execve(cstr(path), t.a, t.e);
  void t.keep;
  check(r, "execve", path);
  throw new Error("execve returned");
}

/**
 * Starts a program with fds[i] at fd i (-1: closed), born in the cgroup whose directory is
 * open as cgroupFd (-1: ours). Returns the pid and a pidfd that becomes readable at its exit.
 */
export function spawn(path: string, argv: string[], env: Record<string, string>, fds: number[], cgroupFd = -1): { pid: number; pidfd: number } {
  const t = cTables(argv, env);
  const out = new Int32Array(1);
  const pid = L().bunit_spawn(cstr(path), t.a, t.e, new Int32Array(fds), fds.length, cgroupFd, out);
  void t.keep;
  check(pid, "clone3", path);
  return { pid, pidfd: out[0]! };
}

// ---- mounts, eventfd, native memory, Linux AIO ----------------------------------------------

export const MNT_DETACH = 2;
export function mount(source: string, target: string, fstype: string, flags = 0, data = ""): void {
  check(L().bunit_mount(cstr(source), cstr(target), cstr(fstype), flags, cstr(data)), "mount", `${fstype} ${source} on ${target}`);
}
export function umount(target: string, flags = 0): void {
  check(L().bunit_umount(cstr(target), flags), "umount", target);
}
export const EFD_NONBLOCK = 0o4000;
export function eventfd(initval = 0, flags = EFD_NONBLOCK): number {
  return check(L().bunit_eventfd(initval, flags), "eventfd");
}

/** Memory outside the JavaScript heap: it never moves, so the kernel may use it asynchronously. */
export interface NativeBuffer {
  ptr: Pointer;
  size: number;
  bytes: Uint8Array;
  free(): void;
}
export function allocNative(size: number): NativeBuffer {
  const p = L().bunit_alloc(size) as Pointer | null;
  if (!p) throw new SysError("posix_memalign", 12);
  let freed = false;
  return {
    ptr: p,
    size,
    bytes: new Uint8Array(toArrayBuffer(p, 0, size)),
    free: () => {
      if (!freed) L().bunit_free(p);
      freed = true;
    },
  };
}
export function aioSetup(nr: number): bigint {
  const out = new BigUint64Array(1);
  check(L().bunit_aio_setup(nr, out), "io_setup");
  return out[0]!;
}
export function aioDestroy(ctx: bigint): void {
  check(L().bunit_aio_destroy(ctx), "io_destroy");
}
export function aioSubmit(ctx: bigint, iocb: Pointer): void {
  check(L().bunit_aio_submit(ctx, iocb), "io_submit");
}
/** Reaps finished events into events (32 bytes each); returns how many. */
export function aioGetEvents(ctx: bigint, events: NativeBuffer, max: number): number {
  return check(L().bunit_aio_getevents(ctx, max, events.ptr), "io_getevents");
}
/** io_cancel(); false when the request could not be cancelled (already done, or EINVAL/EAGAIN). */
export function aioCancel(ctx: bigint, iocb: Pointer, result: NativeBuffer): boolean {
  return L().bunit_aio_cancel(ctx, iocb, result.ptr) === 0;
}

// ---- readiness -------------------------------------------------------------------------

type ReadyHandler = (revents: number) => void;

/** Watches raw fds for readiness (see the comment at the top of this file). */
export class FdWatcher {
  private byToken = new Map<number, { fd: number; handler: ReadyHandler }>();
  private tokenByFd = new Map<number, number>();
  private nextToken = 1;

  constructor(readFd: number) {
    void this.pump(readFd);
  }

  private async pump(readFd: number): Promise<void> {
    let carry = new Uint8Array(0);
    for await (const chunk of Bun.file(readFd).stream()) {
      let data = chunk as Uint8Array;
      if (carry.length) {
        const joined = new Uint8Array(carry.length + data.length);
        joined.set(carry);
        joined.set(data, carry.length);
        data = joined;
      }
      const whole = data.length - (data.length % 8);
      const dv = new DataView(data.buffer, data.byteOffset, whole);
      for (let o = 0; o < whole; o += 8) this.dispatch(dv.getUint32(o, true), dv.getUint32(o + 4, true));
      carry = data.slice(whole);
    }
  }

  private dispatch(token: number, revents: number): void {
    const entry = this.byToken.get(token);
    if (!entry) return; // unwatched meanwhile
    try {
      entry.handler(revents);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** Registers fd and arms it once; call arm() again after each report to get the next one. */
  watch(fd: number, events: number, handler: ReadyHandler): void {
    this.forget(fd);
    const token = this.nextToken++ >>> 0 || this.nextToken++;
    this.byToken.set(token, { fd, handler });
    this.tokenByFd.set(fd, token);
    check(L().bunit_poller_watch(fd, events, token), "epoll_ctl", `watch ${fd}`);
  }

  arm(fd: number, events: number): void {
    const token = this.tokenByFd.get(fd);
    if (token === undefined) throw new Error(`fd ${fd} is not watched`);
    check(L().bunit_poller_watch(fd, events, token), "epoll_ctl", `arm ${fd}`);
  }

  isWatched(fd: number): boolean {
    return this.tokenByFd.has(fd);
  }

  /** Stops watching fd (before it is closed, or when its owner no longer listens). */
  forget(fd: number): void {
    const token = this.tokenByFd.get(fd);
    if (token === undefined) return;
    this.tokenByFd.delete(fd);
    this.byToken.delete(token);
    L().bunit_poller_unwatch(fd);
  }
}

let watcher: FdWatcher | null = null;
export function fdWatcher(): FdWatcher {
  if (!watcher) watcher = new FdWatcher(check(L().bunit_poller_start(), "bunit_poller_start"));
  return watcher;
}

/** Resolves when fd reports one of events (one-shot helper on top of the watcher). */
export function whenReady(fd: number, events: number): Promise<number> {
  return new Promise((resolvePromise) => {
    const w = fdWatcher();
    w.watch(fd, events, (rev) => {
      w.forget(fd);
      resolvePromise(rev);
    });
  });
}
