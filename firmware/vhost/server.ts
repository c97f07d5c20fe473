/**
 * The vhost-user socket: listens at SOCKET for the front-end (QEMU connects as the client),
 * serves one front-end at a time, and resets the device when it goes away so that the next
 * one (QEMU restarted, or reconnecting with `reconnect=`) starts afresh. Implements BackendIo
 * with the native module: shared mappings of the memory fds, eventfds watched for kicks and
 * written for calls.
 */
import { listenUnix } from "./listen-unix.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import { EPOLLIN, SOCK_CLOEXEC, SOCK_NONBLOCK } from "../sys/constants.ts";
import type { BackendIo, MappedMemory } from "./backend.ts";
import { HEADER_SIZE, MAX_PAYLOAD, MessageAssembler, reqName } from "./protocol.ts";

export interface MessageHandler {
  handle(msg: { request: number; flags: number; payload: Uint8Array; fds: number[] }): Uint8Array | null;
  reset(why: string): void;
}

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** BackendIo over the kernel. */
export class NativeBackendIo implements BackendIo {
  private readonly kicks = new Set<number>();
  private readonly scratch = new Uint8Array(8);
  /** After closeFd (the file descriptor store must know that the number is free again). */
  onClose: (fd: number) => void = () => {};

  constructor(
    private readonly watch: FdWatch,
    readonly log: (msg: string) => void,
  ) {}

  map(fd: number, size: number, offset: number): MappedMemory {
    return n.mmapShared(fd, size, offset);
  }

  closeFd(fd: number): void {
    this.kicks.delete(fd);
    try {
      n.close(fd);
    } catch {
      /* already closed */
    }
    this.onClose(fd);
  }

  watchKick(fd: number, onKick: () => void): void {
    this.kicks.add(fd);
    this.watch.watch(fd, EPOLLIN, () => {
      try {
        n.read(fd, this.scratch); // resets the eventfd's counter
      } catch {
        /* EAGAIN: a kick raced with the read */
      }
      try {
        onKick();
      } catch (e) {
        this.log(`vhost-user: processing a kick: ${errorText(e)}`);
      }
      if (this.kicks.has(fd)) this.watch.arm(fd, EPOLLIN);
    });
  }

  unwatchKick(fd: number): void {
    this.kicks.delete(fd);
    this.watch.forget(fd);
  }

  signal(fd: number): void {
    try {
      n.write(fd, ONE);
    } catch (e) {
      this.log(`vhost-user: signalling call fd ${fd}: ${errorText(e)}`);
    }
  }
}

export class VhostUserServer {
  private listenFd = -1;
  private clientFd = -1;
  private assembler = new MessageAssembler();
  private readonly buf = new Uint8Array(HEADER_SIZE + MAX_PAYLOAD);
  /** Front-ends served so far (a restarted QEMU is the next one). */
  sessions = 0;
  onSession: (n: number) => void = () => {};
  /** After a front-end connects or goes, and after each batch of its messages (the session's state may have changed). */
  onChange: () => void = () => {};

  constructor(
    readonly path: string,
    private readonly handler: MessageHandler,
    private readonly watch: FdWatch,
    private readonly log: (msg: string) => void,
  ) {}

  listen(): void {
    const fd = listenUnix(this.path, 4);
    this.listenFd = fd;
    this.watch.watch(fd, EPOLLIN, () => this.acceptOne());
  }

  private acceptOne(): void {
    const a = n.accept(this.listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a) {
      if (this.clientFd >= 0) this.disconnect("a new front-end connected");
      this.clientFd = a.fd;
      this.assembler = new MessageAssembler();
      this.sessions++;
      this.log(`vhost-user: front-end connected (session ${this.sessions})`);
      this.onSession(this.sessions);
      const fd = a.fd;
      this.watch.watch(fd, EPOLLIN, () => this.readMessages(fd));
      this.onChange();
    }
    this.watch.arm(this.listenFd, EPOLLIN);
  }

  private readMessages(fd: number): void {
    if (fd !== this.clientFd) return;
    let handled = 0;
    try {
      for (;;) {
        const r = n.recvFds(fd, this.buf.subarray(0, this.assembler.want()), 8);
        if (r === null) break;
        if (r.size === 0) return this.disconnect("the front-end closed the connection");
        this.assembler.push(this.buf.subarray(0, r.size), r.fds);
        for (let m = this.assembler.next(); m; m = this.assembler.next()) {
          let reply: Uint8Array | null;
          try {
            reply = this.handler.handle(m);
          } catch (e) {
            throw new Error(`${reqName(m.request)}: ${errorText(e)}`);
          }
          if (reply) n.send(fd, reply);
          handled++;
        }
      }
    } catch (e) {
      return this.disconnect(errorText(e));
    }
    if (handled) this.onChange();
    this.watch.arm(fd, EPOLLIN);
  }

  private disconnect(why: string): void {
    const fd = this.clientFd;
    if (fd < 0) return;
    this.clientFd = -1;
    this.log(`vhost-user: front-end gone: ${why}`);
    this.watch.forget(fd);
    n.close(fd);
    for (const stray of this.assembler.strayFds()) n.close(stray);
    this.handler.reset(`front-end gone: ${why}`);
    this.onChange();
  }

  /** The sockets and the session count, left as they are (for a store that outlives the process). */
  state(): { listenFd: number; clientFd: number; sessions: number } {
    return { listenFd: this.listenFd, clientFd: this.clientFd, sessions: this.sessions };
  }

  /** Stops serving without closing anything; returns the fds for the next process image. */
  handover(): { listenFd: number; clientFd: number; sessions: number } {
    if (this.assembler.want() !== HEADER_SIZE) throw new Error("a vhost-user message is half read");
    const out = { listenFd: this.listenFd, clientFd: this.clientFd, sessions: this.sessions };
    for (const fd of [this.listenFd, this.clientFd]) if (fd >= 0) this.watch.forget(fd);
    this.listenFd = this.clientFd = -1;
    return out;
  }

  /** Serves again on fds from handover() (after the exec). */
  adopt(h: { listenFd: number; clientFd: number; sessions: number }): void {
    this.listenFd = h.listenFd;
    this.sessions = h.sessions;
    this.watch.watch(h.listenFd, EPOLLIN, () => this.acceptOne());
    if (h.clientFd >= 0) {
      this.clientFd = h.clientFd;
      this.watch.watch(h.clientFd, EPOLLIN, () => this.readMessages(h.clientFd));
    }
  }

  close(): void {
    this.disconnect("the back-end stops");
    if (this.listenFd >= 0) {
      this.watch.forget(this.listenFd);
      n.close(this.listenFd);
      this.listenFd = -1;
    }
  }
}
