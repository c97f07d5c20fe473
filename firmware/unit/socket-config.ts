/**
 * The [Socket] section (systemd.socket(5)): every directive, parsed into SocketConfig.
 * Defaults are those of systemd's socket_init()/socket_add_extras(). Pure.
 */
import {
  bool,
  iecSize,
  integer,
  list,
  mode,
  oneOf,
  optBool,
  string,
  timespan,
  timespanFix0,
  unsigned,
  unsupported,
  type DirectiveHandler,
  type SectionSchema,
} from "./section-schema.ts";
import { execContextSchema, execLines, killContextSchema, newExecContext, newKillContext, type ExecContext, type KillContext } from "./exec-context.ts";
import type { ExecCommand } from "./exec-command.ts";
import { isValidUnitName, parseUnitName } from "./unit-name.ts";
import { isNormalizedAbsolutePath, parseBoolean, ValueError } from "./values.ts";
import { splitWords } from "./words.ts";
import { AddressError, parseListenAddress, parseNetlinkAddress, type ListenAddress, type NetlinkAddress } from "./listen-address.ts";
import { SOMAXCONN_DELUXE } from "../sys/constants.ts";

export type ListenKind = "stream" | "datagram" | "seqpacket" | "fifo" | "special" | "netlink" | "mqueue" | "usb-function";

export type ListenPort =
  | { kind: "stream" | "datagram" | "seqpacket"; address: ListenAddress; text: string; file: string; line: number }
  | { kind: "netlink"; netlink: NetlinkAddress; text: string; file: string; line: number }
  | { kind: "fifo" | "special" | "mqueue" | "usb-function"; path: string; text: string; file: string; line: number };

export const LISTEN_DIRECTIVES: Record<string, ListenKind> = {
  ListenStream: "stream",
  ListenDatagram: "datagram",
  ListenSequentialPacket: "seqpacket",
  ListenFIFO: "fifo",
  ListenSpecial: "special",
  ListenNetlink: "netlink",
  ListenMessageQueue: "mqueue",
  ListenUSBFunction: "usb-function",
};

export interface SocketConfig {
  listen: ListenPort[];
  socketProtocol?: "udplite" | "sctp" | "mptcp";
  bindIPv6Only: "default" | "both" | "ipv6-only";
  backlog: number;
  bindToDevice?: string;
  socketUser?: string;
  socketGroup?: string;
  socketMode: number;
  directoryMode: number;
  accept: boolean;
  writable: boolean;
  flushPending: boolean;
  maxConnections: number;
  maxConnectionsPerSource: number;
  keepAlive: boolean;
  keepAliveTimeUsec?: number;
  keepAliveIntervalUsec?: number;
  keepAliveProbes?: number;
  noDelay: boolean;
  priority?: number;
  deferAcceptUsec: number;
  receiveBuffer?: number;
  sendBuffer?: number;
  ipTos?: number;
  ipTtl?: number;
  mark?: number;
  pipeSize?: number;
  freeBind: boolean;
  transparent: boolean;
  broadcast: boolean;
  passCredentials: boolean;
  passPIDFD: boolean;
  passSecurity: boolean;
  passPacketInfo: boolean;
  /** SO_PASSRIGHTS; undefined = kernel default (true). */
  acceptFileDescriptors?: boolean;
  timestamping: "off" | "us" | "ns";
  tcpCongestion?: string;
  reusePort: boolean;
  mqMaxMessages: number;
  mqMessageSize: number;
  removeOnStop: boolean;
  symlinks: string[];
  fileDescriptorName?: string;
  service?: string;
  triggerLimitIntervalUsec?: number;
  triggerLimitBurst?: number;
  pollLimitIntervalUsec?: number;
  pollLimitBurst?: number;
  deferTrigger: "no" | "yes" | "patient";
  deferTriggerMaxUsec: number;
  passFileDescriptorsToExec: boolean;
  xattrEntryPoint: [string, string][];
  xattrListen: [string, string][];
  xattrAccept: [string, string][];
  timeoutUsec: number;
  /** bunit extension (X-USBActivationEvent=): activate on the first ep0 event (systemd) or on ENABLE. */
  usbActivation: "first" | "enable";
  /** bunit extension (X-USBEndpointNames=): name endpoint fds NAME.ep1... instead of NAME. */
  usbEndpointNames: boolean;
  execStartPre: ExecCommand[];
  execStartPost: ExecCommand[];
  execStopPre: ExecCommand[];
  execStopPost: ExecCommand[];
  exec: ExecContext;
  kill: KillContext;
}

