/**
 * Opening and closing the ports of a socket unit (systemd's socket_open_fds() and
 * socket_close_fds()). I/O through firmware/native.ts; the options come from the pure plan
 * in socket-options.ts.
 */
import { lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { isErrno, SysError } from "../sys/errno.ts";
import type { SockAddr } from "../sys/sockaddr.ts";
import type { UnitLog } from "../core/log.ts";
import type { ListenAddress } from "./listen-address.ts";
import { LISTEN_DIRECTIVES, type ListenKind, type ListenPort, type SocketConfig } from "./socket-config.ts";
import { ipProtocol, postBindOptions, preBindOptions, socketType, type Family, type SockOpt } from "./socket-options.ts";

export interface OpenedPort {
  port: ListenPort;
  fd: number;
  /** FunctionFS endpoint files ep1..N (USB ports only). */
  aux: number[];
  /** Their file names (ep1, ep2, ... or ep81 with virtual addresses). */
  auxNames?: string[];
  family?: Family;
  /** A file-system node this port created (AF_UNIX path, FIFO): chowned and maybe removed. */
  nodePath?: string;
  mqName?: string;
  /** The address actually bound (port-only addresses may fall back to IPv4). */
  bound?: SockAddr;
}

/** Opens a FunctionFS port (firmware/usb/ffs-port.ts, with the activated service's descriptors). */
export type UsbFunctionOpener = (path: string) => { ep0: number; endpoints: number[]; endpointNames: string[] };

export class PortOpenError extends Error {
  constructor(
    readonly port: ListenPort,
    override readonly cause: unknown,
  ) {
    super(`${directiveOf(port.kind)}=${port.text} (${port.file}:${port.line}): ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "PortOpenError";
  }
}

/**
 * Creates a node with exactly `mode`: systemd's PID 1 runs with umask 0, so SocketMode= is what
 * the node gets, whatever umask the daemon inherited.
 */
function withUmask<T>(mode: number, fn: () => T): T {
  const old = process.umask(~mode & 0o777);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

function mkdirParents(path: string, mode: number): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode });
  } catch {
    /* bind() will report the real problem */
  }
}

function applyOpt(fd: number, o: SockOpt): void {
  switch (o.kind) {
    case "int":
      return n.setsockoptInt(fd, o.level, o.name, o.value);
    case "string":
      return n.setsockoptBytes(fd, o.level, o.name, new TextEncoder().encode(o.value + (o.name === C.SO_BINDTODEVICE ? "" : "\0")));
    case "buffer": {
      const [plain, force] = o.which === "rcv" ? [C.SO_RCVBUF, C.SO_RCVBUFFORCE] : [C.SO_SNDBUF, C.SO_SNDBUFFORCE];
      n.setsockoptInt(fd, C.SOL_SOCKET, plain, o.value);
      // The kernel doubles the value and caps it at net.core.[rw]mem_max; root may go past that.
      if (n.getsockoptInt(fd, C.SOL_SOCKET, plain) >= o.value * 2) return;
      try {
        n.setsockoptInt(fd, C.SOL_SOCKET, force, o.value);
      } catch (e) {
        if (!isErrno(e, "EPERM")) throw e;
      }
      return;
    }
  }
}

/** Applies options whose failure systemd only logs. */
export function applyOptionalOptions(fd: number, opts: SockOpt[], log: UnitLog): void {
  for (const o of opts) {
    try {
      applyOpt(fd, o);
    } catch (e) {
      const quiet = isErrno(e, "EOPNOTSUPP", "ENOPROTOOPT", "EPERM", "EACCES", "EINVAL");
      (quiet ? log.debug : log.warning)(`Failed to set ${o.label} socket option, ignoring: ${(e as Error).message}`);
    }
  }
}

function toSockAddr(a: ListenAddress): SockAddr {
  switch (a.family) {
    case "unix": return { family: "unix", path: a.path, abstract: a.abstract };
    case "inet": return { family: "inet", addr: a.addr, port: a.port };
    case "inet6": return { family: "inet6", addr: a.addr, port: a.port, scopeId: a.ifname ? n.ifNameToIndex(a.ifname) : 0 };
    case "vsock": return { family: "vsock", cid: a.cid, port: a.port };
  }
}

const FAMILY_NUMBER: Record<Family, number> = { unix: C.AF_UNIX, inet: C.AF_INET, inet6: C.AF_INET6, vsock: C.AF_VSOCK, netlink: C.AF_NETLINK };

function openInetLike(cfg: SocketConfig, port: Extract<ListenPort, { address: ListenAddress }>, addr: SockAddr, log: UnitLog): OpenedPort {
  const family = addr.family as Family;
  const fd = n.socket(FAMILY_NUMBER[family], socketType(port.kind), ipProtocol(cfg, port.kind, family));
  try {
    for (const o of preBindOptions(cfg, family)) {
      if (o.label === "SO_REUSEPORT" || o.label.endsWith("FREEBIND") || o.label.endsWith("TRANSPARENT")) applyOptionalOptions(fd, [o], log);
      else applyOpt(fd, o);
    }
    let nodePath: string | undefined;
    if (addr.family === "unix" && !addr.abstract) {
      nodePath = addr.path;
      mkdirParents(addr.path, cfg.directoryMode);
      withUmask(cfg.socketMode, () => {
        try {
          n.bind(fd, addr, addr.path);
        } catch (e) {
          if (!isErrno(e, "EADDRINUSE")) throw e;
          // A stale socket file from an earlier run: remove it and try once more.
          unlinkSync(addr.path);
          n.bind(fd, addr, addr.path);
        }
      });
    } else {
      n.bind(fd, addr, port.text);
    }
    if (port.kind === "stream" || port.kind === "seqpacket") n.listen(fd, Math.min(cfg.backlog, C.SOMAXCONN_DELUXE));
    applyOptionalOptions(fd, postBindOptions(cfg, family), log);
    return { port, fd, aux: [], family, nodePath, bound: n.getsockname(fd) ?? addr };
  } catch (e) {
    n.close(fd);
    throw e;
  }
}

function openFifo(cfg: SocketConfig, port: ListenPort & { path: string }, log: UnitLog): OpenedPort {
  mkdirParents(port.path, cfg.directoryMode);
  withUmask(cfg.socketMode, () => {
    try {
      n.mkfifo(port.path, cfg.socketMode);
    } catch (e) {
      if (!isErrno(e, "EEXIST")) throw e;
    }
  });
  const fd = n.open(port.path, C.O_RDWR | C.O_NOCTTY | C.O_NONBLOCK | C.O_NOFOLLOW);
  const st = n.fstat(fd);
  if ((st.mode & C.S_IFMT) !== C.S_IFIFO) {
    n.close(fd);
    throw new Error(`${port.path} exists and is not a FIFO`);
  }
  if (cfg.pipeSize) {
    try {
      n.fcntl(fd, C.F_SETPIPE_SZ, cfg.pipeSize);
    } catch (e) {
      log.warning(`Setting pipe size failed, ignoring: ${(e as Error).message}`);
    }
  }
  return { port, fd, aux: [], nodePath: port.path };
}

function openSpecial(cfg: SocketConfig, port: ListenPort & { path: string }): OpenedPort {
  const fd = n.open(port.path, (cfg.writable ? C.O_RDWR : C.O_RDONLY) | C.O_NOCTTY | C.O_NONBLOCK | C.O_NOFOLLOW);
  const t = n.fstat(fd).mode & C.S_IFMT;
  if (t !== C.S_IFREG && t !== C.S_IFCHR) {
    n.close(fd);
    throw new Error(`${port.path} is neither a regular file nor a character device`);
  }
  return { port, fd, aux: [] };
}

function openMqueue(cfg: SocketConfig, port: ListenPort & { path: string }): OpenedPort {
  const fd = withUmask(cfg.socketMode, () =>
    n.mqOpen(port.path, C.O_RDONLY | C.O_NONBLOCK | C.O_CREAT, cfg.socketMode, cfg.mqMaxMessages, cfg.mqMessageSize),
  );
  return { port, fd, aux: [], mqName: port.path };
}

function openNetlink(cfg: SocketConfig, port: Extract<ListenPort, { kind: "netlink" }>, log: UnitLog): OpenedPort {
  const fd = n.socket(C.AF_NETLINK, C.SOCK_RAW, port.netlink.protocol);
  try {
    n.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
    n.bind(fd, { family: "netlink", pid: 0, groups: port.netlink.groups }, port.text);
    applyOptionalOptions(fd, postBindOptions(cfg, "netlink"), log);
    return { port, fd, aux: [], family: "netlink" };
  } catch (e) {
    n.close(fd);
    throw e;
  }
}

/**
 * A port that cannot be opened *yet* (bunit waits and retries instead of failing the socket):
 * an AF_VSOCK address whose transport is not loaded (EAFNOSUPPORT, EADDRNOTAVAIL, ENODEV), or a
 * BindToDevice= interface that does not exist yet (ENODEV). Returns why, or null for a real error.
 */
export function waitReason(cfg: SocketConfig, e: unknown): string | null {
  if (!(e instanceof PortOpenError)) return null;
  const port = e.port;
  const cause = e.cause;
  if ((port.kind === "stream" || port.kind === "datagram" || port.kind === "seqpacket") && port.address.family === "vsock" && isErrno(cause, "EAFNOSUPPORT", "EADDRNOTAVAIL", "ENODEV")) {
    return `the vsock transport for ${port.text} is not there yet (${(cause as SysError).code})`;
  }
  if (cfg.bindToDevice && isErrno(cause, "ENODEV")) return `network interface ${cfg.bindToDevice} (BindToDevice=) does not exist yet`;
  return null;
}

/** The directive a port came from (for stream/datagram/seqpacket the kind names it). */
function directiveOf(kind: ListenKind): string {
  return Object.entries(LISTEN_DIRECTIVES).find(([, k]) => k === kind)?.[0] ?? "Listen";
}

/** Opens one port; throws PortOpenError naming the directive. */
export function openPort(cfg: SocketConfig, port: ListenPort, log: UnitLog, usb?: UsbFunctionOpener): OpenedPort {
  try {
    switch (port.kind) {
      case "stream":
      case "datagram":
      case "seqpacket": {
        const a = port.address;
        if (a.family === "inet6" && a.portOnly) {
          try {
            return openInetLike(cfg, port, toSockAddr(a), log);
          } catch (e) {
            if (!isErrno(e, "EAFNOSUPPORT")) throw e;
            return openInetLike(cfg, port, { family: "inet", addr: new Uint8Array(4), port: a.port }, log);
          }
        }
        return openInetLike(cfg, port, toSockAddr(a), log);
      }
      case "netlink":
        return openNetlink(cfg, port, log);
      case "fifo":
        return openFifo(cfg, port, log);
      case "special":
        return openSpecial(cfg, port);
      case "mqueue":
        return openMqueue(cfg, port);
      case "usb-function": {
        if (!usb) throw new Error("USB FunctionFS support is not available");
        const { ep0, endpoints, endpointNames } = usb(port.path);
        return { port, fd: ep0, aux: endpoints, auxNames: endpointNames };
      }
    }
  } catch (e) {
    throw new PortOpenError(port, e);
  }
}

/** SocketUser=/SocketGroup= (systemd's start-chown). */
export function chownPorts(ports: OpenedPort[], uid: number, gid: number): void {
  for (const p of ports) {
    if (p.mqName) n.fchown(p.fd, uid, gid);
    else if (p.nodePath) n.lchown(p.nodePath, uid, gid);
  }
}

/** XAttrEntryPoint= / XAttrListen= (failures are debug-level, as in systemd). */
export function applyXattrs(cfg: SocketConfig, ports: OpenedPort[], log: UnitLog): void {
  for (const p of ports) {
    if (p.nodePath && p.port.kind !== "fifo") {
      for (const [k, v] of cfg.xattrEntryPoint) {
        try {
          n.lsetxattr(p.nodePath, k, v);
        } catch (e) {
          log.debug(`XAttrEntryPoint=${k}: ${(e as Error).message}, ignoring`);
        }
      }
    }
    if (p.family && p.family !== "netlink") {
      for (const [k, v] of cfg.xattrListen) {
        try {
          n.fsetxattr(p.fd, k, v);
        } catch (e) {
          log.debug(`XAttrListen=${k}: ${(e as Error).message}, ignoring`);
        }
      }
    }
  }
}

export function createSymlinks(cfg: SocketConfig, target: string, log: UnitLog): void {
  for (const link of cfg.symlinks) {
    mkdirParents(link, cfg.directoryMode);
    try {
      symlinkSync(target, link);
    } catch (e) {
      let done = false;
      try {
        if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === target) done = true;
        else if (cfg.removeOnStop) {
          unlinkSync(link);
          symlinkSync(target, link);
          done = true;
        }
      } catch {
        /* fall through to the warning */
      }
      if (!done) log.warning(`Failed to create symlink ${target} → ${link}, ignoring: ${(e as Error).message}`);
    }
  }
}

/** Closes a port; with remove, unlinks what it created (RemoveOnStop=). */
export function closePort(p: OpenedPort, remove: boolean): void {
  for (const fd of p.aux) n.close(fd);
  n.close(p.fd);
  if (!remove) return;
  try {
    if (p.nodePath) unlinkSync(p.nodePath);
    if (p.mqName) n.mqUnlink(p.mqName);
  } catch (e) {
    if (!(e instanceof SysError) && !(e as NodeJS.ErrnoException).code) throw e;
  }
}

export function removeSymlinks(cfg: SocketConfig): void {
  for (const l of cfg.symlinks) {
    try {
      unlinkSync(l);
    } catch {
      /* already gone */
    }
  }
}
