/**
 * The control socket: an AF_UNIX stream socket the CLI talks to. Each connection carries one
 * request line and gets one reply line (or, for a follow, a stream of lines until the client
 * goes). The caller's credentials come from SO_PEERCRED at accept time.
 */
import { readFileSync, rmSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { FdWatch } from "../core/unit-runtime.ts";
import { bindUnixPath } from "../core/unix-endpoint.ts";
import { parseStatusGroups, type Caller } from "./auth.ts";
import { MAX_REQUEST_BYTES, parseRequest, type ControlReply, type ControlRequest } from "./protocol.ts";

/** What a handler returns: a reply, or a stream that writes lines until stopped. */
export type HandlerResult = ControlReply | { stream: (send: (line: unknown) => void) => () => void; first?: ControlReply };
export type ControlHandler = (req: ControlRequest, caller: Caller) => Promise<HandlerResult>;

const enc = new TextEncoder();
const dec = new TextDecoder();

function callerOf(fd: number): Caller {
  const cred = n.peercred(fd);
  let groups: number[] = [];
  try {
    groups = parseStatusGroups(readFileSync(`/proc/${cred.pid}/status`, "utf8"));
  } catch {
    /* the caller is gone already */
  }
  return { cred, groups };
}

class ControlConnection {
  private input = "";
  private out: Uint8Array[] = [];
  private closed = false;
  private stopStream: (() => void) | null = null;
  private endAfterFlush = false;
  /** The client shut down its sending side (socat does after its request): read no more. */
  private eof = false;
  private dispatching = false;
  private readonly caller: Caller;

  constructor(
    private readonly fd: number,
    private readonly watcher: FdWatch,
    private readonly handle: ControlHandler,
    private readonly onClose: (c: ControlConnection) => void,
  ) {
    this.caller = callerOf(fd);
    this.watcher.watch(fd, C.EPOLLIN | C.EPOLLRDHUP, (ev) => this.onEvent(ev));
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
      this.input += dec.decode(buf.subarray(0, r), { stream: true });
      if (this.input.length > MAX_REQUEST_BYTES) {
        this.send({ ok: false, error: "request too long" });
        return this.finish();
      }
      const nl = this.input.indexOf("\n");
      if (nl >= 0) {
        const line = this.input.slice(0, nl);
        this.input = "";
        this.endAfterFlush = true; // until a stream says otherwise
        this.dispatching = true;
        void this.dispatch(line).finally(() => (this.dispatching = false));
      }
    }
  }

  private async dispatch(line: string): Promise<void> {
    let res: HandlerResult;
    try {
      res = await this.handle(parseRequest(line), this.caller);
    } catch (e) {
      res = { ok: false, error: (e as Error).message };
    }
    if (this.closed) return;
    if ("stream" in res) {
      if (this.eof) return this.close();
      this.endAfterFlush = false;
      if (res.first) this.send(res.first);
      this.stopStream = res.stream((l) => this.send(l));
      return;
    }
    this.send(res);
    this.finish();
  }

  send(value: unknown): void {
    if (this.closed) return;
    this.out.push(enc.encode(JSON.stringify(value) + "\n"));
    // A follower that stops reading is dropped rather than buffered without bound.
    if (this.stopStream && this.out.length > 10_000) return this.close();
    this.flush();
    if (!this.closed && this.out.length) this.rearm();
  }

  private finish(): void {
    this.endAfterFlush = true;
    this.flush();
  }

  private flush(): void {
    while (this.out.length) {
      const chunk = this.out[0]!;
      let w: number;
      try {
        w = n.send(this.fd, chunk, C.MSG_NOSIGNAL);
      } catch (e) {
        if ((e as { errno?: number }).errno === 11) return;
        return this.close();
      }
      if (w < chunk.length) {
        this.out[0] = chunk.subarray(w);
        return;
      }
      this.out.shift();
    }
    if (this.endAfterFlush && !this.stopStream) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopStream?.();
    this.stopStream = null;
    this.watcher.forget(this.fd);
    n.close(this.fd);
    this.onClose(this);
  }
}

export class ControlServer {
  private readonly conns = new Set<ControlConnection>();

  private constructor(
    readonly fd: number,
    readonly path: string,
    private readonly watcher: FdWatch,
    private readonly handle: ControlHandler,
  ) {
    this.watcher.watch(fd, C.EPOLLIN, () => this.onAccept());
  }

  /** Binds path (replacing a stale socket there), mode 0666: every user may ask, the daemon decides. */
  static listen(path: string, watcher: FdWatch, handle: ControlHandler): ControlServer {
    const fd = bindUnixPath(path, C.SOCK_STREAM, (s) => n.listen(s, 64));
    return new ControlServer(fd, path, watcher, handle);
  }

  /** Serves an already listening fd (handed over by daemon-reexec). */
  static adopt(fd: number, path: string, watcher: FdWatch, handle: ControlHandler): ControlServer {
    return new ControlServer(fd, path, watcher, handle);
  }

  private onAccept(): void {
    for (;;) {
      let a: n.Accepted | null;
      try {
        a = n.accept(this.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      } catch {
        break;
      }
      if (!a) break;
      try {
        this.conns.add(new ControlConnection(a.fd, this.watcher, this.handle, (c) => this.conns.delete(c)));
      } catch {
        n.close(a.fd);
      }
    }
    this.watcher.arm(this.fd, C.EPOLLIN);
  }

  /** Stops serving; with keepFd the listening fd stays open (it is being handed over). */
  close(keepFd = false): void {
    this.watcher.forget(this.fd);
    for (const c of [...this.conns]) c.close();
    if (!keepFd) {
      n.close(this.fd);
      rmSync(this.path, { force: true });
    }
  }
}
