/**
 * Stand-ins for tests of ep0 users (ep0-reader.test.ts, functionfs.test.ts): FunctionFS's ep0
 * as the kernel behaves, and an fd watcher that records what it is told.
 */
import type { FdWatch } from "../core/fd-watch.ts";
import { SysError } from "../sys/errno.ts";
import type { Ep0Io } from "./ep0-reader.ts";
import { encodeControlRequest, EVENT_SIZE, EVENT_TYPES, parseControlRequest, type ControlRequest, type FfsEventType } from "./ffs-events.ts";

const EL2HLT = 51;
const ESRCH = 3;

/** An event FakeEp0 queues: a type, or a SETUP request. */
export type FakeEvent = Exclude<FfsEventType, "setup"> | ControlRequest;

export const vendorIn = (bRequest: number, wLength = 64) =>
  parseControlRequest(encodeControlRequest({ direction: "in", type: "vendor", recipient: "interface", bRequest, wLength }));
export const vendorOut = (bRequest: number, wLength = 0) =>
  parseControlRequest(encodeControlRequest({ direction: "out", type: "vendor", recipient: "interface", bRequest, wLength }));

/**
 * FunctionFS ep0 as the kernel behaves: each read returns one queued batch of events; after a
 * SETUP, a zero-length transfer in the wrong direction stalls it (EL2HLT), a transfer in the
 * right direction is its data stage; with no SETUP pending, write() says ESRCH. `busy` reads
 * or writes answer EAGAIN first (the mutex try-lock).
 */
export class FakeEp0 implements Ep0Io {
  batches: FakeEvent[][] = [];
  pending: ControlRequest | null = null;
  busy = 0;
  fail: SysError | null = null;
  outData = new Uint8Array(0);
  written: Uint8Array[] = [];
  stalled: number[] = [];
  pauses = 0;
  reads = 0;

  read(_fd: number, buf: Uint8Array): number | null {
    this.reads++;
    if (this.fail) throw this.fail;
    if (this.busy > 0) return (this.busy--, null);
    const p = this.pending;
    if (p) {
      this.pending = null;
      if (p.direction === "in") {
        this.stalled.push(p.bRequest);
        throw new SysError("read", EL2HLT);
      }
      const n = Math.min(buf.length, this.outData.length);
      buf.set(this.outData.subarray(0, n));
      return n;
    }
    const batch = this.batches.shift();
    if (!batch) return null;
    batch.forEach((ev, i) => {
      const o = i * EVENT_SIZE;
      buf.fill(0, o, o + EVENT_SIZE);
      if (typeof ev === "string") buf[o + 8] = EVENT_TYPES.indexOf(ev);
      else {
        buf.set(encodeControlRequest(ev), o);
        buf[o + 8] = EVENT_TYPES.indexOf("setup");
        this.pending = ev;
      }
    });
    return batch.length * EVENT_SIZE;
  }

  write(_fd: number, data: Uint8Array): number | null {
    if (this.busy > 0) return (this.busy--, null);
    const p = this.pending;
    if (!p) throw new SysError("write", ESRCH);
    this.pending = null;
    if (p.direction === "out") {
      this.stalled.push(p.bRequest);
      throw new SysError("write", EL2HLT);
    }
    this.written.push(data.slice());
    return data.length;
  }

  pause(): void {
    this.pauses++;
  }
  readable(): boolean {
    return this.batches.length > 0 || this.pending !== null;
  }
}

/** The fake's methods bound, so that a test can replace one of them. */
export function bindEp0(f: FakeEp0): Ep0Io {
  return { read: f.read.bind(f), write: f.write.bind(f), pause: f.pause.bind(f), readable: f.readable.bind(f) };
}

/** A watcher that records what it is told; fire() plays the epoll thread. */
export class FakeWatch implements FdWatch {
  handlers = new Map<number, (revents: number) => void>();
  armed = 0;
  watch(fd: number, _events: number, handler: (revents: number) => void): void {
    this.handlers.set(fd, handler);
  }
  /** Reports fd readable, as the watcher does when epoll says so. */
  fire(fd: number): void {
    this.handlers.get(fd)?.(1);
  }
  arm(): void {
    this.armed++;
  }
  forget(fd: number): void {
    this.handlers.delete(fd);
  }
}
