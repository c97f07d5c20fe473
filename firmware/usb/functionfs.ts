/**
 * A TypeScript library for services that implement a USB function with FunctionFS:
 *
 *   const f = FunctionFs.fromListenFds();          // fds from bunit or systemd (LISTEN_FDS)
 *   f.on("enable", () => ...);
 *   f.onSetup((s) => s.request.type === "vendor" ? s.reply(data) : s.stall());
 *   for await (const chunk of f.endpoint(1).reader()) await f.endpoint(2).write(chunk);
 *
 * ep0 is read by ep0-reader.ts (the same code the socket unit uses before the service runs)
 * through an fd watcher: fromListenFds() takes { watcher }, by default the process's
 * n.fdWatcher(); the constructor needs one. Endpoint I/O uses Linux AIO with several requests
 * in flight. When the host disables the function (DISABLE, UNBIND, unplug), transfers in
 * flight end and readers and writers wait; they resume on the next ENABLE.
 *
 * SETUP requests must be answered: reply(data) for IN requests, receive() (or ack()) for OUT
 * requests, or stall(). A handler that returns without answering stalls the request.
 */
import type { FdWatch } from "../core/fd-watch.ts";
import * as n from "../native.ts";
import { F_GETFL, F_SETFL, O_NONBLOCK, S_IFMT, S_IFREG } from "../sys/constants.ts";
import { ERRNO, errnoName, SysError } from "../sys/errno.ts";
import { listenFds, type ListenFd } from "../lib/listen-fds.ts";
import { AioContext, type AioDone, type AioOptions } from "./aio.ts";
import { Ep0Reader, type Setup, type Ep0Io } from "./ep0-reader.ts";
import { nextState, type FfsEventType, type FunctionState } from "./ffs-events.ts";

export { Setup } from "./ep0-reader.ts";

export class EndpointStoppedError extends Error {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
  ) {
    super(`${endpoint}: transfer stopped (${reason})`);
    this.name = "EndpointStoppedError";
  }
}

type Listener = () => void;

export interface FunctionFsOptions {
  ep0: number;
  endpoints: number[];
  /** Watches ep0 and the AIO completions (a service normally passes n.fdWatcher()). */
  watcher: FdWatch;
  /** ep0's system calls (tests pass a fake). */
  ep0Io?: Ep0Io;
  /** The state when the service starts (bunit passes USB_FUNCTION_STATE when it activated on ENABLE). */
  initialState?: FunctionState;
  /** AIO requests in flight across all endpoints. */
  aioDepth?: number;
  /** How AIO completions wake the service (see AioContext); Bun's event loop by default. */
  aioCompletions?: AioOptions["completions"];
}

export class FunctionFs {
  state: FunctionState;
  readonly ep0: number;
  readonly aio: AioContext;
  readonly eventLog: FfsEventType[] = [];
  private readonly eps: Endpoint[];
  private readonly reader: Ep0Reader;
  private listeners = new Map<FfsEventType | "state", Listener[]>();
  private setupHandler: (s: Setup) => void | Promise<void> = (s) => s.stall();
  private enabledWaiters: (() => void)[] = [];
  private closed = false;

  constructor(opts: FunctionFsOptions) {
    this.ep0 = opts.ep0;
    this.state = opts.initialState ?? "unbound";
    this.aio = new AioContext(opts.watcher, opts.aioDepth ?? 128, { completions: opts.aioCompletions });
    n.fcntl(this.ep0, F_SETFL, n.fcntl(this.ep0, F_GETFL) | O_NONBLOCK);
    this.eps = opts.endpoints.map((fd, i) => {
      // Non-blocking: io_submit() on a disabled endpoint fails at once instead of waiting.
      n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
      return new Endpoint(this, fd, `ep${i + 1}`);
    });
    // Also re-polls ep0 every 200 ms: a wake-up can be lost (see Ep0Reader).
    this.reader = new Ep0Reader(this.ep0, {
      watcher: opts.watcher,
      io: opts.ep0Io,
      onEvent: (type) => this.onEvent(type),
      onSetup: (s) => {
        this.eventLog.push("setup");
        return this.setupHandler(s);
      },
      onSetupDone: () => this.emit("setup"),
    });
  }

