/**
 * What a socket unit's configuration implies about its ports and its service: which ports
 * accept connections, the one node Symlinks= may point to, and the service it activates (an
 * Accept=yes socket: the template, and the instance for one connection). Pure.
 */
import type { LoadedUnit } from "./unit-file.ts";
import { instantiate, withType } from "./unit-name.ts";
import type { ListenPort, SocketConfig } from "./socket-config.ts";

/** The service an Accept=no socket activates, or the template of an Accept=yes socket. */
export function socketServiceName(u: LoadedUnit): string {
  const c = u.socket!;
  if (c.service) return c.service;
  const id = u.id;
  if (c.accept) return `${id.prefix}@.service`;
  return withType(u.name, "service");
}

/** An Accept=yes socket's instance service for one connection. */
export function acceptInstanceName(u: LoadedUnit, instance: string): string {
  return instantiate(socketServiceName(u), instance);
}

/** A port that accept() works on: stream or seqpacket sockets (not netlink, FIFOs, ...). */
export function portAccepts(p: ListenPort): boolean {
  return p.kind === "stream" || p.kind === "seqpacket";
}

export function hasNonAcceptingPort(c: SocketConfig): boolean {
  return c.listen.some((p) => !portAccepts(p));
}

/** socket_find_symlink_target(): the one file-system node Symlinks= may point to. */
export function symlinkTarget(c: SocketConfig): string | null {
  let found: string | null = null;
  for (const p of c.listen) {
    let path: string | null = null;
    if ((p.kind === "stream" || p.kind === "datagram" || p.kind === "seqpacket") && p.address.family === "unix" && !p.address.abstract) path = p.address.path;
    else if (p.kind === "fifo") path = p.path;
    if (path) {
      if (found) return null;
      found = path;
    }
  }
  return found;
}
