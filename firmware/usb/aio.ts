/**
 * Asynchronous reads and writes with Linux AIO (io_submit), which FunctionFS endpoint files
 * support natively: requests are queued in the kernel, completions are signalled on an
 * eventfd, and nothing blocks Bun's event loop.
 *
 * The per-request work is kept small because it bounds a FunctionFS service's throughput:
 * the iocbs live in one native block allocated once (slot i at offset 64 * i, aio_data = i),
 * their fields are written through 32-bit views (no BigInt), and every wake-up reaps all
 * finished requests with one io_getevents. The eventfd is read by Bun's own event loop
 * (completions: "loop", the default), or through the injected fd watcher ("watcher", which
 * costs a hop through the watcher's thread and a re-arm per wake-up).
 */
import type { Pointer } from "bun:ffi";
import type { FdWatch } from "../core/fd-watch.ts";
import * as n from "../native.ts";
import { EPOLLIN } from "../sys/constants.ts";
import { isErrno, SysError } from "../sys/errno.ts";

const IOCB_SIZE = 64;
const EVENT_SIZE = 32;
const IOCB_CMD_PREAD = 0;
const IOCB_CMD_PWRITE = 1;
const IOCB_CMD_POLL = 5;
const IOCB_FLAG_RESFD = 1;
const TWO32 = 2 ** 32;

/** Called with the byte count, or with -errno when the request failed. */
export type AioDone = (res: number) => void;

export interface AioOptions {
  /** How completions wake JavaScript: Bun's event loop reads the eventfd ("loop"), or the fd watcher does. */
  completions?: "loop" | "watcher";
}

export class AioContext {
  readonly depth: number;
  private readonly ctx: bigint;
  private readonly efd: number;
  private readonly iocbs: n.NativeBuffer;
  private readonly cb32: Uint32Array;
  private readonly events: n.NativeBuffer;
  private readonly ev32: Uint32Array;
  private readonly ev32s: Int32Array;
  private readonly counter = new Uint8Array(8);
  private readonly done: (AioDone | undefined)[];
  private readonly free: number[] = [];
  private readonly viaWatcher: boolean;
  private stream: { cancel(): Promise<void> } | null = null;
  private cancelResult: n.NativeBuffer | null = null;
  private pending = 0;
  private closed = false;

  /** watcher: the process's fd watcher (a service passes n.fdWatcher(), or its own); needed with completions: "watcher". */
  constructor(
    private readonly watcher: FdWatch | null,
    depth = 128,
    opts: AioOptions = {},
  ) {
    this.depth = depth;
    this.ctx = n.aioSetup(depth);
    this.efd = n.eventfd();
    this.iocbs = n.allocNative(IOCB_SIZE * depth);
    this.iocbs.bytes.fill(0);
    this.cb32 = new Uint32Array(this.iocbs.bytes.buffer, this.iocbs.bytes.byteOffset, (IOCB_SIZE * depth) / 4);
    this.events = n.allocNative(EVENT_SIZE * depth);
    this.ev32 = new Uint32Array(this.events.bytes.buffer, this.events.bytes.byteOffset, (EVENT_SIZE * depth) / 4);
    this.ev32s = new Int32Array(this.events.bytes.buffer, this.events.bytes.byteOffset, (EVENT_SIZE * depth) / 4);
    this.done = new Array(depth).fill(undefined);
    for (let i = depth - 1; i >= 0; i--) this.free.push(i);
    this.viaWatcher = opts.completions === "watcher";
    if (this.viaWatcher) {
      if (!watcher) throw new Error('AioContext: completions: "watcher" needs a watcher');
      watcher.watch(this.efd, EPOLLIN, () => this.onWatcher());
    } else void this.pump();
  }

  get inFlight(): number {
    return this.pending;
  }

  /** Slots free for start(). */
  get available(): number {
    return this.free.length;
  }

  /**
   * Starts a read or write of len bytes at the native address buf; done gets the byte count
   * or -errno. Throws (SysError) when the kernel refuses the request, e.g. EAGAIN on a
   * disabled FunctionFS endpoint, or EBUSY when every slot is taken. Returns the request's
   * slot (for cancel()).
   */
  start(op: "read" | "write", fd: number, buf: number, len: number, done: AioDone): number {
    return this.queue(op === "read" ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE, fd, buf, len, done);
  }

  /**
   * Waits (IOCB_CMD_POLL, one-shot) until fd reports one of the poll(2) events; done gets the
   * events that are ready, or -errno. The completion wakes Bun's event loop like a transfer's:
   * no thread in between. The request holds a reference to the file until it completes: cancel
   * it before closing fd. Returns the request's slot.
   */
  poll(fd: number, events: number, done: AioDone): number {
    return this.queue(IOCB_CMD_POLL, fd, events, 0, done);
  }