  /**
   * Takes ep0 and the endpoints from LISTEN_FDS: the fds of the socket named `name` (default:
   * the first FunctionFS fd), ep0 first, then ep1..N as bunit and systemd pass them.
   */
  static fromListenFds(
    opts: { name?: string; env?: Record<string, string | undefined>; aioDepth?: number; fds?: ListenFd[]; watcher?: FdWatch } = {},
  ): FunctionFs {
    const env = opts.env ?? process.env;
    const state = env.USB_FUNCTION_STATE as FunctionState | undefined;
    // listenFds() unsets LISTEN_*; a service with other fds too passes what it read itself.
    const fds = opts.fds ?? listenFds(env);
    const isFfs = (fd: number) => (n.fstat(fd).mode & S_IFMT) === S_IFREG;
    const mine = fds.filter((f) => isFfs(f.fd) && (!opts.name || f.name === opts.name || f.name.startsWith(`${opts.name}.`)));
    if (mine.length === 0)
      throw new Error(`no FunctionFS fds${opts.name ? ` named ${opts.name}` : ""} in LISTEN_FDS (${fds.map((f) => f.name).join(", ") || "none"})`);
    return new FunctionFs({
      ep0: mine[0]!.fd,
      endpoints: mine.slice(1).map((f) => f.fd),
      initialState: state && ["bound", "enabled"].includes(state) ? state : undefined,
      aioDepth: opts.aioDepth,
      watcher: opts.watcher ?? n.fdWatcher(),
    });
  }

  on(type: FfsEventType | "state", fn: Listener): () => void {
    const l = this.listeners.get(type) ?? [];
    l.push(fn);
    this.listeners.set(type, l);
    return () =>
      this.listeners.set(
        type,
        (this.listeners.get(type) ?? []).filter((x) => x !== fn),
      );
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

  private onEvent(type: Exclude<FfsEventType, "setup">): void {
    this.eventLog.push(type);
    const before = this.state;
    this.state = nextState(this.state, type);
    this.emit(type);
    if (this.state !== before) this.emit("state");
    if (this.state === "enabled") for (const w of this.enabledWaiters.splice(0)) w();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
    this.aio.close();
  }
}

export interface ReaderOptions {
  /**
   * Bytes per request (a multiple of the packet size; 16 KiB by default). A request ends with
   * a short packet or when full: for bulk throughput, 64 KiB requests cost a quarter of the
   * per-request work (the host must end its transfers with a short packet or ZLP).
   */
  size?: number;
  /** Requests kept in flight (8 by default). */
  depth?: number;
  /** Stop (instead of waiting for the next ENABLE) when the function is disabled. */
  stopOnDisable?: boolean;
  /**
   * Yield views of the reader's own buffers instead of copies: a chunk is valid until the
   * loop asks for the next one (its buffer is then queued for the next transfer). Saves a
   * copy per transfer for consumers that use each chunk before the next.
   */
  views?: boolean;
}

const STOP_CODES = new Set([ERRNO.EAGAIN, ERRNO.ESHUTDOWN, ERRNO.ENODEV, ERRNO.ECANCELED]);
const RESOLVED = Promise.resolve();

/** One endpoint file (ep1..N): reads for OUT endpoints, writes for IN endpoints. */
export class Endpoint {
  private buffers: n.NativeBuffer[] = [];
  private queued = 0;
  private slotWaiters: (() => void)[] = [];
  private sendError: Error | null = null;

  constructor(
    readonly fn: FunctionFs,
    readonly fd: number,
    readonly name: string,
  ) {}

  private buffer(size: number): n.NativeBuffer {
    // Usually the one released last fits (the same size over and over).
    const last = this.buffers[this.buffers.length - 1];
    if (last && last.size >= size) return this.buffers.pop()!;
    const i = this.buffers.findIndex((b) => b.size >= size);
    if (i >= 0) return this.buffers.splice(i, 1)[0]!;
    return n.allocNative(size);
  }
  private release(b: n.NativeBuffer): void {
    this.buffers.push(b);
  }

  /** The error for a failed transfer: EndpointStoppedError when the function was disabled. */
  private failure(op: string, errno: number): Error {
    // Disabled before the submit (EAGAIN) or while the transfer was queued (ESHUTDOWN).
    if (STOP_CODES.has(errno)) return new EndpointStoppedError(this.name, errnoName(errno));
    return new SysError(`${this.name} ${op}`, errno, undefined, n.strerror);
  }

  private get enabled(): boolean {
    return this.fn.state === "enabled" || this.fn.state === "suspended";
  }

  /** Starts one transfer now; done gets the byte count or -errno (also when the kernel refused it). */
  private start(op: "read" | "write", b: n.NativeBuffer, len: number, done: AioDone): void {
    try {
      this.fn.aio.start(op, this.fd, b.ptr, len, done);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      done(-e.errno);
    }
  }

