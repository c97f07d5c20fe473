/**
 * Accept=yes accounting (systemd 5.4): MaxConnections= across the socket and
 * MaxConnectionsPerSource= per peer (IPv4/IPv6 address, vsock CID, or AF_UNIX peer UID).
 * A slot is held until the instance service is gone, not until the connection closes. Pure.
 */
import { formatIPv4, formatIPv6, isV4Mapped } from "../sys/ip.ts";
import type { SockAddr } from "../sys/sockaddr.ts";

export type Admission =
  | { ok: true; source: string | null; release: () => void }
  | { ok: false; reason: "max-connections" | "per-source"; count: number; source?: string };

/** The key MaxConnectionsPerSource= counts by; null when the peer cannot be identified. */
export function sourceKey(peer: SockAddr | null, peerUid?: number): string | null {
  if (!peer) return null;
  switch (peer.family) {
    case "inet":
      return formatIPv4(peer.addr);
    case "inet6":
      return isV4Mapped(peer.addr) ? formatIPv4(peer.addr.subarray(12)) : formatIPv6(peer.addr);
    case "vsock":
      return `vsock:${peer.cid}`;
    case "unix":
      return peerUid === undefined ? null : `uid:${peerUid}`;
    default:
      return null;
  }
}

export class ConnectionTracker {
  nConnections = 0;
  nAccepted = 0;
  nRefused = 0;
  private perSource = new Map<string, number>();

  constructor(
    public maxConnections: number,
    public maxPerSource: number,
  ) {}

  admit(source: string | null): Admission {
    if (this.nConnections >= this.maxConnections) {
      this.nRefused++;
      return { ok: false, reason: "max-connections", count: this.nConnections };
    }
    if (this.maxPerSource > 0 && source !== null) {
      const n = (this.perSource.get(source) ?? 0) + 1;
      if (n > this.maxPerSource) {
        this.nRefused++;
        return { ok: false, reason: "per-source", count: n, source };
      }
    }
    return { ok: true, source, release: this.readmit(source) };
  }

  /**
   * Counts a connection admitted before without checking the limits (one an instance held
   * across daemon-reexec); returns what frees its slot.
   */
  readmit(source: string | null): () => void {
    if (source !== null) this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    this.nConnections++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.nConnections--;
      if (source !== null) {
        const n = (this.perSource.get(source) ?? 1) - 1;
        if (n <= 0) this.perSource.delete(source);
        else this.perSource.set(source, n);
      }
    };
  }

  connectionsFrom(source: string): number {
    return this.perSource.get(source) ?? 0;
  }
}
