/**
 * The control socket: an AF_UNIX stream socket the CLI talks to. Each connection carries one
 * request line and gets one reply line (or, for a follow, a stream of lines until the client
 * goes). The caller's credentials come from SO_PEERCRED at accept time.
 *
 * Bounded under abuse (see ServerLimits): connections per uid and in all, an idle timeout for
 * a connection that neither sends its request nor takes its reply, a byte budget per follower
 * (records beyond it are dropped and a { dropped: N } marker tells the reader), and at EMFILE
 * or ENFILE accepting pauses (the listening fd is not re-armed, so epoll does not spin) while
 * open connections are still served; it resumes when a connection closes or after a delay.
 */
import { readFileSync, rmSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { ERRNO } from "../sys/errno.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { bindUnixPath } from "../core/unix-endpoint.ts";
import { parseStatusGroups, type Caller } from "./auth.ts";
import { MAX_REQUEST_BYTES, parseRequest, type ControlReply, type ControlRequest } from "./protocol.ts";
import { errorText } from "../core/errors.ts";

/** What a handler returns: a reply, or a stream that writes lines until stopped. */
export type HandlerResult = ControlReply | { stream: (send: (line: unknown) => void) => () => void; first?: ControlReply };
export type ControlHandler = (req: ControlRequest, caller: Caller) => Promise<HandlerResult>;

export interface ServerLimits {
  /** A connection that sends no complete request, or takes no part of its reply, for this long is closed. */
  idleMs: number;
  /** Concurrent connections of one non-root uid. */
  perUid: number;
  /** Concurrent connections in all (root included). */
  total: number;
  /** Bytes queued for a `logs -f` reader before records are dropped. */
  followerQueueBytes: number;
  /** Pause of accepting after EMFILE/ENFILE (ends sooner when a connection closes). */
  acceptPauseMs: number;
  /**
   * Refused connections kept open until they have sent their request and read why (a client
   * that sees its connection closed at once learns nothing); beyond this many, refused ones
   * are closed at once.
   */
  refusing: number;
}

export const DEFAULT_LIMITS: ServerLimits = { idleMs: 30_000, perUid: 16, total: 512, followerQueueBytes: 256 * 1024, acceptPauseMs: 1000, refusing: 32 };

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface ServerOptions {
  limits?: Partial<ServerLimits>;
  timers?: Timers;
  /** Warnings about refused connections and paused accepting (the daemon's logger). */
  warn?: (message: string) => void;
  /** The caller of an accepted fd (SO_PEERCRED and /proc); replaced in tests. */
  callerOf?: (fd: number) => Caller;
  /** accept4(); replaced in tests to produce EMFILE. */
  accept?: (fd: number, flags: number) => n.Accepted | null;
}

const realTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A reply line encoded once and shared: every follower of a record queues the same bytes. */
export class EncodedLine {
  readonly bytes: Uint8Array;
  constructor(value: unknown) {
    this.bytes = enc.encode(JSON.stringify(value) + "\n");
  }
}

export function callerOf(fd: number): Caller {
  const cred = n.peercred(fd);
  let groups: number[] = [];
  try {
    groups = parseStatusGroups(readFileSync(`/proc/${cred.pid}/status`, "utf8"));
  } catch {
    /* the caller is gone already */
  }
  return { cred, groups };
}

const errnoOf = (e: unknown): number | undefined => (e as { errno?: number }).errno;

/** accept4 errors after which the next accept may well succeed (the peer went, a signal). */
const TRANSIENT_ACCEPT = new Set([ERRNO.ECONNABORTED, ERRNO.EINTR, ERRNO.EPROTO, ERRNO.EPERM, ERRNO.ENETDOWN, ERRNO.EHOSTUNREACH, ERRNO.ENETUNREACH]);

class ControlConnection {
  private input = "";
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private closed = false;
  private stopStream: (() => void) | null = null;
  private endAfterFlush = false;
  /** The client shut down its sending side (socat does after its request): read no more. */
  private eof = false;
  private dispatching = false;
  /** Follow records not sent because the reader was too slow (reported by a marker line). */
  private dropped = 0;
  private idle: unknown = null;

  constructor(
    private readonly fd: number,
    readonly caller: Caller,
    private readonly watcher: FdWatch,
    private readonly handle: ControlHandler,
    private readonly limits: ServerLimits,
    private readonly timers: Timers,
    private readonly onClose: (c: ControlConnection) => void,
    /** Set: the connection was refused; its request gets this error and nothing else. */
    readonly refusal: string | null = null,
  ) {
    this.watcher.watch(fd, C.EPOLLIN | C.EPOLLRDHUP, (ev) => this.onEvent(ev));
    this.touch();
  }

  /** Restarts the idle timer, or stops it while nothing is expected of the client. */
  private touch(): void {
    if (this.idle !== null) this.timers.clear(this.idle);
    this.idle = null;
    if (this.closed || this.dispatching) return;
    // A follower waiting for records, with nothing queued, is not idle: it is listening.
    if (this.stopStream && this.out.length === 0) return;
    this.idle = this.timers.set(() => {
      this.idle = null;
      this.close();
    }, this.limits.idleMs);
  }

  private onEvent(ev: number): void {
    if (this.closed) return;
    if (ev & C.EPOLLOUT) this.flush();
    if (this.closed) return;
    if (ev & (C.EPOLLIN | C.EPOLLRDHUP | C.EPOLLHUP | C.EPOLLERR)) this.readInput();
    if (!this.closed) this.rearm();
  }

  private rearm(): void {
    this.watcher.arm(this.fd, (this.eof ? 0 : C.EPOLLIN | C.EPOLLRDHUP) | (this.out.length ? C.EPOLLOUT : 0));
  }

  private readInput(): void {
    const buf = new Uint8Array(4096);
    for (;;) {
      let r: number | null;
      try {
        r = n.recv(this.fd, buf);
      } catch {
        return this.close();
      }
      if (r === null) return;
      if (r === 0) {
        // The client went (ends a follow), or only half-closed while its request is answered.
        if (this.dispatching || (this.out.length && !this.stopStream)) {
          this.eof = true;
          return;
        }
        return this.close();
      }
      if (this.stopStream || this.endAfterFlush) continue; // one request per connection
      this.touch();
      this.input += dec.decode(buf.subarray(0, r), { stream: true });
      const nl = this.input.indexOf("\n");
      if (nl < 0 && this.input.length > MAX_REQUEST_BYTES) {
        this.input = "";
        this.send({ ok: false, error: `request too long (more than ${MAX_REQUEST_BYTES} bytes)` });
        return this.finish();
      }
      if (nl >= 0) {
        const line = this.input.slice(0, nl);
        this.input = "";
        if (line.length > MAX_REQUEST_BYTES) {
          this.send({ ok: false, error: `request too long (more than ${MAX_REQUEST_BYTES} bytes)` });
          return this.finish();
        }
        this.endAfterFlush = true; // until a stream says otherwise
        this.dispatching = true;
        this.touch();
        void this.dispatch(line).finally(() => {
          this.dispatching = false;
          this.touch();
        });
      }
    }
  }

  private async dispatch(line: string): Promise<void> {
    let res: HandlerResult;
    try {
      if (this.refusal !== null) throw new Error(this.refusal);
      res = await this.handle(parseRequest(line), this.caller);
    } catch (e) {
      res = { ok: false, error: errorText(e) };
    }
    if (this.closed) return;
    if ("stream" in res) {
      if (this.eof) return this.close();
      this.endAfterFlush = false;
      if (res.first) this.send(res.first);
      this.stopStream = res.stream((l) => this.sendFollowed(l));
      return;
    }
    this.send(res);
    this.finish();
  }

  /** A followed line: dropped (and counted) while the reader has a full queue. */
  private sendFollowed(value: unknown): void {
    if (this.closed) return;
    if (this.outBytes >= this.limits.followerQueueBytes) {
      this.dropped++;
      return;
    }
    if (this.dropped) {
      const d = this.dropped;
      this.dropped = 0;
      this.queue({ dropped: d });
    }
    this.send(value);
  }

  private queue(value: unknown): void {
    const b = value instanceof EncodedLine ? value.bytes : enc.encode(JSON.stringify(value) + "\n");
    this.out.push(b);
    this.outBytes += b.length;
  }

  send(value: unknown): void {
    if (this.closed) return;
    this.queue(value);
    const hadTimer = this.idle !== null;
    this.flush();
    if (!this.closed && this.out.length) {
      this.rearm();
      if (!hadTimer) this.touch();
    }
  }

  private finish(): void {
    this.endAfterFlush = true;
    this.flush();
  }

  private flush(): void {
    let progressed = false;
    for (;;) {
      progressed = this.write() || progressed;
      // A follower that caught up hears at once how many records it missed.
      if (this.out.length || !this.dropped || !this.stopStream || this.closed) break;
      this.queue({ dropped: this.dropped });
      this.dropped = 0;
    }
    if (this.closed) return;
    if (progressed) this.touch();
    if (this.out.length === 0 && this.endAfterFlush && !this.stopStream) this.close();
  }

  /** Sends what is queued until the socket is full; whether anything went. */
  private write(): boolean {
    let progressed = false;
    while (this.out.length) {
      const chunk = this.out[0]!;
      let w: number;
      try {
        w = n.send(this.fd, chunk, C.MSG_NOSIGNAL);
      } catch (e) {
        if (errnoOf(e) === ERRNO.EAGAIN) break;
        this.close();
        return progressed;
      }
      if (w > 0) progressed = true;
      this.outBytes -= w;
      if (w < chunk.length) {
        this.out[0] = chunk.subarray(w);
        break;
      }
      this.out.shift();
    }
    return progressed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idle !== null) this.timers.clear(this.idle);
    this.idle = null;
    this.stopStream?.();
    this.stopStream = null;
    this.out = [];
    this.outBytes = 0;
    this.watcher.forget(this.fd);
    n.close(this.fd);
    this.onClose(this);
  }
}