export const DEFAULT_TIMEOUT_USEC = 90e6;

export function newSocketConfig(): SocketConfig {
  return {
    listen: [],
    bindIPv6Only: "default",
    backlog: SOMAXCONN_DELUXE,
    socketMode: 0o666,
    directoryMode: 0o755,
    accept: false,
    writable: false,
    flushPending: false,
    maxConnections: 64,
    maxConnectionsPerSource: 0,
    keepAlive: false,
    noDelay: false,
    deferAcceptUsec: 0,
    freeBind: false,
    transparent: false,
    broadcast: false,
    passCredentials: false,
    passPIDFD: false,
    passSecurity: false,
    passPacketInfo: false,
    timestamping: "off",
    reusePort: false,
    mqMaxMessages: 0,
    mqMessageSize: 0,
    removeOnStop: false,
    symlinks: [],
    deferTrigger: "no",
    deferTriggerMaxUsec: Infinity,
    passFileDescriptorsToExec: false,
    xattrEntryPoint: [],
    xattrListen: [],
    xattrAccept: [],
    timeoutUsec: DEFAULT_TIMEOUT_USEC,
    usbActivation: "first",
    usbEndpointNames: false,
    execStartPre: [],
    execStartPost: [],
    execStopPre: [],
    execStopPost: [],
    exec: newExecContext(),
    kill: newKillContext(),
  };
}

/** Trigger and poll limits with systemd's defaults filled in (socket_add_extras()). */
export function effectiveLimits(c: SocketConfig): { triggerIntervalUsec: number; triggerBurst: number; pollIntervalUsec: number; pollBurst: number } {
  return {
    triggerIntervalUsec: c.triggerLimitIntervalUsec ?? 2e6,
    triggerBurst: c.triggerLimitBurst ?? (c.accept ? 200 : 20),
    pollIntervalUsec: c.pollLimitIntervalUsec ?? 2e6,
    pollBurst: c.pollLimitBurst ?? (c.accept ? 150 : 15),
  };
}

const API_VFS = ["/dev", "/sys", "/proc"];
function belowApiVfs(p: string): boolean {
  return API_VFS.some((d) => p === d || p.startsWith(d + "/"));
}

const listen =
  (kind: ListenKind): DirectiveHandler<SocketConfig> =>
  (c, v, ctx) => {
    if (v === "") {
      c.listen = [];
      return;
    }
    const text = ctx.expand(v);
    const where = { text, file: ctx.file, line: ctx.line };
    switch (kind) {
      case "stream":
      case "datagram":
      case "seqpacket": {
        let address: ListenAddress;
        try {
          address = parseListenAddress(text);
        } catch (e) {
          if (e instanceof AddressError) throw new ValueError(e.message);
          throw e;
        }
        if (kind === "seqpacket" && address.family !== "unix") {
          ctx.report("warning", `Address family not supported, ignoring: ${text} (sequential packet sockets are AF_UNIX only)`);
          return;
        }
        if (address.family === "unix" && !address.abstract && address.path.startsWith("/var/run/")) {
          ctx.report("notice", `${text} is under legacy directory /var/run/, using /run/ instead`);
          address = { ...address, path: "/run/" + address.path.slice("/var/run/".length) };
        }
        if (address.family === "unix" && !address.abstract && !isNormalizedAbsolutePath(address.path)) {
          throw new ValueError(`"${address.path}" is not a normalized path`);
        }
        c.listen.push({ kind, address, ...where });
        return;
      }
      case "netlink": {
        try {
          c.listen.push({ kind, netlink: parseNetlinkAddress(text), ...where });
        } catch (e) {
          if (e instanceof AddressError) throw new ValueError(e.message);
          throw e;
        }
        return;
      }
      default: {
        if (!isNormalizedAbsolutePath(text)) throw new ValueError(`"${text}" is not an absolute, normalized path`);
        if ((kind === "fifo" || kind === "mqueue") && belowApiVfs(text)) {
          ctx.report("warning", `path is below API VFS, ignoring: ${text}`);
          return;
        }
        if (kind === "mqueue" && text.indexOf("/", 1) >= 0) throw new ValueError(`"${text}" is not a message queue name ("/name", one component)`);
        if (kind === "usb-function" && belowApiVfs(text)) {
          ctx.report(
            "notice",
            `${text} is below /dev, /sys or /proc; systemd >= 256 refuses this, bunit accepts it (FunctionFS mounts under /run are portable to both)`,
          );
        }
        c.listen.push({ kind, path: text, ...where });
      }
    }
  };

const exec = execLines<SocketConfig>;

