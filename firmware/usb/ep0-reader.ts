/**
 * FunctionFS ep0, read in one place for the two readers bunit has: the socket unit, which
 * reads events until the host enables the function (X-USBActivationEvent=enable) before any
 * service runs, and the library (functionfs.ts), which reads them inside the service for as
 * long as it runs. Events are parsed by ffs-events.ts; a SETUP request that nobody answers is
 * stalled (a zero-length transfer in the wrong direction; FunctionFS answers EL2HLT).
 *
 * ep0 is non-blocking. The system calls go through Ep0Io, and the watcher and the re-poll
 * timer are injected, so all of this is tested without the kernel (ep0-reader.test.ts).
 */
import type { FdWatch } from "../core/fd-watch.ts";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import { EPOLLIN } from "../sys/constants.ts";
import { isErrno, SysError } from "../sys/errno.ts";
import { EVENT_SIZE, parseEvents, type ControlRequest, type FfsEventType } from "./ffs-events.ts";

/** The system calls on ep0. */
export interface Ep0Io {
  /** read(2): bytes read, or null when it would block (EAGAIN); throws SysError. */
  read(fd: number, buf: Uint8Array): number | null;
  /** write(2): bytes written, or null when it would block (EAGAIN); throws SysError. */
  write(fd: number, data: Uint8Array): number | null;
  /** Waits a moment before a transfer that would block is tried again. */
  pause(fd: number, op: "read" | "write"): void;
  /** Whether ep0 has input now (a poll that does not wait). */
  readable(fd: number): boolean;
}

export const kernelEp0Io: Ep0Io = {
  read: (fd, buf) => n.read(fd, buf),
  write: (fd, data) => n.write(fd, data),
  pause: (fd, op) => {
    if (op === "read") n.pollOne(fd, EPOLLIN, 100);
    else Bun.sleepSync(1);
  },
  readable: (fd) => (n.pollOne(fd, EPOLLIN, 0) & EPOLLIN) !== 0,
};

/** FunctionFS answers EIDRM when the host cancelled the SETUP request (sys/errno.ts does not name it). */
const EIDRM = 43;

/** The events a read of ep0 returns; unknown types are skipped. */
export type Ep0Event = { type: Exclude<FfsEventType, "setup"> } | { type: "setup"; request: ControlRequest };

/** One read of ep0: the events the kernel had queued, [] when none (EAGAIN). Throws SysError. */
export function readEp0Events(fd: number, io: Ep0Io, buf = new Uint8Array(EVENT_SIZE * 16)): Ep0Event[] {
  const got = io.read(fd, buf);
  if (!got) return [];
  return parseEvents(buf, got).filter((ev): ev is Ep0Event => ev.type !== "unknown");
}

/**
 * The data stage of a SETUP request. ep0 transfers are synchronous in FunctionFS; EAGAIN only
 * means its mutex was busy (a non-blocking ep0 only try-locks it), so they are tried again.
 */
export function ep0ReadData(fd: number, buf: Uint8Array, io: Ep0Io): number {
  for (;;) {
    const r = io.read(fd, buf);
    if (r !== null) return r;
    io.pause(fd, "read");
  }
}
export function ep0WriteData(fd: number, data: Uint8Array, io: Ep0Io): void {
  for (;;) {
    if (io.write(fd, data) !== null) return;
    io.pause(fd, "write");
  }
}

/**
 * What stalling did: "stalled" (EL2HLT), "cancelled" (EIDRM: the host gave the request up,
 * a newer event replaced it), "not-pending" (ESRCH, or the transfer went through: no request
 * was waiting), "busy" (EAGAIN on every try).
 */
export type StallOutcome = "stalled" | "cancelled" | "not-pending" | "busy";
/** Tries before giving up on a busy ep0 (each pause waits up to 100 ms for a read, 1 ms for a write). */
const STALL_TRIES = 5;

/** Stalls a SETUP request: a zero-length transfer in the wrong direction. Other errors throw. */
export function stallRequest(fd: number, request: ControlRequest, io: Ep0Io): StallOutcome {
  for (let i = 0; i < STALL_TRIES; i++) {
    try {
      const r = request.direction === "in" ? io.read(fd, new Uint8Array(0)) : io.write(fd, new Uint8Array(0));
      if (r !== null) return "not-pending";
    } catch (e) {
      if (isErrno(e, "EL2HLT")) return "stalled";
      if (e instanceof SysError && e.errno === EIDRM) return "cancelled";
      if (isErrno(e, "ESRCH")) return "not-pending";
      throw e;
    }
    io.pause(fd, request.direction === "in" ? "read" : "write");
  }
  return "busy";
}

/** One SETUP request, answered exactly once. */
export class Setup {
  answered = false;
  /** How stall() ended, once it was called. */
  stallOutcome: StallOutcome | undefined;

  constructor(
    readonly request: ControlRequest,
    private readonly ep0: number,
    private readonly io: Ep0Io = kernelEp0Io,
  ) {}

  private once(): void {
    if (this.answered) throw new Error("this SETUP request was already answered");
    this.answered = true;
  }

  /** IN request: sends data (at most wLength bytes; an empty reply is a zero-length data stage). */
  reply(data: Uint8Array | string): void {
    if (this.request.direction !== "in") throw new Error("reply() answers IN requests; use receive() or ack() for OUT");
    this.once();
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    ep0WriteData(this.ep0, bytes.subarray(0, this.request.wLength), this.io);
  }

  /** OUT request: reads the data stage (wLength bytes) and acknowledges it. */
  receive(): Uint8Array {
    if (this.request.direction !== "out") throw new Error("receive() answers OUT requests; use reply() for IN");
    this.once();
    const buf = new Uint8Array(this.request.wLength);
    const got = ep0ReadData(this.ep0, buf, this.io);
    return buf.subarray(0, got);
  }

