/** Files, pipes, FIFOs, ioctl, ownership, xattrs, poll; POSIX message queues. Calls into libbunit.so through lib.ts. */
import { check, cstr, L, ptr, type Pointer } from "./lib.ts";
import { forgetWatched } from "./readiness.ts";

// ---- files -----------------------------------------------------------------------------

export function open(path: string, flags: number, mode = 0o666): number {
  return check(L().bunit_open(cstr(path), flags, mode), "open", path);
}
export function openat(dirfd: number, path: string, flags: number, mode = 0o666): number {
  return check(L().bunit_openat(dirfd, cstr(path), flags, mode), "openat", path);
}
export function close(fd: number): void {
  forgetWatched(fd);
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
/**
 * Whether fds a and b are the same open file description (kcmp(2) KCMP_FILE, as systemd's
 * same_fd()); null when the kernel cannot tell (built without kcmp).
 */
export function sameOpenFile(a: number, b: number): boolean | null {
  const r = L().bunit_same_file(a, b);
  if (r === -38 || r === -1 || r === -13) return null; // ENOSYS, EPERM, EACCES
  return check(r, "kcmp", `(${a}, ${b})`) === 1;
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