  private async transfer(op: "read" | "write", b: n.NativeBuffer, len: number): Promise<number> {
    if (!this.enabled) await this.fn.whenEnabled();
    return new Promise((resolve, reject) => this.start(op, b, len, (res) => (res < 0 ? reject(this.failure(op, -res)) : resolve(res))));
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

  private takeSendError(): void {
    const e = this.sendError;
    this.sendError = null;
    if (e) throw e;
  }

  /**
   * Queues a write without waiting for the host; resolves once fewer than depth (8 by default) writes are in
   * flight (backpressure). data is copied: the caller may reuse it at once. A failed queued
   * write is thrown by a later send() or by drain().
   */
  send(data: Uint8Array, depth = 8): Promise<void> {
    if (this.queued >= depth || !this.enabled) return this.sendLater(data, depth);
    this.takeSendError();
    const b = this.buffer(Math.max(data.length, 1));
    b.bytes.set(data);
    this.queued++;
    this.start("write", b, data.length, (res) => {
      this.release(b);
      this.queued--;
      if (res < 0) this.sendError ??= this.failure("write", -res);
      this.slotWaiters.shift()?.();
    });
    return RESOLVED;
  }

  private async sendLater(data: Uint8Array, depth: number): Promise<void> {
    for (;;) {
      if (!this.enabled) await this.fn.whenEnabled();
      else if (this.queued >= depth) await new Promise<void>((r) => this.slotWaiters.push(r));
      else return this.send(data, depth);
    }
  }

  /** Waits for the writes queued by send(). */
  async drain(): Promise<void> {
    while (this.queued > 0) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.takeSendError();
  }

  /**
   * Reads continuously with depth requests in flight, yielding data in order. A finished
   * request's buffer is queued again at once (copies) or as soon as the loop has used it
   * (views, with depth spare buffers so that the queue stays full meanwhile); at most depth
   * chunks wait for a slow consumer. When the function is disabled the reader waits for the
   * next ENABLE (or ends with stopOnDisable).
   */
  async *reader(opts: ReaderOptions = {}): AsyncGenerator<Uint8Array> {
    const size = opts.size ?? 16384;
    const depth = opts.depth ?? 8;
    const views = opts.views ?? false;
    type Item = { buf: n.NativeBuffer; len: number; chunk: Uint8Array | null; error: Error | null };
    const ready: Item[] = [];
    let inFlight = 0;
    let stopped = false;
    let finished = false;
    let wake: (() => void) | null = null;
    let held: n.NativeBuffer | null = null;
    const spare: n.NativeBuffer[] = [];
    // One completion callback per buffer, made once.
    const slots = Array.from({ length: views ? 2 * depth : depth }, () => {
      const buf = n.allocNative(size);
      const done = (r: number) => {
        inFlight--;
        if (finished) return buf.free();
        if (r < 0) {
          const e = this.failure("read", -r);
          spare.push(buf);
          if (e instanceof EndpointStoppedError) stopped = true;
          else ready.push({ buf, len: 0, chunk: null, error: e });
        } else if (views) ready.push({ buf, len: r, chunk: null, error: null });
        else {
          ready.push({ buf, len: r, chunk: buf.bytes.slice(0, r), error: null });
          spare.push(buf);
          refill();
        }
        const w = wake;
        wake = null;
        w?.();
      };
      return { buf, done };
    });
    const doneOf = new Map(slots.map((s) => [s.buf, s.done]));
    const refill = () => {
      while (!stopped && inFlight < depth && ready.length < depth && spare.length) {
        const b = spare.pop()!;
        inFlight++;
        this.start("read", b, size, doneOf.get(b)!);
      }
    };
    for (const s of slots) spare.push(s.buf);
    try {
      for (;;) {
        if (!this.enabled) await this.fn.whenEnabled();
        stopped = false;
        refill();
        for (;;) {
          if (held) {
            spare.push(held);
            held = null;
            refill();
          }
          const item = ready.shift();
          if (!item) {
            if (inFlight === 0) break; // stopped, and everything read before the stop consumed
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          if (item.error) throw item.error;
          if (item.chunk) {
            refill();
            yield item.chunk;
          } else {
            held = item.buf;
            yield item.buf.bytes.subarray(0, item.len);
          }
        }
        if (opts.stopOnDisable) return;
        // The DISABLE event may not have been read from ep0 yet: give the event loop a turn
        // instead of resubmitting at once into a disabled endpoint.
        if (this.fn.state === "enabled") await Bun.sleep(5);
      }
    } finally {
      // Transfers still queued (the consumer left early) free their buffers when they end.
      finished = true;
      for (const b of spare) b.free();
      held?.free();
      for (const it of ready) if (!it.chunk && !it.error) it.buf.free();
    }
  }
}
