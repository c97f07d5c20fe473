/**
 * Opening and closing the ports of a socket unit (systemd's socket_open_fds() and
 * socket_close_fds()). I/O through firmware/native.ts; the options come from the pure plan
 * in socket-options.ts.
 */
import { lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { isErrno, SysError } from "../sys/errno.ts";
import type { SockAddr } from "../sys/sockaddr.ts";
import type { UnitLog } from "../core/log.ts";
import type { ListenAddress } from "../unit/listen-address.ts";
import { LISTEN_DIRECTIVES, type ListenKind, type ListenPort, type SocketConfig } from "../unit/socket-config.ts";
import { symlinkTarget } from "../unit/socket-relations.ts";
import { ipProtocol, postBindOptions, preBindOptions, socketType, type Family, type SockOpt } from "./socket-options.ts";
import { errorText } from "../core/errors.ts";

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
  /** Which inode nodePath was, in which directory: only that one is chowned or removed. */
  node?: NodeIdentity;
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
 * The inode a port's node is and the directory it was made in (decimal strings: the port is
 * written down as JSON for daemon-reexec). A later chown or unlink acts only on that inode in
 * that directory: a directory swapped for another (or for a symlink) after the socket started
 * makes root act on nothing rather than on somebody else's file.
 */
export interface NodeIdentity {
  dev: string;
  ino: string;
  dirDev: string;
  dirIno: string;
}

const S_IFLNK = 0o120000;

/** O_PATH (the same on x86_64 and aarch64): a handle on the directory, no read access needed. */
const O_PATH = 0o10000000;

/**
 * Runs fn on `path`'s directory opened once (O_PATH|O_DIRECTORY), with a name for the node that
 * resolves inside that directory (/proc/self/fd/DIR/NAME) whatever happens to the path meanwhile,
 * and the directory's identity. The native calls for openat/fstatat/unlinkat would do the same
 * without /proc.
 */
function inDirectory<T>(path: string, fn: (at: string, dir: { dev: string; ino: string }) => T): T {
  const dfd = n.open(dirname(path), O_PATH | C.O_DIRECTORY);
  try {
    const st = n.fstat(dfd);
    return fn(`/proc/self/fd/${dfd}/${basename(path)}`, { dev: String(st.dev), ino: String(st.ino) });
  } finally {
    n.close(dfd);
  }
}

/** The identity of the node at path (not following a link), or undefined when it cannot be read. */
export function identifyNode(path: string): NodeIdentity | undefined {
  try {
    return inDirectory(path, (at, dir) => {
      const st = lstatSync(at, { bigint: true });
      return { dev: String(st.dev), ino: String(st.ino), dirDev: dir.dev, dirIno: dir.ino };
    });
  } catch {
    return undefined;
  }
}

/**
 * Runs act(at) on the node at path only if it is still the inode `node` names, in the same
 * directory, and of file type `type` (S_IF*); otherwise returns why not. Without a recorded
 * identity (a port handed over by an older daemon) only the file type is checked.
 */
export function actOnNode(path: string, node: NodeIdentity | undefined, type: number, act: (at: string) => void): string | null {
  return inDirectory(path, (at, dir) => {
    if (node && (node.dirDev !== dir.dev || node.dirIno !== dir.ino)) return `the directory of ${path} is not the one it was created in`;
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(at, { bigint: true });
    } catch {
      return `${path} is gone`;
    }
    if ((Number(st.mode) & C.S_IFMT) !== type) return `${path} is no longer the node it created`;
    if (node && (String(st.dev) !== node.dev || String(st.ino) !== node.ino)) return `${path} is no longer the node it created`;
    act(at);
    return null;
  });
}

/** Removes a stale socket node: only a socket, found in the opened directory (never through a link). */
function unlinkStaleSocket(path: string): void {
  const why = actOnNode(path, undefined, C.S_IFSOCK, (at) => unlinkSync(at));
  if (why) throw new Error(`${path} is in use and is not a stale socket (${why})`);
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
      (quiet ? log.debug : log.warning)(`Failed to set ${o.label} socket option, ignoring: ${errorText(e)}`);
    }
  }
}

