/**
 * Accept=yes: the instance name of the service for one connection and the variables it gets
 * (systemd v258: instance_from_socket(), service_spawn_internal()). Pure.
 */
import { formatIPv4, formatIPv6, isV4Mapped } from "../sys/ip.ts";
import { formatHost, type SockAddr } from "../sys/sockaddr.ts";

export interface PeerInfo {
  local: SockAddr | null;
  peer: SockAddr | null;
  cookie: bigint | null;
  /** AF_UNIX peer credentials. */
  cred?: { pid: number; uid: number };
  pidfdId?: bigint;
}

function hostOf(a: SockAddr & { family: "inet" | "inet6" }): string {
  if (a.family === "inet") return formatIPv4(a.addr);
  return isV4Mapped(a.addr) ? formatIPv4(a.addr.subarray(12)) : formatIPv6(a.addr);
}

/** "<n>-<cookie>-<local>-<remote>", e.g. "0-4711-127.0.0.1:80-127.0.0.1:4444". */
export function instanceFromSocket(nAccepted: number, p: PeerInfo): string {
  const head = `${nAccepted}-${p.cookie ?? 0n}`;
  const { local, peer } = p;
  if (local && peer && (local.family === "inet" || local.family === "inet6") && (peer.family === "inet" || peer.family === "inet6")) {
    return `${head}-${hostOf(local)}:${local.port}-${hostOf(peer)}:${peer.port}`;
  }
  if (local?.family === "vsock" && peer?.family === "vsock") {
    return `${head}-${local.cid}:${local.port}-${peer.cid}:${peer.port}`;
  }
  if (local?.family === "unix") {
    if (!p.cred) return `${head}-unknown`;
    return p.pidfdId !== undefined ? `${head}-${p.cred.pid}_${p.pidfdId}-${p.cred.uid}` : `${head}-${p.cred.pid}-${p.cred.uid}`;
  }
  return `${head}-unknown`;
}

/** REMOTE_ADDR, REMOTE_PORT and SO_COOKIE for the instance. */
export function connectionEnvironment(p: PeerInfo): Record<string, string> {
  const env: Record<string, string> = {};
  const peer = p.peer;
  if (peer) {
    if (peer.family === "unix") env.REMOTE_ADDR = peer.path === "" ? "<unnamed>" : formatHost(peer);
    else if (peer.family !== "netlink") env.REMOTE_ADDR = formatHost(peer);
    if (peer.family === "inet" || peer.family === "inet6" || peer.family === "vsock") env.REMOTE_PORT = String(peer.port);
  }
  if (p.cookie !== null) env.SO_COOKIE = String(p.cookie);
  return env;
}

/** The peer as shown in the instance's description (" (127.0.0.1:4444)"). */
export function describePeer(p: PeerInfo): string {
  const peer = p.peer;
  if (!peer) return "";
  if (peer.family === "inet" || peer.family === "inet6") return `${hostOf(peer)}:${peer.port}`;
  if (peer.family === "vsock") return `vsock:${peer.cid}:${peer.port}`;
  if (peer.family === "unix" && p.cred) return `pid ${p.cred.pid}, uid ${p.cred.uid}`;
  return formatHost(peer);
}
