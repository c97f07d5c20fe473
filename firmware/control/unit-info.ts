/**
 * What `bunit status`, `show` and the list commands report about a unit: a plain object built
 * from the running unit (or only its configuration when it never ran).
 */
import type { UnitRuntime } from "../core/unit-runtime.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { ServiceUnit } from "../service/service-unit.ts";
import { effectiveType } from "../service/service-config.ts";
import { SocketUnit } from "../socket/socket-unit.ts";
import { formatListenAddress, formatNetlinkAddress } from "../socket/listen-address.ts";
import type { ListenPort } from "../socket/socket-config.ts";

export interface ListenInfo {
  /** systemd's names: Stream, Datagram, SequentialPacket, FIFO, Special, Netlink, MessageQueue, USBFunction. */
  type: string;
  address: string;
}

export interface UnitInfo {
  unit: string;
  description: string;
  loadState: string;
  activeState: string;
  subState: string;
  result: string;
  /** When the unit entered its current state (ms since the epoch); null when it never ran. */
  sinceMs: number | null;
  fragmentPath: string | null;
  dropinPaths: string[];
  triggers: string[];
  triggeredBy: string[];
  service?: {
    type: string;
    mainPid: number | null;
    controlPid: number | null;
    nRestarts: number;
    statusText: string | null;
    execMain: { code: number | null; signal: number | null } | null;
    restart: string;
    cgroup: string | null;
    tasks: number[];
    fdStore: string[];
  };
  socket?: {
    listen: ListenInfo[];
    accept: boolean;
    nAccepted: number;
    nConnections: number;
    nRefused: number;
  };
}

const LISTEN_TYPE: Record<ListenPort["kind"], string> = {
  stream: "Stream", datagram: "Datagram", seqpacket: "SequentialPacket", fifo: "FIFO", special: "Special",
  netlink: "Netlink", mqueue: "MessageQueue", "usb-function": "USBFunction",
};

export function listenInfo(p: ListenPort): ListenInfo {
  const address = "address" in p ? formatListenAddress(p.address) : "netlink" in p ? formatNetlinkAddress(p.netlink) : p.path;
  return { type: LISTEN_TYPE[p.kind], address };
}

export interface InfoContext {
  /** Monotonic µs to wall-clock ms. */
  wallMs(monoUsec: number): number;
  triggers(name: string): string[];
  triggeredBy(name: string): string[];
}

export function unitInfo(cfg: LoadedUnit, rt: UnitRuntime | null, ctx: InfoContext): UnitInfo {
  const info: UnitInfo = {
    unit: cfg.name,
    description: cfg.unit.description ?? cfg.name,
    loadState: rt ? "loaded" : cfg.loadState,
    activeState: rt?.activeState() ?? "inactive",
    subState: rt?.subState() ?? "dead",
    result: rt?.result ?? "success",
    sinceMs: rt && rt.stateChangeTime ? ctx.wallMs(rt.stateChangeTime) : null,
    fragmentPath: cfg.fragmentPath ?? null,
    dropinPaths: cfg.dropinPaths,
    triggers: ctx.triggers(cfg.name),
    triggeredBy: ctx.triggeredBy(cfg.name),
  };
  if (cfg.service) {
    const s = rt instanceof ServiceUnit ? rt : null;
    info.service = {
      type: effectiveType(cfg.service),
      mainPid: s?.mainPid ?? null,
      controlPid: s?.controlPid ?? null,
      nRestarts: s?.nRestarts ?? 0,
      statusText: s?.statusText ?? null,
      execMain: s?.mainExit ?? null,
      restart: cfg.service.restart,
      cgroup: s?.cgroupPath ?? null,
      tasks: s?.tasks() ?? [],
      fdStore: s?.fdStore.names() ?? [],
    };
  }
  if (cfg.socket) {
    const k = rt instanceof SocketUnit ? rt : null;
    info.socket = {
      listen: cfg.socket.listen.map(listenInfo),
      accept: cfg.socket.accept,
      nAccepted: k?.connections.nAccepted ?? 0,
      nConnections: k?.connections.nConnections ?? 0,
      nRefused: k?.connections.nRefused ?? 0,
    };
  }
  return info;
}
