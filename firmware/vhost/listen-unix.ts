/**
 * A listening AF_UNIX stream socket at a path for the back-end's two sockets (QEMU's vhost-user
 * socket and the one host programs connect to): a stale socket file left by a previous back-end
 * is replaced (only when bind() says the path is taken).
 */
import { unlinkSync } from "node:fs";
import * as n from "../native.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../sys/constants.ts";
import { isErrno } from "../sys/errno.ts";

export function listenUnix(path: string, backlog: number): number {
  const fd = n.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  try {
    try {
      n.bind(fd, { family: "unix", path, abstract: false });
    } catch (e) {
      if (!isErrno(e, "EADDRINUSE")) throw e;
      unlinkSync(path);
      n.bind(fd, { family: "unix", path, abstract: false });
    }
    n.listen(fd, backlog);
  } catch (e) {
    n.close(fd);
    throw e;
  }
  return fd;
}