function toSockAddr(a: ListenAddress): SockAddr {
  switch (a.family) {
    case "unix":
      return { family: "unix", path: a.path, abstract: a.abstract };
    case "inet":
      return { family: "inet", addr: a.addr, port: a.port };
    case "inet6":
      return { family: "inet6", addr: a.addr, port: a.port, scopeId: a.ifname ? n.ifNameToIndex(a.ifname) : 0 };
    case "vsock":
      return { family: "vsock", cid: a.cid, port: a.port };
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
    let node: NodeIdentity | undefined;
    if (addr.family === "unix" && !addr.abstract) {
      nodePath = addr.path;
      mkdirParents(addr.path, cfg.directoryMode);
      withUmask(cfg.socketMode, () => {
        try {
          n.bind(fd, addr, addr.path);
        } catch (e) {
          if (!isErrno(e, "EADDRINUSE")) throw e;
          // A stale socket file from an earlier run: remove it and try once more.
          unlinkStaleSocket(addr.path);
          n.bind(fd, addr, addr.path);
        }
      });
      node = identifyNode(addr.path);
    } else {
      n.bind(fd, addr, port.text);
    }
    if (port.kind === "stream" || port.kind === "seqpacket") n.listen(fd, Math.min(cfg.backlog, C.SOMAXCONN_DELUXE));
    applyOptionalOptions(fd, postBindOptions(cfg, family), log);
    return { port, fd, aux: [], family, nodePath, node, bound: n.getsockname(fd) ?? addr };
  } catch (e) {
    n.close(fd);
    throw e;
  }
}

/** The owners an existing FIFO may have: the daemon's, or the SocketUser=/SocketGroup= one it was given at an earlier start. */
function fifoOwnerOk(cfg: SocketConfig, uid: number, gid: number): boolean {
  const id = (v: string | undefined, lookup: (name: string) => number | null | undefined): number | null =>
    v === undefined ? null : /^\d+$/.test(v) ? Number(v) : (lookup(v) ?? null);
  const user = id(cfg.socketUser, (name) => n.getpwnam(name)?.uid);
  const group = id(cfg.socketGroup, (name) => n.getgrnam(name));
  return (uid === process.getuid!() || uid === user) && (gid === process.getgid!() || gid === group);
}

