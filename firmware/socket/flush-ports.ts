/**
 * FlushPending=: discard what is queued on a socket's ports. A service given these fds with
 * NonBlocking=no made them blocking (O_NONBLOCK belongs to the shared open file description),
 * so every accept or read is preceded by a zero-timeout poll, as in systemd's
 * flush_accept()/flush_fd().
 */
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { OpenedPort } from "./socket-open.ts";
import { portAccepts } from "../unit/socket-relations.ts";

export function flushPorts(ports: readonly OpenedPort[], log: { debug(m: string): void }): void {
  const readable = (fd: number) => (n.pollOne(fd, C.EPOLLIN, 0) & C.EPOLLIN) !== 0;
  for (const p of ports) {
    try {
      if (p.mqName) {
        const buf = new Uint8Array(Math.max(n.mqGetattr(p.fd).msgSize, 1));
        while (readable(p.fd) && n.mqReceive(p.fd, buf) !== null);
        continue;
      }
      if (portAccepts(p.port) && n.getsockoptInt(p.fd, C.SOL_SOCKET, C.SO_ACCEPTCONN) === 1) {
        while (readable(p.fd)) {
          const a = n.accept(p.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
          if (!a) break;
          n.close(a.fd);
        }
        continue;
      }
      const buf = new Uint8Array(4096);
      while (readable(p.fd) && n.read(p.fd, buf) !== null);
    } catch (e) {
      log.debug(`Flushing ${p.port.text}: ${errorText(e)}`);
    }
  }
}
