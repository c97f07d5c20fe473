/** Readiness of raw fds: the native epoll thread and the FdWatcher over its pipe (see lib.ts). Calls into libbunit.so through lib.ts. */
import { check, L } from "./lib.ts";

// ---- readiness -------------------------------------------------------------------------

type ReadyHandler = (revents: number) => void;

/** Watches raw fds for readiness (see the comment at the top of this file). */
export class FdWatcher {
  private byToken = new Map<number, { fd: number; handler: ReadyHandler }>();
  private tokenByFd = new Map<number, number>();
  private nextToken = 1;

  constructor(readFd: number) {
    void this.pump(readFd);
  }

  private async pump(readFd: number): Promise<void> {
    let carry = new Uint8Array(0);
    for await (const chunk of Bun.file(readFd).stream()) {
      let data = chunk as Uint8Array;
      if (carry.length) {
        const joined = new Uint8Array(carry.length + data.length);
        joined.set(carry);
        joined.set(data, carry.length);
        data = joined;
      }
      const whole = data.length - (data.length % 8);
      const dv = new DataView(data.buffer, data.byteOffset, whole);
      for (let o = 0; o < whole; o += 8) this.dispatch(dv.getUint32(o, true), dv.getUint32(o + 4, true));
      carry = data.slice(whole);
    }
  }

  private dispatch(token: number, revents: number): void {
    const entry = this.byToken.get(token);
    if (!entry) return; // unwatched meanwhile
    try {
      entry.handler(revents);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** Registers fd and arms it once; call arm() again after each report to get the next one. */
  watch(fd: number, events: number, handler: ReadyHandler): void {
    this.forget(fd);
    const token = this.nextToken++ >>> 0 || this.nextToken++;
    this.byToken.set(token, { fd, handler });
    this.tokenByFd.set(fd, token);
    check(L().bunit_poller_watch(fd, events, token), "epoll_ctl", `watch ${fd}`);
  }

  arm(fd: number, events: number): void {
    const token = this.tokenByFd.get(fd);
    if (token === undefined) throw new Error(`fd ${fd} is not watched`);
    check(L().bunit_poller_watch(fd, events, token), "epoll_ctl", `arm ${fd}`);
  }

  isWatched(fd: number): boolean {
    return this.tokenByFd.has(fd);
  }

  /** Stops watching fd (before it is closed, or when its owner no longer listens). */
  forget(fd: number): void {
    const token = this.tokenByFd.get(fd);
    if (token === undefined) return;
    this.tokenByFd.delete(fd);
    this.byToken.delete(token);
    L().bunit_poller_unwatch(fd);
  }
}

let watcher: FdWatcher | null = null;

/** A closed fd is no longer watched (close() calls this). */
export function forgetWatched(fd: number): void {
  watcher?.forget(fd);
}

export function fdWatcher(): FdWatcher {
  if (!watcher) watcher = new FdWatcher(check(L().bunit_poller_start(), "bunit_poller_start"));
  return watcher;
}

/** Resolves when fd reports one of events (one-shot helper on top of the watcher). */
export function whenReady(fd: number, events: number): Promise<number> {
  return new Promise((resolvePromise) => {
    const w = fdWatcher();
    w.watch(fd, events, (rev) => {
      w.forget(fd);
      resolvePromise(rev);
    });
  });
}
