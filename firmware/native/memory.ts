/** Mounts, eventfd, native memory and shared mappings, Linux AIO. Calls into libbunit.so through lib.ts. */
import { check, cstr, L, toArrayBuffer, type Pointer } from "./lib.ts";
import { SysError } from "../sys/errno.ts";

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
/** A shared mapping of an fd (guest memory from a vhost-user front-end). */
export interface SharedMapping {
  size: number;
  bytes: Uint8Array;
  /** After this, bytes must not be touched (the pages are gone). */
  unmap(): void;
}
export function mmapShared(fd: number, size: number, offset = 0): SharedMapping {
  const out = new BigUint64Array(1);
  check(L().bunit_mmap_shared(fd, size, offset, out), "mmap", `fd ${fd}, ${size} bytes at ${offset}`);
  const addr = out[0]!;
  let mapped = true;
  return {
    size,
    bytes: new Uint8Array(toArrayBuffer(Number(addr) as Pointer, 0, size)),
    unmap: () => {
      if (mapped) check(L().bunit_munmap(addr, size), "munmap");
      mapped = false;
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