  /**
   * Cancels one request; its callback still comes: -ECANCELED for a transfer, 0 (no events)
   * for a poll, or the result if it had finished.
   */
  cancel(slot: number): void {
    if (!this.done[slot] || this.closed) return;
    const result = this.cancelResult ?? (this.cancelResult = n.allocNative(EVENT_SIZE));
    n.aioCancel(this.ctx, (this.iocbs.ptr + slot * IOCB_SIZE) as Pointer, result);
  }

  private queue(opcode: number, fd: number, buf: number, len: number, done: AioDone): number {
    if (this.closed) throw new Error("AIO context closed");
    const slot = this.free.pop();
    if (slot === undefined) throw new SysError("io_submit", 16 /* EBUSY */, `(all ${this.depth} AIO slots in use)`);
    const w = slot * (IOCB_SIZE / 4);
    const c = this.cb32;
    c[w] = slot; // aio_data: the slot (the upper half stays 0)
    c[w + 4] = opcode; // reqprio 0
    c[w + 5] = fd;
    c[w + 6] = buf % TWO32;
    c[w + 7] = Math.floor(buf / TWO32);
    c[w + 8] = len % TWO32;
    c[w + 9] = Math.floor(len / TWO32);
    c[w + 14] = IOCB_FLAG_RESFD;
    c[w + 15] = this.efd;
    try {
      n.aioSubmit(this.ctx, (this.iocbs.ptr + slot * IOCB_SIZE) as Pointer);
    } catch (e) {
      this.free.push(slot);
      throw e;
    }
    this.done[slot] = done;
    this.pending++;
    return slot;
  }

  /** Starts a read or write of len bytes of buf; resolves with the byte count. */
  submit(op: "read" | "write", fd: number, buf: n.NativeBuffer, len: number, what: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.start(op, fd, buf.ptr, len, (res) => (res < 0 ? reject(new SysError(what, -res, undefined, n.strerror)) : resolve(res)));
    });
  }

  /** Bun's event loop reads the eventfd (no extra thread, no re-arm); each read is one wake-up. */
  private async pump(): Promise<void> {
    const reader = Bun.file(this.efd).stream().getReader();
    this.stream = reader;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done || this.closed) return;
        this.reap();
      }
    } catch (e) {
      if (!this.closed) throw e;
    }
  }

  private onWatcher(): void {
    n.read(this.efd, this.counter);
    this.reap();
    if (!this.closed) this.watcher?.arm(this.efd, EPOLLIN);
  }

  /** Hands every finished request to its callback (one io_getevents for up to depth of them). */
  private reap(): void {
    const ev = this.ev32;
    for (;;) {
      if (this.closed) return;
      let got: number;
      try {
        got = n.aioGetEvents(this.ctx, this.events, this.depth);
      } catch (e) {
        if (isErrno(e, "EINTR")) continue;
        throw e;
      }
      for (let i = 0; i < got; i++) {
        const o = i * (EVENT_SIZE / 4);
        const slot = ev[o]!;
        const res = this.ev32s[o + 5]! * TWO32 + ev[o + 4]!;
        const done = this.done[slot];
        if (!done) continue;
        this.done[slot] = undefined;
        this.free.push(slot);
        this.pending--;
        done(res);
      }
      if (got < this.depth) return;
    }
  }

  /** Cancels every request in flight; each one's callback gets -ECANCELED (or the kernel's code). */
  cancelAll(): void {
    const result = n.allocNative(EVENT_SIZE);
    for (let slot = 0; slot < this.depth; slot++) if (this.done[slot]) n.aioCancel(this.ctx, (this.iocbs.ptr + slot * IOCB_SIZE) as Pointer, result);
    result.free();
  }

  close(): void {
    if (this.closed) return;
    this.cancelAll();
    this.closed = true;
    if (this.viaWatcher) this.watcher?.forget(this.efd);
    // io_destroy waits for outstanding requests.
    n.aioDestroy(this.ctx);
    for (let slot = 0; slot < this.depth; slot++) {
      const done = this.done[slot];
      this.done[slot] = undefined;
      done?.(-125 /* ECANCELED */);
    }
    this.pending = 0;
    const closeFd = () => n.close(this.efd);
    // Bun's reader lets go of the eventfd once the cancel has gone through; then it is closed.
    if (this.stream) void this.stream.cancel().then(closeFd, closeFd);
    else closeFd();
    this.iocbs.free();
    this.events.free();
    this.cancelResult?.free();
  }
}
