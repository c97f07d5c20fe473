/**
 * Addresses of Listen*= directives, as systemd's socket_address_parse() and
 * socket_address_parse_netlink() accept them. Pure: interface names are kept as names and
 * resolved when the socket is opened (the interface may not exist yet).
 */
import { VMADDR_CID_ANY, VMADDR_PORT_ANY } from "../sys/constants.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../sys/ip.ts";

export type ListenAddress =
  | { family: "unix"; path: string; abstract: boolean }
  | { family: "inet"; addr: Uint8Array; port: number }
  /** portOnly: "PORT" meant [::]:PORT, falling back to 0.0.0.0:PORT without IPv6. */
  | { family: "inet6"; addr: Uint8Array; port: number; ifname?: string; portOnly?: boolean }
  | { family: "vsock"; cid: number; port: number };

export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressError";
  }
}

/** sizeof(sun_path). systemd insists on a NUL after the name, for paths and abstract names alike. */
const UNIX_PATH_MAX = 108;
/** IFNAMSIZ - 1. */
const IFNAME_MAX = 15;

/** systemd's ifname_valid() (or an interface index): what may follow "%" in [addr]:PORT%dev. */
function validIfname(s: string): boolean {
  if (/^\d+$/.test(s)) return true;
  if (s.length === 0 || s.length > IFNAME_MAX || s === "." || s === "..") return false;
  return /^[\x21-\x7e]+$/.test(s) && !/[/:%]/.test(s);
}

function parsePort(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new AddressError(`${what}: "${s}" is not a port number`);
  const n = Number(s);
  if (n === 0) throw new AddressError(`${what}: port 0 is not allowed`);
  if (n > 65535) throw new AddressError(`${what}: port ${s} is out of range (1..65535)`);
  return n;
}

export const VSOCK_NAMED_CIDS: Record<string, number> = {
  hypervisor: 0,
  local: 1,
  host: 2,
  any: VMADDR_CID_ANY,
  "-1": VMADDR_CID_ANY,
};

export function parseVsockCid(s: string): number {
  if (s === "") return VMADDR_CID_ANY;
  const named = VSOCK_NAMED_CIDS[s];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(s)) throw new AddressError(`"${s}" is not a vsock CID (a number, or hypervisor, local, host, any)`);
  const n = Number(s);
  if (n > 0xffffffff) throw new AddressError(`vsock CID ${s} is out of range`);
  return n;
}

function parseVsock(rest: string, original: string): ListenAddress {
  const colon = rest.indexOf(":");
  if (colon < 0) throw new AddressError(`"${original}": expected vsock:CID:PORT`);
  const cid = parseVsockCid(rest.slice(0, colon));
  const portText = rest.slice(colon + 1);
  if (!/^\d+$/.test(portText)) throw new AddressError(`"${original}": "${portText}" is not a vsock port`);
  const port = Number(portText);
  if (port >= VMADDR_PORT_ANY) throw new AddressError(`"${original}": vsock port ${portText} is out of range`);
  return { family: "vsock", cid, port };
}

