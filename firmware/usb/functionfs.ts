/**
 * A TypeScript library for services that implement a USB function with FunctionFS:
 *
 *   const f = FunctionFs.fromListenFds();          // fds from bunit or systemd (LISTEN_FDS)
 *   f.on("enable", () => ...);
 *   f.onSetup((s) => s.request.type === "vendor" ? s.reply(data) : s.stall());
 *   for await (const chunk of f.endpoint(1).reader()) await f.endpoint(2).write(chunk);
 *
 * ep0 is read through bunit's fd watcher; endpoint I/O uses Linux AIO with several requests
 * in flight. When the host disables the function (DISABLE, UNBIND, unplug), transfers in
 * flight end and readers and writers wait; they resume on the next ENABLE.
 *
 * SETUP requests must be answered: reply(data) for IN requests, receive() (or ack()) for OUT
 * requests, or stall(). A handler that returns without answering stalls the request.
 */
import * as n from "../native.ts";
import { EPOLLIN, F_GETFL, F_SETFL, O_NONBLOCK, S_IFMT, S_IFREG } from "../sys/constants.ts";
import { isErrno, SysError } from "../sys/errno.ts";
import { listenFds, type ListenFd } from "../lib/listen-fds.ts";
import { AioContext } from "./aio.ts";
import { EVENT_SIZE, nextState, parseEvents, type ControlRequest, type FfsEventType, type FunctionState } from "./ffs-events.ts";

export class EndpointStoppedError extends Error {
  constructor(readonly endpoint: string, readonly reason: string) {
    super(`${endpoint}: transfer stopped (${reason})`);
    this.name = "EndpointStoppedError";
  }
}

/** One SETUP request, answered exactly once. */
export class Setup {
  answered = false;
  constructor(
    readonly request: ControlRequest,
    private readonly ep0: number,
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
    writeEp0(this.ep0, bytes.subarray(0, this.request.wLength));
  }

  /** OUT request: reads the data stage (wLength bytes) and acknowledges it. */
  receive(): Uint8Array {
    if (this.request.direction !== "out") throw new Error("receive() answers OUT requests; use reply() for IN");
    this.once();
    const buf = new Uint8Array(this.request.wLength);
    const got = readEp0(this.ep0, buf);
    return buf.subarray(0, got);
  }

  /** OUT request without data: acknowledges the status stage. */
  ack(): void {
    this.receive();
  }

  /** Refuses the request (the host sees a STALL / EPIPE). */
  stall(): void {
    this.once();
    try {
      // A transfer in the wrong direction is how FunctionFS stalls ep0: it fails with EL2HLT.
      if (this.request.direction === "in") readEp0(this.ep0, new Uint8Array(0));
      else writeEp0(this.ep0, new Uint8Array(0));
    } catch (e) {
      if (!isErrno(e, "EL2HLT")) throw e;
    }
  }
}

/** How often ep0 is polled besides the watcher (see the constructor). */
const EP0_RECHECK_MS = 200;

/** ep0 transfers are synchronous in FunctionFS; EAGAIN only while it is not ready yet. */
function readEp0(fd: number, buf: Uint8Array): number {
  for (;;) {
    const r = n.read(fd, buf);
    if (r !== null) return r;
    n.pollOne(fd, EPOLLIN, 100);
  }
}
function writeEp0(fd: number, data: Uint8Array): void {
  for (;;) {
    const r = n.write(fd, data);
    if (r !== null) return;
    Bun.sleepSync(1);
  }
}

type Listener = () => void;

export interface FunctionFsOptions {
  ep0: number;
  endpoints: number[];
  /** The state when the service starts (bunit passes USB_FUNCTION_STATE when it activated on ENABLE). */
  initialState?: FunctionState;
  /** AIO requests in flight across all endpoints. */
  aioDepth?: number;
}

export class FunctionFs {
  state: FunctionState;
  readonly ep0: number;
  private readonly eps: Endpoint[];
  private listeners = new Map<FfsEventType | "state", Listener[]>();
  private setupHandler: (s: Setup) => void | Promise<void> = (s) => s.stall();
  private enabledWaiters: (() => void)[] = [];
  private closed = false;
  /** onEp0() is draining events (the watcher and the re-check must not both read). */
  private draining = false;
  private readonly recheck: ReturnType<typeof setInterval>;
  readonly aio: AioContext;
  readonly eventLog: FfsEventType[] = [];

