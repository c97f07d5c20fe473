/**
 * Which socket options a [Socket] configuration sets on a port, in systemd's order
 * (socket_address_listen() before bind, socket_apply_socket_options() after). Pure: the
 * opener executes the plan; tests read it.
 */
import * as C from "../sys/constants.ts";
import type { SocketConfig } from "../unit/socket-config.ts";

export type Family = "unix" | "inet" | "inet6" | "vsock" | "netlink";

export type SockOpt =
  | { kind: "int"; level: number; name: number; value: number; label: string }
  | { kind: "string"; level: number; name: number; value: string; label: string }
  /** SO_RCVBUF/SO_SNDBUF, retried with the *FORCE variant when the kernel caps the value. */
  | { kind: "buffer"; which: "rcv" | "snd"; value: number; label: string };

const isIP = (f: Family) => f === "inet" || f === "inet6";

/** Options set between socket() and bind(); a failure of "required" ones fails the port. */
export function preBindOptions(c: SocketConfig, family: Family): SockOpt[] {
  const out: SockOpt[] = [{ kind: "int", level: C.SOL_SOCKET, name: C.SO_REUSEADDR, value: 1, label: "SO_REUSEADDR" }];
  if (isIP(family)) {
    if (c.bindToDevice) out.push({ kind: "string", level: C.SOL_SOCKET, name: C.SO_BINDTODEVICE, value: c.bindToDevice, label: "SO_BINDTODEVICE" });
    if (c.reusePort) out.push({ kind: "int", level: C.SOL_SOCKET, name: C.SO_REUSEPORT, value: 1, label: "SO_REUSEPORT" });
    if (c.freeBind) {
      out.push(
        family === "inet6"
          ? { kind: "int", level: C.SOL_IPV6, name: C.IPV6_FREEBIND, value: 1, label: "IPV6_FREEBIND" }
          : { kind: "int", level: C.SOL_IP, name: C.IP_FREEBIND, value: 1, label: "IP_FREEBIND" },
      );
    }
    if (c.transparent) {
      out.push(
        family === "inet6"
          ? { kind: "int", level: C.SOL_IPV6, name: C.IPV6_TRANSPARENT, value: 1, label: "IPV6_TRANSPARENT" }
          : { kind: "int", level: C.SOL_IP, name: C.IP_TRANSPARENT, value: 1, label: "IP_TRANSPARENT" },
      );
    }
  }
  if (family === "inet6" && c.bindIPv6Only !== "default") {
    out.push({ kind: "int", level: C.IPPROTO_IPV6, name: C.IPV6_V6ONLY, value: c.bindIPv6Only === "ipv6-only" ? 1 : 0, label: "IPV6_V6ONLY" });
  }
  return out;
}