/** Parses a ListenStream=/ListenDatagram=/ListenSequentialPacket= value. */
export function parseListenAddress(s: string): ListenAddress {
  if (s.startsWith("/")) {
    if (s === "/") throw new AddressError(`"${s}": not a socket path`);
    if (new TextEncoder().encode(s).length >= UNIX_PATH_MAX) throw new AddressError(`"${s}": socket path too long (max ${UNIX_PATH_MAX - 1} bytes)`);
    return { family: "unix", path: s, abstract: false };
  }
  if (s.startsWith("@")) {
    const name = s.slice(1);
    if (name.length === 0) throw new AddressError(`"${s}": empty abstract socket name`);
    // "@" becomes the leading NUL and a NUL must follow: at most 106 bytes of name (sockaddr_un_set_path()).
    if (new TextEncoder().encode(s).length >= UNIX_PATH_MAX) throw new AddressError(`"${s}": abstract name too long (max ${UNIX_PATH_MAX - 2} bytes)`);
    return { family: "unix", path: name, abstract: true };
  }
  const vs = /^vsock(?:-stream|-dgram|-seqpacket)?:/.exec(s);
  if (vs) return parseVsock(s.slice(vs[0].length), s);
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new AddressError(`"${s}": missing "]"`);
    const host = parseIPv6(s.slice(1, close));
    if (!host) throw new AddressError(`"${s}": "${s.slice(1, close)}" is not an IPv6 address`);
    const after = s.slice(close + 1);
    const m = /^:(\d+)(?:%(.+))?$/.exec(after);
    if (!m) {
      if (/^%/.test(after)) throw new AddressError(`"${s}": the interface goes after the port: [addr]:PORT%dev`);
      throw new AddressError(`"${s}": expected [IPv6]:PORT`);
    }
    const port = parsePort(m[1]!, s);
    if (m[2] !== undefined && !validIfname(m[2])) throw new AddressError(`"${s}": "${m[2]}" is not a network interface name`);
    return m[2] ? { family: "inet6", addr: host, port, ifname: m[2] } : { family: "inet6", addr: host, port };
  }
  if (/^\d+$/.test(s)) {
    return { family: "inet6", addr: new Uint8Array(16), port: parsePort(s, s), portOnly: true };
  }
  const colon = s.lastIndexOf(":");
  if (colon > 0) {
    const host4 = parseIPv4(s.slice(0, colon));
    if (host4) return { family: "inet", addr: host4, port: parsePort(s.slice(colon + 1), s) };
  }
  throw new AddressError(`"${s}" is not a socket address (examples: /run/foo.sock, @abstract, 8080, 127.0.0.1:80, [::1]:80, vsock::1234)`);
}

/** systemd's socket_address_print(): the address as `systemctl list-sockets` shows it. */
export function formatListenAddress(a: ListenAddress): string {
  switch (a.family) {
    case "unix":
      return a.abstract ? `@${a.path}` : a.path;
    case "inet":
      return `${formatIPv4(a.addr)}:${a.port}`;
    case "inet6":
      return `[${formatIPv6(a.addr)}]:${a.port}${a.ifname ? `%${a.ifname}` : ""}`;
    case "vsock":
      return a.cid === VMADDR_CID_ANY ? `vsock::${a.port}` : `vsock:${a.cid}:${a.port}`;
  }
}

export function addressesEqual(a: ListenAddress, b: ListenAddress): boolean {
  return formatListenAddress(a) === formatListenAddress(b);
}

// ---- netlink ----------------------------------------------------------------------------

export const NETLINK_FAMILIES: Record<string, number> = {
  route: 0,
  firewall: 3,
  "inet-diag": 4,
  nflog: 5,
  xfrm: 6,
  selinux: 7,
  iscsi: 8,
  audit: 9,
  "fib-lookup": 10,
  connector: 11,
  netfilter: 12,
  "ip6-fw": 13,
  dnrtmsg: 14,
  "kobject-uevent": 15,
  generic: 16,
  scsitransport: 18,
  ecryptfs: 19,
  rdma: 20,
};

export interface NetlinkAddress {
  protocol: number;
  /** Multicast group bitmask (nl_groups), as systemd uses it. */
  groups: number;
}

export function parseNetlinkAddress(s: string): NetlinkAddress {
  // As socket_address_parse_netlink(): blanks around the family are skipped, the group is the
  // rest, which must be a number exactly (so "kobject-uevent 10 " is refused, " route " is not).
  const m = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(s);
  if (!m) throw new AddressError(`"${s}": expected FAMILY [GROUPS]`);
  const fam = m[1]!;
  const groupText = m[2] === "" ? undefined : m[2];
  let protocol: number;
  if (NETLINK_FAMILIES[fam] !== undefined) protocol = NETLINK_FAMILIES[fam]!;
  else if (/^\d+$/.test(fam) && Number(fam) <= 0x7fffffff) protocol = Number(fam);
  else throw new AddressError(`"${fam}" is not a netlink family (for example route, kobject-uevent, audit, or a number)`);
  let groups = 0;
  if (groupText !== undefined) {
    if (!/^\d+$/.test(groupText)) throw new AddressError(`"${groupText}" is not a netlink group mask (an unsigned integer)`);
    groups = Number(groupText);
    if (groups > 0xffffffff) throw new AddressError(`netlink group mask ${groupText} is out of range`);
  }
  return { protocol, groups };
}

export function formatNetlinkAddress(a: NetlinkAddress): string {
  const name = Object.entries(NETLINK_FAMILIES).find(([, v]) => v === a.protocol)?.[0] ?? String(a.protocol);
  return `${name} ${a.groups}`;
}