  constructor(opts: FunctionFsOptions) {
    this.ep0 = opts.ep0;
    this.state = opts.initialState ?? "unbound";
    this.aio = new AioContext(opts.aioDepth ?? 128);
    n.fcntl(this.ep0, F_SETFL, n.fcntl(this.ep0, F_GETFL) | O_NONBLOCK);
    this.eps = opts.endpoints.map((fd, i) => {
      // Non-blocking: io_submit() on a disabled endpoint fails at once instead of waiting.
      n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
      return new Endpoint(this, fd, `ep${i + 1}`);
    });
    n.fdWatcher().watch(this.ep0, EPOLLIN, () => void this.onEp0());
    // On a non-blocking ep0, FunctionFS only try-locks its mutex in poll() and read(): while
    // anyone holds it, poll reports no input and read says EAGAIN, and the wake-up of an event
    // queued meanwhile is spent. Such an event (a SETUP after re-enumeration, seen in the QEMU
    // board) would wait for the next one, and the host's control transfer times out. So ep0 is
    // also polled now and then.
    this.recheck = setInterval(() => {
      if (!this.draining && n.pollOne(this.ep0, EPOLLIN, 0) & EPOLLIN) void this.onEp0();
    }, EP0_RECHECK_MS);
    this.recheck.unref();
  }

  /**
   * Takes ep0 and the endpoints from LISTEN_FDS: the fds of the socket named `name` (default:
   * the first FunctionFS fd), ep0 first, then ep1..N as bunit and systemd pass them.
   */
  static fromListenFds(opts: { name?: string; env?: Record<string, string | undefined>; aioDepth?: number; fds?: ListenFd[] } = {}): FunctionFs {
    const env = opts.env ?? process.env;
    const state = env.USB_FUNCTION_STATE as FunctionState | undefined;
    // listenFds() unsets LISTEN_*; a service with other fds too passes what it read itself.
    const fds = opts.fds ?? listenFds(env);
    const isFfs = (fd: number) => (n.fstat(fd).mode & S_IFMT) === S_IFREG;
    const mine = fds.filter((f) => isFfs(f.fd) && (!opts.name || f.name === opts.name || f.name.startsWith(`${opts.name}.`)));
    if (mine.length === 0) throw new Error(`no FunctionFS fds${opts.name ? ` named ${opts.name}` : ""} in LISTEN_FDS (${fds.map((f) => f.name).join(", ") || "none"})`);
    return new FunctionFs({ ep0: mine[0]!.fd, endpoints: mine.slice(1).map((f) => f.fd), initialState: state && ["bound", "enabled"].includes(state) ? state : undefined, aioDepth: opts.aioDepth });
  }

  on(type: FfsEventType | "state", fn: Listener): () => void {
    const l = this.listeners.get(type) ?? [];
    l.push(fn);
    this.listeners.set(type, l);
    return () => this.listeners.set(type, (this.listeners.get(type) ?? []).filter((x) => x !== fn));
  }

  once(type: FfsEventType): Promise<void> {
    return new Promise((resolve) => {
      const off = this.on(type, () => {
        off();
        resolve();
      });
    });
  }

  /** The handler for SETUP requests; the default stalls every request. */
  onSetup(handler: (s: Setup) => void | Promise<void>): void {
    this.setupHandler = handler;
  }

  endpoint(i: number): Endpoint {
    const e = this.eps[i - 1];
    if (!e) throw new Error(`no endpoint ${i} (this function has ${this.eps.length})`);
    return e;
  }

  get endpointCount(): number {
    return this.eps.length;
  }

  /** Resolves when the function is enabled (now, or at the next ENABLE). */
  whenEnabled(): Promise<void> {
    if (this.state === "enabled" || this.state === "suspended") return Promise.resolve();
    return new Promise((r) => this.enabledWaiters.push(r));
  }

  private emit(type: FfsEventType | "state"): void {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn();
  }

  private async onEp0(): Promise<void> {
    if (this.draining || this.closed) return;
    this.draining = true;
    try {
      await this.drainEp0();
    } finally {
      this.draining = false;
    }
    if (!this.closed) n.fdWatcher().arm(this.ep0, EPOLLIN);
  }

