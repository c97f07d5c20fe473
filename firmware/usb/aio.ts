/**
 * Asynchronous reads and writes with Linux AIO (io_submit), which FunctionFS endpoint files
 * support natively: requests are queued in the kernel, completions are signalled on an
 * eventfd that bunit's fd watcher observes, and nothing blocks Bun's event loop.
 */
import type { Pointer } from "bun:ffi";
import * as n from "../native.ts";
import { EPOLLIN } from "../sys/constants.ts";
import { SysError } from "../sys/errno.ts";

const IOCB_SIZE = 64;
const EVENT_SIZE = 32;
const IOCB_CMD_PREAD = 0;
const IOCB_CMD_PWRITE = 1;
const IOCB_FLAG_RESFD = 1;

interface Pending {
  iocb: n.NativeBuffer;
  resolve: (bytes: number) => void;
  reject: (e: Error) => void;
  what: string;
}

export class AioContext {
  private readonly ctx: bigint;
  private readonly efd: number;
  private readonly events: n.NativeBuffer;
  private readonly counter = new Uint8Array(8);
  private pending = new Map<number, Pending>();
  private free: n.NativeBuffer[] = [];
  private closed = false;

  constructor(readonly depth = 128) {
    this.ctx = n.aioSetup(depth);
    this.efd = n.eventfd();
    this.events = n.allocNative(EVENT_SIZE * depth);
    n.fdWatcher().watch(this.efd, EPOLLIN, () => this.reap());
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Starts a read or write of len bytes of buf; resolves with the byte count. */
  submit(op: "read" | "write", fd: number, buf: n.NativeBuffer, len: number, what: string): Promise<number> {
    if (this.closed) return Promise.reject(new Error("AIO context closed"));
    const iocb = this.free.pop() ?? n.allocNative(IOCB_SIZE);
    const dv = new DataView(iocb.bytes.buffer, iocb.bytes.byteOffset, IOCB_SIZE);
    iocb.bytes.fill(0);
    dv.setBigUint64(0, BigInt(iocb.ptr), true); // aio_data: our key
    dv.setUint16(16, op === "read" ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE, true);
    dv.setUint32(20, fd, true);
    dv.setBigUint64(24, BigInt(buf.ptr), true);
    dv.setBigUint64(32, BigInt(len), true);
    dv.setUint32(56, IOCB_FLAG_RESFD, true);
    dv.setUint32(60, this.efd, true);
    return new Promise((resolve, reject) => {
      try {
        n.aioSubmit(this.ctx, iocb.ptr);
      } catch (e) {
        this.free.push(iocb);
        return reject(e);
      }
      this.pending.set(Number(iocb.ptr), { iocb, resolve, reject, what });
    });
  }

  private reap(): void {
    n.read(this.efd, this.counter);
    for (;;) {
      const got = this.closed ? 0 : n.aioGetEvents(this.ctx, this.events, this.depth);
      if (got === 0) break;
      const dv = new DataView(this.events.bytes.buffer, this.events.bytes.byteOffset, got * EVENT_SIZE);
      for (let i = 0; i < got; i++) {
        const key = Number(dv.getBigUint64(i * EVENT_SIZE, true));
        const res = Number(dv.getBigInt64(i * EVENT_SIZE + 16, true));
        const p = this.pending.get(key);
        if (!p) continue;
        this.pending.delete(key);
        this.free.push(p.iocb);
        if (res < 0) p.reject(new SysError(p.what, -res, undefined, n.strerror));
        else p.resolve(res);
      }
    }
    if (!this.closed) n.fdWatcher().arm(this.efd, EPOLLIN);
  }

  /** Cancels every request in flight; each one's promise rejects (ECANCELED or the kernel's code). */
  cancelAll(): void {
    const result = n.allocNative(EVENT_SIZE);
    for (const [, p] of this.pending) n.aioCancel(this.ctx, p.iocb.ptr as Pointer, result);
    result.free();
  }

  close(): void {
    if (this.closed) return;
    this.cancelAll();
    this.closed = true;
    n.fdWatcher().forget(this.efd);
    // io_destroy waits for outstanding requests.
    n.aioDestroy(this.ctx);
    for (const [, p] of this.pending) {
      p.reject(new SysError(p.what, 125 /* ECANCELED */));
      p.iocb.free();
    }
    this.pending.clear();
    n.close(this.efd);
    for (const b of this.free) b.free();
    this.events.free();
  }
}
