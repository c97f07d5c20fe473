/**
 * Accept=yes: taking one connection off a listening port, with the socket's per-connection
 * options and XAttrAccept=, and what is known of its peer (addresses, SO_COOKIE, credentials
 * of a unix peer) for the instance's name and environment.
 */
import { errorText } from "../core/errors.ts";
import type { UnitLog as Log } from "../core/log.ts";
import * as n from "../native.ts";
import { isErrno } from "../sys/errno.ts";
import * as C from "../sys/constants.ts";
import type { PeerInfo } from "./instance-name.ts";
import type { SocketConfig } from "../unit/socket-config.ts";
import { applyOptionalOptions, type OpenedPort } from "./socket-open.ts";
import { postBindOptions } from "./socket-options.ts";

/**
 * Accepts one pending connection; null when none was there (or accept() failed, logged);
 * "exhausted" when the daemon is out of fds (EMFILE/ENFILE): the connection stays queued in
 * the kernel, and the caller stops watching the port for a while instead of spinning on it.
 */
export function acceptOne(p: OpenedPort, cfg: SocketConfig, log: Log): n.Accepted | null | "exhausted" {
  let acc: n.Accepted | null = null;
  try {
    // Poll first: the fd may have been made blocking by a process it was passed to.
    if (n.pollOne(p.fd, C.EPOLLIN, 0) & C.EPOLLIN) acc = n.accept(p.fd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
  } catch (e) {
    if (isErrno(e, "EMFILE", "ENFILE")) {
      log.warning(`accept() failed: ${errorText(e)}; pausing ${p.port.text} for a second, connections wait in the kernel`);
      return "exhausted";
    }
    log.warning(`accept() failed, ignoring: ${errorText(e)}`);
    return null;
  }
  if (!acc) return null;
  applyOptionalOptions(acc.fd, postBindOptions(cfg, p.family ?? "unix"), log);
  for (const [k, v] of cfg.xattrAccept) {
    try {
      n.fsetxattr(acc.fd, k, v);
    } catch (e) {
      log.debug(`XAttrAccept=${k}: ${errorText(e)}, ignoring`);
    }
  }
  return acc;
}

/** What is known of an accepted connection's peer; null when it is already gone (closed then). */
export function peerOf(acc: n.Accepted, log: Log): { info: PeerInfo; uid: number | undefined } | null {
  try {
    const local = n.getsockname(acc.fd);
    const cookie = n.socketCookie(acc.fd);
    const cred = local?.family === "unix" ? n.peercred(acc.fd) : undefined;
    const info: PeerInfo = { local, peer: acc.peer, cookie, ...(cred ? { cred: { pid: cred.pid, uid: cred.uid } } : {}) };
    return { info, uid: cred?.uid };
  } catch (e) {
    log.debug(`Got error on incoming socket, assuming aborted connection attempt, ignoring: ${errorText(e)}`);
    n.close(acc.fd);
    return null;
  }
}