/** Options set after the socket is bound (and listening); failures are logged and ignored. */
export function postBindOptions(c: SocketConfig, family: Family): SockOpt[] {
  const out: SockOpt[] = [];
  const int = (level: number, name: number, value: number, label: string) => out.push({ kind: "int", level, name, value, label });
  if (c.keepAlive) int(C.SOL_SOCKET, C.SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  if (c.keepAliveTimeUsec !== undefined && c.keepAliveTimeUsec > 0) int(C.SOL_TCP, C.TCP_KEEPIDLE, Math.floor(c.keepAliveTimeUsec / 1e6), "TCP_KEEPIDLE");
  if (c.keepAliveIntervalUsec !== undefined && c.keepAliveIntervalUsec > 0)
    int(C.SOL_TCP, C.TCP_KEEPINTVL, Math.floor(c.keepAliveIntervalUsec / 1e6), "TCP_KEEPINTVL");
  if (c.keepAliveProbes) int(C.SOL_TCP, C.TCP_KEEPCNT, c.keepAliveProbes, "TCP_KEEPCNT");
  if (c.deferAcceptUsec > 0) int(C.SOL_TCP, C.TCP_DEFER_ACCEPT, Math.floor(c.deferAcceptUsec / 1e6), "TCP_DEFER_ACCEPT");
  if (c.noDelay) {
    if (c.socketProtocol === "sctp") int(132 /* SOL_SCTP */, 3 /* SCTP_NODELAY */, 1, "SCTP_NODELAY");
    else int(C.SOL_TCP, C.TCP_NODELAY, 1, "TCP_NODELAY");
  }
  if (c.broadcast) int(C.SOL_SOCKET, C.SO_BROADCAST, 1, "SO_BROADCAST");
  if (c.passCredentials) int(C.SOL_SOCKET, C.SO_PASSCRED, 1, "SO_PASSCRED");
  if (c.passPIDFD) int(C.SOL_SOCKET, C.SO_PASSPIDFD, 1, "SO_PASSPIDFD");
  if (c.passSecurity) int(C.SOL_SOCKET, C.SO_PASSSEC, 1, "SO_PASSSEC");
  if (c.passPacketInfo) {
    if (family === "inet") int(C.SOL_IP, C.IP_PKTINFO, 1, "IP_PKTINFO");
    else if (family === "inet6") int(C.SOL_IPV6, C.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    else if (family === "netlink") int(C.SOL_NETLINK, C.NETLINK_PKTINFO, 1, "NETLINK_PKTINFO");
  }
  if (c.acceptFileDescriptors === false) int(C.SOL_SOCKET, C.SO_PASSRIGHTS, 0, "SO_PASSRIGHTS");
  if (c.timestamping !== "off") int(C.SOL_SOCKET, c.timestamping === "ns" ? C.SO_TIMESTAMPNS : C.SO_TIMESTAMP, 1, "timestamping");
  if (c.priority !== undefined && c.priority >= 0) int(C.SOL_SOCKET, C.SO_PRIORITY, c.priority, "SO_PRIORITY");
  if (c.receiveBuffer) out.push({ kind: "buffer", which: "rcv", value: c.receiveBuffer, label: "SO_RCVBUF/SO_RCVBUFFORCE" });
  if (c.sendBuffer) out.push({ kind: "buffer", which: "snd", value: c.sendBuffer, label: "SO_SNDBUF/SO_SNDBUFFORCE" });
  if (c.mark !== undefined && c.mark >= 0) int(C.SOL_SOCKET, C.SO_MARK, c.mark, "SO_MARK");
  if (c.ipTos !== undefined) int(C.IPPROTO_IP, C.IP_TOS, c.ipTos, "IP_TOS");
  if (c.ipTtl !== undefined) {
    if (family === "inet6") int(C.SOL_IPV6, C.IPV6_UNICAST_HOPS, c.ipTtl, "IPV6_UNICAST_HOPS");
    else int(C.SOL_IP, C.IP_TTL, c.ipTtl, "IP_TTL");
  }
  if (c.tcpCongestion) out.push({ kind: "string", level: C.SOL_TCP, name: C.TCP_CONGESTION, value: c.tcpCongestion, label: "TCP_CONGESTION" });
  return out;
}

/** The IP protocol for SocketProtocol= (stream: sctp, mptcp; datagram: udplite), else 0. */
export function ipProtocol(c: SocketConfig, kind: "stream" | "datagram" | "seqpacket", family: Family): number {
  if (!isIP(family) || !c.socketProtocol) return 0;
  if (c.socketProtocol === "udplite") return kind === "datagram" ? C.IPPROTO_UDPLITE : 0;
  if (c.socketProtocol === "sctp") return kind !== "datagram" ? C.IPPROTO_SCTP : 0;
  return kind === "stream" ? C.IPPROTO_MPTCP : 0;
}

export function socketType(kind: "stream" | "datagram" | "seqpacket"): number {
  return kind === "stream" ? C.SOCK_STREAM : kind === "datagram" ? C.SOCK_DGRAM : C.SOCK_SEQPACKET;
}