/** Admission of a new connection: null, or why it is refused. Pure. */
export function admit(caller: Caller, perUid: ReadonlyMap<number, number>, total: number, limits: ServerLimits): string | null {
  if (total >= limits.total) return `too many control connections (${limits.total})`;
  const uid = caller.cred.uid;
  if (uid !== 0 && (perUid.get(uid) ?? 0) >= limits.perUid) return `too many control connections from uid ${uid} (limit ${limits.perUid})`;
  return null;
}

export class ControlServer {
  private readonly conns = new Set<ControlConnection>();
  /** Refused connections waiting to tell their client why. */
  private readonly refusing = new Set<ControlConnection>();
  private readonly perUid = new Map<number, number>();
  private readonly limits: ServerLimits;
  private readonly timers: Timers;
  private readonly warn: (message: string) => void;
  private readonly callerOf: (fd: number) => Caller;
  private readonly accept: (fd: number, flags: number) => n.Accepted | null;
  private paused: unknown = null;
  private closed = false;
  private lastRefusalWarning = 0;
  private lastPauseWarning = 0;

  private constructor(
    readonly fd: number,
    readonly path: string,
    private readonly watcher: FdWatch,
    private readonly handle: ControlHandler,
    opts: ServerOptions,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.timers = opts.timers ?? realTimers;
    this.warn = opts.warn ?? ((m) => process.stderr.write(`bunit: ${m}\n`));
    this.callerOf = opts.callerOf ?? callerOf;
    this.accept = opts.accept ?? n.accept;
    this.watcher.watch(fd, C.EPOLLIN, () => this.onAccept());
  }

