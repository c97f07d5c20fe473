/**
 * The one file that imports bun:ffi: it loads native/libbunit.so and holds its symbol table;
 * the other modules of this folder wrap the calls by domain, and firmware/native.ts re-exports
 * them all. Everything the kernel offers that Bun lacks goes
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
import { dlopen, FFIType } from "bun:ffi";

export { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SysError } from "../sys/errno.ts";

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
  bunit_same_file: { args: [i32, i32], returns: i32 },
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
  bunit_prlimit_nofile: { args: [i32, u64, u64, P], returns: i32 },
  bunit_set_cloexec: { args: [i32, i32], returns: i32 },
  bunit_execve: { args: [P, P, P], returns: i32 },
  bunit_spawn: { args: [P, P, P, P, i32, i32, P, P, P, P, P], returns: i32 },
  bunit_recvmsg_notify: { args: [i32, P, u64, P, u32, P, P], returns: i64 },
  bunit_mount: { args: [P, P, P, u64, P], returns: i32 },
  bunit_umount: { args: [P, i32], returns: i32 },
  bunit_eventfd: { args: [u32, i32], returns: i32 },
  bunit_alloc: { args: [u64], returns: P },
  bunit_free: { args: [P], returns: FFIType.void },
  bunit_mmap_shared: { args: [i32, u64, u64, P], returns: i32 },
  bunit_munmap: { args: [u64, u64], returns: i32 },
  bunit_aio_setup: { args: [u32, P], returns: i32 },
  bunit_aio_destroy: { args: [u64], returns: i32 },
  bunit_aio_submit: { args: [u64, P], returns: i32 },
  bunit_aio_getevents: { args: [u64, i64, P], returns: i32 },
  bunit_aio_cancel: { args: [u64, P, P], returns: i32 },
  bunit_poller_start: { args: [], returns: i32 },
  bunit_poller_watch: { args: [i32, u32, u32], returns: i32 },
  bunit_poller_unwatch: { args: [i32], returns: i32 },
} as const;

const ABI_VERSION = 12;

/** Directory holding libbunit.so for this machine. */
export function nativeDir(): string {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  const candidates = [process.env.BUNIT_NATIVE_DIR, resolve(import.meta.dir, "..", "..", "build", "native", arch), "/usr/lib/bunit"].filter(
    (d): d is string => !!d,
  );
  for (const d of candidates) if (existsSync(join(d, "libbunit.so"))) return d;
  throw new Error(`libbunit.so not found (looked in ${candidates.join(", ")}); run: bun scripts/build-native.ts`);
}

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | null = null;
export function L(): Lib {
  if (lib) return lib;
  const handle = dlopen(join(nativeDir(), "libbunit.so"), symbols);
  const v = handle.symbols.bunit_abi_version();
  if (v !== ABI_VERSION) throw new Error(`libbunit.so ABI ${v}, expected ${ABI_VERSION}: rebuild with bun scripts/build-native.ts`);
  lib = handle.symbols;
  return lib;
}

export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

export function strerror(errno: number): string {
  const buf = new Uint8Array(256);
  L().bunit_strerror(errno, buf, buf.length);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

export function check(r: number | bigint, syscall: string, detail?: string): number {
  const n = Number(r);
  if (n < 0) throw new SysError(syscall, -n, detail, strerror);
  return n;
}