const xattrs =
  (get: (c: SocketConfig) => [string, string][]): DirectiveHandler<SocketConfig> =>
  (c, v, ctx) => {
    const target = get(c);
    if (v === "") {
      target.length = 0;
      return;
    }
    for (const w of splitWords(v, { unquote: true, cunescape: true })) {
      const x = ctx.expand(w);
      const eq = x.indexOf("=");
      const name = eq < 0 ? x : x.slice(0, eq);
      if (!/^user\.[^=\s]+$/.test(name)) throw new ValueError(`"${x}" is not an extended attribute of the form user.NAME=VALUE`);
      target.push([name, eq < 0 ? "" : x.slice(eq + 1)]);
    }
  };

const IPTOS_NAMES: Record<string, number> = { "low-delay": 0x10, throughput: 0x08, reliability: 0x04, "low-cost": 0x02 };

export const SOCKET_SCHEMA: SectionSchema<SocketConfig> = {
  ...Object.fromEntries(Object.entries(LISTEN_DIRECTIVES).map(([k, kind]) => [k, listen(kind)])),
  SocketProtocol: oneOf(["udplite", "sctp", "mptcp"] as const, (c, v) => (c.socketProtocol = v)),
  BindIPv6Only: (c, v) => {
    if (v === "" || v === "default") return void (c.bindIPv6Only = "default");
    if (v === "both" || v === "ipv6-only") return void (c.bindIPv6Only = v);
    c.bindIPv6Only = parseBoolean(v) ? "ipv6-only" : "both";
  },
  Backlog: unsigned((c, v) => (c.backlog = v ?? SOMAXCONN_DELUXE)),
  BindToDevice: (c, v) => {
    if (v === "" || v === "*") return void (c.bindToDevice = undefined);
    if (v.length >= 16 || !/^[^\s/:]+$/.test(v) || v === "." || v === "..") throw new ValueError(`"${v}" is not a valid interface name`);
    c.bindToDevice = v;
  },
  ExecStartPre: exec((c) => c.execStartPre),
  ExecStartPost: exec((c) => c.execStartPost),
  ExecStopPre: exec((c) => c.execStopPre),
  ExecStopPost: exec((c) => c.execStopPost),
  TimeoutSec: timespanFix0((c, v) => (c.timeoutUsec = v ?? DEFAULT_TIMEOUT_USEC)),
  SocketUser: string((c, v) => (c.socketUser = v)),
  SocketGroup: string((c, v) => (c.socketGroup = v)),
  SocketMode: mode((c, v) => (c.socketMode = v ?? 0o666)),
  DirectoryMode: mode((c, v) => (c.directoryMode = v ?? 0o755)),
  Accept: bool((c, v) => (c.accept = v)),
  Writable: bool((c, v) => (c.writable = v)),
  FlushPending: bool((c, v) => (c.flushPending = v)),
  MaxConnections: unsigned((c, v) => (c.maxConnections = v ?? 64)),
  MaxConnectionsPerSource: unsigned((c, v) => (c.maxConnectionsPerSource = v ?? 0)),
  KeepAlive: bool((c, v) => (c.keepAlive = v)),
  KeepAliveTimeSec: timespan((c, v) => (c.keepAliveTimeUsec = v)),
  KeepAliveIntervalSec: timespan((c, v) => (c.keepAliveIntervalUsec = v)),
  KeepAliveProbes: unsigned((c, v) => (c.keepAliveProbes = v)),
  NoDelay: bool((c, v) => (c.noDelay = v)),
  Priority: integer((c, v) => (c.priority = v)),
  DeferAcceptSec: timespan((c, v) => (c.deferAcceptUsec = v ?? 0)),
  ReceiveBuffer: iecSize((c, v) => (c.receiveBuffer = v)),
  SendBuffer: iecSize((c, v) => (c.sendBuffer = v)),
  IPTOS: (c, v) => {
    if (v === "") return void (c.ipTos = undefined);
    const named = IPTOS_NAMES[v];
    if (named !== undefined) return void (c.ipTos = named);
    if (!/^\d+$/.test(v) || Number(v) > 255) throw new ValueError(`"${v}" is not an IP TOS value (0..255, low-delay, throughput, reliability, low-cost)`);
    c.ipTos = Number(v);
  },
  IPTTL: integer((c, v) => (c.ipTtl = v), 1, 255),
  Mark: integer((c, v) => (c.mark = v)),
  PipeSize: iecSize((c, v) => (c.pipeSize = v)),
  FreeBind: bool((c, v) => (c.freeBind = v)),
  Transparent: bool((c, v) => (c.transparent = v)),
  Broadcast: bool((c, v) => (c.broadcast = v)),
  PassCredentials: bool((c, v) => (c.passCredentials = v)),
  PassPIDFD: bool((c, v) => (c.passPIDFD = v)),
  PassSecurity: bool((c, v) => (c.passSecurity = v)),
  PassPacketInfo: bool((c, v) => (c.passPacketInfo = v)),
  AcceptFileDescriptors: optBool((c, v) => (c.acceptFileDescriptors = v)),
  Timestamping: (c, v) => {
    if (v === "" || v === "off") return void (c.timestamping = "off");
    if (["us", "usec", "µs", "μs"].includes(v)) return void (c.timestamping = "us");
    if (["ns", "nsec"].includes(v)) return void (c.timestamping = "ns");
    throw new ValueError(`"${v}" is not a timestamping mode (off, us, ns)`);
  },
  TCPCongestion: string((c, v) => (c.tcpCongestion = v), { raw: true }),
  ReusePort: bool((c, v) => (c.reusePort = v)),
  MessageQueueMaxMessages: integer((c, v) => (c.mqMaxMessages = v ?? 0), 0, Number.MAX_SAFE_INTEGER),
  MessageQueueMessageSize: integer((c, v) => (c.mqMessageSize = v ?? 0), 0, Number.MAX_SAFE_INTEGER),
  RemoveOnStop: bool((c, v) => (c.removeOnStop = v)),
  Symlinks: list((c) => c.symlinks, {
    check: (p) => {
      if (!isNormalizedAbsolutePath(p)) throw new ValueError(`"${p}" is not an absolute, normalized path`);
    },
  }),
  FileDescriptorName: (c, v, ctx) => {
    if (v === "") return void (c.fileDescriptorName = undefined);
    const n = ctx.expand(v);
    if (!isValidFdName(n)) throw new ValueError(`"${n}" is not a valid file descriptor name (printable ASCII, no ":", at most 255 characters)`);
    c.fileDescriptorName = n;
  },
  Service: (c, v, ctx) => {
    if (v === "") return void (c.service = undefined);
    const n = ctx.expand(v);
    const u = parseUnitName(n);
    if (!u || u.type !== "service") throw new ValueError(`"${n}" is not a service unit name`);
    if (u.instance === "") throw new ValueError(`"${n}" is a template; Service= needs a plain or instance name`);
    c.service = n;
  },
  TriggerLimitIntervalSec: timespan((c, v) => (c.triggerLimitIntervalUsec = v)),
  TriggerLimitBurst: unsigned((c, v) => (c.triggerLimitBurst = v)),
  PollLimitIntervalSec: timespan((c, v) => (c.pollLimitIntervalUsec = v)),
  PollLimitBurst: unsigned((c, v) => (c.pollLimitBurst = v)),
  DeferTrigger: (c, v) => {
    if (v === "") return void (c.deferTrigger = "no");
    if (v === "patient") return void (c.deferTrigger = "patient");
    c.deferTrigger = parseBoolean(v) ? "yes" : "no";
  },
  DeferTriggerMaxSec: timespanFix0((c, v) => (c.deferTriggerMaxUsec = v ?? Infinity)),
  PassFileDescriptorsToExec: bool((c, v) => (c.passFileDescriptorsToExec = v)),
  XAttrEntryPoint: xattrs((c) => c.xattrEntryPoint),
  XAttrListen: xattrs((c) => c.xattrListen),
  XAttrAccept: xattrs((c) => c.xattrAccept),
  "X-USBActivationEvent": oneOf(["first", "enable"] as const, (c, v) => (c.usbActivation = v ?? "first")),
  "X-USBEndpointNames": bool((c, v) => (c.usbEndpointNames = v)),
  SmackLabel: unsupported("SMACK labels are not supported by bunit, ignoring"),
  SmackLabelIPIn: unsupported("SMACK labels are not supported by bunit, ignoring"),
  SmackLabelIPOut: unsupported("SMACK labels are not supported by bunit, ignoring"),
  SELinuxContextFromNet: unsupported("SELinux is not supported by bunit, ignoring", (v) => void parseBoolean(v)),
  ...execContextSchema<SocketConfig>(),
  ...killContextSchema<SocketConfig>(),
};

/** fdname_is_valid(): printable ASCII without ":", at most 255 characters. */
export function isValidFdName(n: string): boolean {
  return n.length <= 255 && /^[\x20-\x39\x3b-\x7e]*$/.test(n);
}

export function isValidServiceName(n: string): boolean {
  return isValidUnitName(n) && n.endsWith(".service");
}