  /** Binds path (replacing a stale socket there), mode 0666: every user may ask, the daemon decides. */
  static listen(path: string, watcher: FdWatch, handle: ControlHandler, opts: ServerOptions = {}): ControlServer {
    const fd = bindUnixPath(path, C.SOCK_STREAM, (s) => n.listen(s, 64));
    return new ControlServer(fd, path, watcher, handle, opts);
  }

  /** Serves an already listening fd (handed over by daemon-reexec). */
  static adopt(fd: number, path: string, watcher: FdWatch, handle: ControlHandler, opts: ServerOptions = {}): ControlServer {
    return new ControlServer(fd, path, watcher, handle, opts);
  }

  /** Open connections (for tests and status). */
  get connections(): number {
    return this.conns.size;
  }

  /** Whether accepting is paused after EMFILE/ENFILE. */
  get acceptPaused(): boolean {
    return this.paused !== null;
  }

  private onAccept(): void {
    for (;;) {
      let a: n.Accepted | null;
      try {
        a = this.accept(this.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      } catch (e) {
        const errno = errnoOf(e);
        if (errno !== undefined && TRANSIENT_ACCEPT.has(errno)) continue;
        // EMFILE, ENFILE, ENOBUFS, ENOMEM...: the connection stays queued in the kernel. Do
        // not re-arm (a level-triggered fd would report it again at once): pause, keep serving.
        return this.pause(errorText(e));
      }
      if (!a) break;
      this.admitOne(a.fd);
    }
    this.watcher.arm(this.fd, C.EPOLLIN);
  }

  private admitOne(fd: number): void {
    let caller: Caller;
    try {
      caller = this.callerOf(fd);
    } catch {
      n.close(fd);
      return;
    }
    const refusal = admit(caller, this.perUid, this.conns.size, this.limits);
    if (refusal) {
      const now = Date.now();
      if (now - this.lastRefusalWarning > 10_000) {
        this.lastRefusalWarning = now;
        this.warn(`control socket: ${refusal}; refusing (pid ${caller.cred.pid})`);
      }
      if (this.refusing.size >= this.limits.refusing) {
        n.close(fd);
        return;
      }
      try {
        const c = new ControlConnection(
          fd,
          caller,
          this.watcher,
          this.handle,
          this.limits,
          this.timers,
          (x) => {
            this.refusing.delete(x);
            if (this.paused !== null) this.resume();
          },
          refusal,
        );
        this.refusing.add(c);
      } catch {
        n.close(fd);
      }
      return;
    }
    const uid = caller.cred.uid;
    try {
      const c = new ControlConnection(fd, caller, this.watcher, this.handle, this.limits, this.timers, (x) => this.dropped(x));
      this.conns.add(c);
      this.perUid.set(uid, (this.perUid.get(uid) ?? 0) + 1);
    } catch {
      n.close(fd);
    }
  }

  private dropped(c: ControlConnection): void {
    if (!this.conns.delete(c)) return;
    const uid = c.caller.cred.uid;
    const left = (this.perUid.get(uid) ?? 1) - 1;
    if (left > 0) this.perUid.set(uid, left);
    else this.perUid.delete(uid);
    // A closed connection freed an fd: try accepting again now.
    if (this.paused !== null) this.resume();
  }

  private pause(why: string): void {
    if (this.paused !== null || this.closed) return;
    const now = Date.now();
    if (now - this.lastPauseWarning > 10_000) {
      this.lastPauseWarning = now;
      this.warn(`control socket: cannot accept (${why}); pausing new connections for ${this.limits.acceptPauseMs} ms, serving the open ones`);
    }
    this.paused = this.timers.set(() => {
      this.paused = null;
      this.resume();
    }, this.limits.acceptPauseMs);
  }

  private resume(): void {
    if (this.paused !== null) this.timers.clear(this.paused);
    this.paused = null;
    if (!this.closed) this.watcher.arm(this.fd, C.EPOLLIN);
  }

  /** Stops serving; with keepFd the listening fd stays open (it is being handed over). */
  close(keepFd = false): void {
    this.closed = true;
    if (this.paused !== null) this.timers.clear(this.paused);
    this.paused = null;
    this.watcher.forget(this.fd);
    for (const c of [...this.conns, ...this.refusing]) c.close();
    if (!keepFd) {
      n.close(this.fd);
      rmSync(this.path, { force: true });
    }
  }
}