  private async drainEp0(): Promise<void> {
    const buf = new Uint8Array(EVENT_SIZE * 16);
    for (;;) {
      let got: number | null;
      try {
        got = n.read(this.ep0, buf);
      } catch (e) {
        if (this.closed) return;
        throw e;
      }
      if (got === null || got === 0) break;
      for (const ev of parseEvents(buf, got)) {
        if (ev.type === "unknown") continue;
        this.eventLog.push(ev.type);
        if (ev.type === "setup") {
          const s = new Setup(ev.request, this.ep0);
          try {
            await this.setupHandler(s);
          } finally {
            if (!s.answered) s.stall();
          }
          this.emit("setup");
          continue;
        }
        const before = this.state;
        this.state = nextState(this.state, ev.type);
        this.emit(ev.type);
        if (this.state !== before) this.emit("state");
        if (this.state === "enabled") for (const w of this.enabledWaiters.splice(0)) w();
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.recheck);
    n.fdWatcher().forget(this.ep0);
    this.aio.close();
  }
}

export interface ReaderOptions {
  /** Bytes per request (a multiple of the packet size; 16 KiB by default). */
  size?: number;
  /** Requests kept in flight. */
  depth?: number;
  /** Stop (instead of waiting for the next ENABLE) when the function is disabled. */
  stopOnDisable?: boolean;
}

/** One endpoint file (ep1..N): reads for OUT endpoints, writes for IN endpoints. */
export class Endpoint {
  private buffers: n.NativeBuffer[] = [];

  constructor(
    readonly fn: FunctionFs,
    readonly fd: number,
    readonly name: string,
  ) {}

  private buffer(size: number): n.NativeBuffer {
    const i = this.buffers.findIndex((b) => b.size >= size);
    if (i >= 0) return this.buffers.splice(i, 1)[0]!;
    return n.allocNative(size);
  }
  private release(b: n.NativeBuffer): void {
    this.buffers.push(b);
  }

  private async transfer(op: "read" | "write", b: n.NativeBuffer, len: number): Promise<number> {
    await this.fn.whenEnabled();
    try {
      return await this.fn.aio.submit(op, this.fd, b, len, `${this.name} ${op}`);
    } catch (e) {
      // Disabled before the submit (EAGAIN) or while the transfer was queued (ESHUTDOWN).
      if (isErrno(e, "EAGAIN", "ESHUTDOWN", "ENODEV", "ECANCELED")) throw new EndpointStoppedError(this.name, (e as SysError).code);
      throw e;
    }
  }

  /** Reads one transfer of at most max bytes. */
  async read(max = 16384): Promise<Uint8Array> {
    const b = this.buffer(max);
    try {
      const got = await this.transfer("read", b, max);
      return b.bytes.slice(0, got);
    } finally {
      this.release(b);
    }
  }

  /** Writes data as one transfer; resolves when the host has taken it. */
  async write(data: Uint8Array): Promise<number> {
    const b = this.buffer(Math.max(data.length, 1));
    b.bytes.set(data);
    try {
      return await this.transfer("write", b, data.length);
    } finally {
      this.release(b);
    }
  }

  private sending = new Set<Promise<unknown>>();
  private sendError: Error | null = null;

  private takeSendError(): void {
    const e = this.sendError;
    this.sendError = null;
    if (e) throw e;
  }

  /**
   * Queues a write without waiting for the host; resolves once fewer than depth writes are in
   * flight (backpressure). A failed queued write is thrown by a later send() or by drain().
   */
  async send(data: Uint8Array, depth = 4): Promise<void> {
    while (this.sending.size >= depth) await Promise.race(this.sending);
    this.takeSendError();
    const p = this.write(data).catch((e: Error) => void (this.sendError ??= e));
    this.sending.add(p);
    void p.finally(() => this.sending.delete(p));
  }

  /** Waits for the writes queued by send(). */
  async drain(): Promise<void> {
    await Promise.all(this.sending);
    this.takeSendError();
  }

  /**
   * Reads continuously with several requests in flight, yielding data in order. When the
   * function is disabled the reader waits for the next ENABLE (or ends with stopOnDisable).
   */
  async *reader(opts: ReaderOptions = {}): AsyncGenerator<Uint8Array> {
    const size = opts.size ?? 16384;
    const depth = opts.depth ?? 4;
    for (;;) {
      await this.fn.whenEnabled();
      const queue: Promise<Uint8Array>[] = [];
      let stopped = false;
      const fill = () => {
        while (!stopped && queue.length < depth) {
          const p = this.read(size);
          p.catch(() => {});
          queue.push(p);
        }
      };
      fill();
      while (queue.length) {
        let chunk: Uint8Array;
        try {
          chunk = await queue.shift()!;
        } catch (e) {
          if (!(e instanceof EndpointStoppedError)) throw e;
          stopped = true;
          continue;
        }
        fill();
        yield chunk;
      }
      if (opts.stopOnDisable) return;
      // The DISABLE event may not have been read from ep0 yet: give the event loop a turn
      // instead of resubmitting at once into a disabled endpoint.
      if (this.fn.state === "enabled") await Bun.sleep(5);
    }
  }
}