  /** OUT request without data: acknowledges the status stage. */
  ack(): void {
    this.receive();
  }

  /** Refuses the request (the host sees a STALL / EPIPE). */
  stall(): void {
    this.once();
    this.stallOutcome = stallRequest(this.ep0, this.request, this.io);
  }
}

const describeRequest = (r: ControlRequest) =>
  `SETUP 0x${r.bmRequestType.toString(16).padStart(2, "0")}/0x${r.bRequest.toString(16).padStart(2, "0")}${r.name ? ` (${r.name})` : ""}`;

export type EnableWait = "enabled" | "pending" | { error: string };

/**
 * For the socket unit (X-USBActivationEvent=enable): reads what ep0 has queued, stalls every
 * SETUP request (no service runs yet to answer it), and says whether the host has enabled the
 * function. "enabled": a read returned ENABLE and no DISABLE/UNBIND after it; reading stops
 * there, so later events stay queued for the service. "pending": nothing more to read now
 * (wait for ep0 to be readable again). {error}: reading ep0 failed.
 */
export function waitForEnable(fd: number, io: Ep0Io, log: { debug(m: string): void }): EnableWait {
  const buf = new Uint8Array(EVENT_SIZE * 16);
  for (;;) {
    let events: Ep0Event[];
    try {
      events = readEp0Events(fd, io, buf);
    } catch (e) {
      return { error: `Reading ep0 events: ${errorText(e)}` };
    }
    if (events.length === 0) return "pending";
    let enabled = false;
    for (const ev of events) {
      if (ev.type === "setup") {
        let outcome: string;
        try {
          outcome = stallRequest(fd, ev.request, io);
        } catch (e) {
          outcome = `failed: ${errorText(e)}`;
        }
        log.debug(`Stalling ${describeRequest(ev.request)} before the service runs: ${outcome}`);
      } else if (ev.type === "enable") enabled = true;
      else if (ev.type === "disable" || ev.type === "unbind") enabled = false;
    }
    if (enabled) return "enabled";
  }
}

/** How the library's reader re-polls ep0: fn every ms; the default timer does not keep the process alive. */
export type Repeat = (ms: number, fn: () => void) => { cancel(): void };
const unrefInterval: Repeat = (ms, fn) => {
  const h = setInterval(fn, ms);
  h.unref();
  return { cancel: () => clearInterval(h) };
};

/** How often ep0 is polled besides the watcher (see Ep0Reader). */
export const EP0_RECHECK_MS = 200;

export interface Ep0ReaderOptions {
  watcher: FdWatch;
  io?: Ep0Io;
  repeat?: Repeat;
  /** Every event but SETUP, in order, as it is read. */
  onEvent(type: Exclude<FfsEventType, "setup">): void;
  /** Answers a SETUP request (sync or async); left unanswered, the reader stalls it. */
  onSetup(s: Setup): void | Promise<void>;
  /** After a SETUP request was answered or stalled. */
  onSetupDone?(s: Setup): void;
  /** A read of ep0 or a SETUP handler failed. Default: thrown as an uncaught error. */
  onError?(e: unknown): void;
}

/**
 * For the library: reads ep0 whenever the watcher reports input, one event at a time, each
 * SETUP answered (awaited) before the next event is taken.
 *
 * On a non-blocking ep0, FunctionFS only try-locks its mutex in poll() and read(): while
 * anyone holds it, poll reports no input and read says EAGAIN, and the wake-up of an event
 * queued meanwhile is spent. Such an event (a SETUP after re-enumeration, seen in the QEMU
 * board) would wait for the next one, and the host's control transfer times out. So ep0 is
 * also polled every EP0_RECHECK_MS.
 */
export class Ep0Reader {
  private readonly io: Ep0Io;
  private readonly buf = new Uint8Array(EVENT_SIZE * 16);
  private readonly recheck: { cancel(): void };
  /** A drain is under way (the watcher and the re-poll must not both read). */
  private draining = false;
  private closed = false;

  constructor(
    readonly fd: number,
    private readonly opts: Ep0ReaderOptions,
  ) {
    this.io = opts.io ?? kernelEp0Io;
    opts.watcher.watch(fd, EPOLLIN, () => void this.onReadable());
    this.recheck = (opts.repeat ?? unrefInterval)(EP0_RECHECK_MS, () => {
      if (!this.draining && !this.closed && this.io.readable(fd)) void this.onReadable();
    });
  }

  /** Reads and handles everything queued; resolves when ep0 has nothing more (or the reader closed). */
  async onReadable(): Promise<void> {
    if (this.draining || this.closed) return;
    this.draining = true;
    try {
      await this.drain();
    } catch (e) {
      this.fail(e);
    } finally {
      this.draining = false;
    }
    if (!this.closed) this.opts.watcher.arm(this.fd, EPOLLIN);
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const events = readEp0Events(this.fd, this.io, this.buf);
      if (events.length === 0) return;
      for (const ev of events) {
        if (ev.type !== "setup") {
          this.opts.onEvent(ev.type);
          continue;
        }
        const s = new Setup(ev.request, this.fd, this.io);
        try {
          await this.opts.onSetup(s);
        } catch (e) {
          // The request is stalled below and the next events are still read.
          this.fail(e);
        }
        if (this.closed) return;
        if (!s.answered) s.stall();
        this.opts.onSetupDone?.(s);
      }
    }
  }

  private fail(e: unknown): void {
    if (!this.closed) (this.opts.onError ?? throwLater)(e);
  }

  /** Stops reading (before ep0 is closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.recheck.cancel();
    this.opts.watcher.forget(this.fd);
  }
}

function throwLater(e: unknown): void {
  queueMicrotask(() => {
    throw e;
  });
}
