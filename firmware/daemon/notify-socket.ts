/**
 * The daemon's $NOTIFY_SOCKET: one AF_UNIX datagram socket with SO_PASSCRED, so every
 * message carries the sender's pid as the kernel saw it (a process cannot claim another's).
 * Messages go to the manager, which finds the unit and checks NotifyAccess=.
 */
import { rmSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { FdWatch } from "../core/unit-runtime.ts";
import { bindUnixPath } from "../core/unix-endpoint.ts";

export type NotifyHandler = (sender: n.Ucred, text: string, fds: number[]) => void;

/** systemd's limit for one notification datagram (NOTIFY_BUFFER_MAX). */
const BUFFER = 4096;
/** At most this many fds per message (systemd: 768 per service store; one message is capped lower). */
const MAX_FDS = 64;

export class NotifySocket {
  private readonly buf = new Uint8Array(BUFFER);

  private constructor(
    readonly fd: number,
    readonly path: string,
    private readonly watcher: FdWatch,
    private readonly handle: NotifyHandler,
    private readonly warn: (m: string) => void,
  ) {
    n.setsockoptInt(fd, C.SOL_SOCKET, C.SO_PASSCRED, 1);
    this.watcher.watch(fd, C.EPOLLIN, () => this.onReadable());
  }

  static bind(path: string, watcher: FdWatch, handle: NotifyHandler, warn: (m: string) => void): NotifySocket {
    // Mode 0666: services running as other users must be able to send.
    const fd = bindUnixPath(path, C.SOCK_DGRAM, (s) => n.setsockoptInt(s, C.SOL_SOCKET, C.SO_RCVBUF, 8 * 1024 * 1024));
    return new NotifySocket(fd, path, watcher, handle, warn);
  }

  static adopt(fd: number, path: string, watcher: FdWatch, handle: NotifyHandler, warn: (m: string) => void): NotifySocket {
    return new NotifySocket(fd, path, watcher, handle, warn);
  }

  private onReadable(): void {
    for (let i = 0; i < 256; i++) {
      let m: n.NotifyMessage | null;
      try {
        m = n.recvmsgNotify(this.fd, this.buf, MAX_FDS);
      } catch (e) {
        this.warn(`notify socket: ${(e as Error).message}`);
        break;
      }
      if (!m) break;
      if (!m.creds) {
        for (const fd of m.fds) n.close(fd);
        this.warn("Got notification message without credentials, ignoring.");
        continue;
      }
      if (m.truncated) {
        for (const fd of m.fds) n.close(fd);
        this.warn(`Got overly long notification message from PID ${m.creds.pid}, ignoring.`);
        continue;
      }
      const text = new TextDecoder().decode(this.buf.subarray(0, m.size));
      this.handle(m.creds, text, m.fds);
    }
    this.watcher.arm(this.fd, C.EPOLLIN);
  }

  close(keepFd = false): void {
    this.watcher.forget(this.fd);
    if (!keepFd) {
      n.close(this.fd);
      rmSync(this.path, { force: true });
    }
  }
}