function openFifo(cfg: SocketConfig, port: ListenPort & { path: string }, log: UnitLog): OpenedPort {
  mkdirParents(port.path, cfg.directoryMode);
  let created = true;
  withUmask(cfg.socketMode, () => {
    try {
      n.mkfifo(port.path, cfg.socketMode);
    } catch (e) {
      if (!isErrno(e, "EEXIST")) throw e;
      created = false;
    }
  });
  const fd = n.open(port.path, C.O_RDWR | C.O_NOCTTY | C.O_NONBLOCK | C.O_NOFOLLOW);
  const st = n.fstat(fd);
  if ((st.mode & C.S_IFMT) !== C.S_IFIFO) {
    n.close(fd);
    throw new Error(`${port.path} exists and is not a FIFO`);
  }
  // systemd (fifo_address_create): a FIFO found in place is used only with the mode and owner
  // this socket gives it, else EEXIST. Another user's FIFO, world-writable, would let that user
  // feed the service (or read what is meant for it).
  if (!created && ((st.mode & 0o7777) !== cfg.socketMode || !fifoOwnerOk(cfg, st.uid, st.gid))) {
    n.close(fd);
    throw new SysError(
      "mkfifo",
      17,
      `${port.path} exists with mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}, owner ${st.uid}:${st.gid}, not the SocketMode=${cfg.socketMode.toString(8).padStart(4, "0")} and owner this socket creates it with`,
      n.strerror,
    );
  }
  if (cfg.pipeSize) {
    try {
      n.fcntl(fd, C.F_SETPIPE_SZ, cfg.pipeSize);
    } catch (e) {
      log.warning(`Setting pipe size failed, ignoring: ${errorText(e)}`);
    }
  }
  let node: NodeIdentity | undefined;
  try {
    node = inDirectory(port.path, (_at, dir) => ({ dev: String(st.dev), ino: String(st.ino), dirDev: dir.dev, dirIno: dir.ino }));
  } catch {
    node = undefined;
  }
  return { port, fd, aux: [], nodePath: port.path, node };
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
  const fd = withUmask(cfg.socketMode, () => n.mqOpen(port.path, C.O_RDONLY | C.O_NONBLOCK | C.O_CREAT, cfg.socketMode, cfg.mqMaxMessages, cfg.mqMessageSize));
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
  if (
    (port.kind === "stream" || port.kind === "datagram" || port.kind === "seqpacket") &&
    port.address.family === "vsock" &&
    isErrno(cause, "EAFNOSUPPORT", "EADDRNOTAVAIL", "ENODEV")
  ) {
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

/**
 * SocketUser=/SocketGroup= (systemd's start-chown). A FIFO is changed through its fd; a socket
 * node through its directory, only while it is the inode bind() made (a path whose directory was
 * swapped for a link must not make root chown somebody else's file).
 */
export function chownPorts(ports: OpenedPort[], uid: number, gid: number): void {
  for (const p of ports) {
    if (p.mqName || p.port.kind === "fifo") n.fchown(p.fd, uid, gid);
    else if (p.nodePath) {
      const why = actOnNode(p.nodePath, p.node, C.S_IFSOCK, (at) => n.lchown(at, uid, gid));
      if (why) throw new Error(`cannot change the owner of ${p.nodePath}: ${why}`);
    }
  }
}

/** XAttrEntryPoint= / XAttrListen= (failures are debug-level, as in systemd). */
export function applyXattrs(cfg: SocketConfig, ports: OpenedPort[], log: UnitLog): void {
  for (const p of ports) {
    if (p.nodePath && p.port.kind !== "fifo") {
      for (const [k, v] of cfg.xattrEntryPoint) {
        try {
          const why = actOnNode(p.nodePath, p.node, C.S_IFSOCK, (at) => n.lsetxattr(at, k, v));
          if (why) log.debug(`XAttrEntryPoint=${k}: ${why}, ignoring`);
        } catch (e) {
          log.debug(`XAttrEntryPoint=${k}: ${errorText(e)}, ignoring`);
        }
      }
    }
    if (p.family && p.family !== "netlink") {
      for (const [k, v] of cfg.xattrListen) {
        try {
          n.fsetxattr(p.fd, k, v);
        } catch (e) {
          log.debug(`XAttrListen=${k}: ${errorText(e)}, ignoring`);
        }
      }
    }
  }
}

/**
 * Symlinks=: each link is made in its directory opened once; an existing link pointing elsewhere
 * is replaced (RemoveOnStop=) only when it is a symlink, never a file or directory found there.
 */
export function createSymlinks(cfg: SocketConfig, target: string, log: UnitLog): void {
  for (const link of cfg.symlinks) {
    mkdirParents(link, cfg.directoryMode);
    try {
      inDirectory(link, (at) => {
        try {
          symlinkSync(target, at);
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        const st = lstatSync(at);
        if (st.isSymbolicLink() && readlinkSync(at) === target) return;
        if (!cfg.removeOnStop || !st.isSymbolicLink())
          throw new Error(`${link} exists${st.isSymbolicLink() ? ` and points to ${readlinkSync(at)}` : " and is not a symlink"}`);
        unlinkSync(at);
        symlinkSync(target, at);
      });
    } catch (e) {
      log.warning(`Failed to create symlink ${target} → ${link}, ignoring: ${errorText(e)}`);
    }
  }
}

/**
 * Closes a port; with remove, unlinks what it created (RemoveOnStop=): only the inode it created,
 * in the directory it created it in (else nothing, and `skipped` hears why).
 */
export function closePort(p: OpenedPort, remove: boolean, skipped?: (why: string) => void): void {
  for (const fd of p.aux) n.close(fd);
  n.close(p.fd);
  if (!remove) return;
  try {
    if (p.nodePath) {
      const why = actOnNode(p.nodePath, p.node, p.port.kind === "fifo" ? C.S_IFIFO : C.S_IFSOCK, (at) => unlinkSync(at));
      if (why) skipped?.(`not removing ${p.nodePath}: ${why}`);
    }
    if (p.mqName) n.mqUnlink(p.mqName);
  } catch (e) {
    if (!(e instanceof SysError) && !(e as NodeJS.ErrnoException).code) throw e;
  }
}

/** RemoveOnStop= for Symlinks=: a link is removed only while it is a symlink to the socket's target. */
export function removeSymlinks(cfg: SocketConfig): void {
  const target = symlinkTarget(cfg);
  for (const l of cfg.symlinks) {
    try {
      actOnNode(l, undefined, S_IFLNK, (at) => {
        if (readlinkSync(at) === target) unlinkSync(at);
      });
    } catch {
      /* already gone */
    }
  }
}
