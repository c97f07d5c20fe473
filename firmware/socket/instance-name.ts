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

const NAMED_ESCAPES: Record<number, string> = {
  0x07: "\\a",
  0x08: "\\b",
  0x0c: "\\f",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
  0x0b: "\\v",
  0x5c: "\\\\",
  0x22: '\\"',
  0x27: "\\'",
};

/**
 * systemd's cescape() of a name's bytes: \\, \", \' and the C letters for \a\b\f\n\r\t\v,
 * octal for every other byte below 0x20 or from 0x7f: nothing a peer put in the name it bound can
 * break a line, an environment block or a terminal.
 */
export function cescapeName(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const named = NAMED_ESCAPES[b];
    if (named !== undefined) out += named;
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * A unix peer's name as systemd's sockaddr_pretty() prints it: "@" and the escaped abstract
 * name, the escaped path, or null for an unnamed peer.
 */
export function unixPeerName(peer: SockAddr & { family: "unix" }): string | null {
  if (peer.path === "") return null;
  return peer.abstract ? `@${cescapeName(peer.path)}` : cescapeName(peer.path);
}

/**
 * REMOTE_ADDR, REMOTE_PORT and SO_COOKIE for the instance, as systemd's service_spawn_internal()
 * (v257+) sets them: address and port for AF_INET, AF_INET6 and AF_VSOCK peers. An AF_UNIX peer
 * gets REMOTE_ADDR only when the name it bound is an absolute path or abstract (printed "/..."
 * or "@...", escaped), never a port: a client that bound the relative name "127.0.0.1" must not
 * pass for an IP peer, and an unnamed one gets nothing.
 */
export function connectionEnvironment(p: PeerInfo): Record<string, string> {
  const env: Record<string, string> = {};
  const peer = p.peer;
  if (peer) {
    if (peer.family === "inet" || peer.family === "inet6" || peer.family === "vsock") {
      env.REMOTE_ADDR = formatHost(peer);
      env.REMOTE_PORT = String(peer.port);
    } else if (peer.family === "unix") {
      const name = unixPeerName(peer);
      if (name !== null && (name.startsWith("/") || name.startsWith("@"))) env.REMOTE_ADDR = name;
    }
  }
  if (p.cookie !== null) env.SO_COOKIE = String(p.cookie);
  return env;
}

/** The peer as shown in the instance's description (" (127.0.0.1:4444)"); a unix peer's name escaped. */
export function describePeer(p: PeerInfo): string {
  const peer = p.peer;
  if (!peer) return "";
  if (peer.family === "inet" || peer.family === "inet6") return `${hostOf(peer)}:${peer.port}`;
  if (peer.family === "vsock") return `vsock:${peer.cid}:${peer.port}`;
  if (peer.family === "unix") return p.cred ? `pid ${p.cred.pid}, uid ${p.cred.uid}` : (unixPeerName(peer) ?? "<unnamed>");
  return formatHost(peer);
}
