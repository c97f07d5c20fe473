/**
 * What `bunit status`, `show` and the list commands report about a unit: a plain object built
 * from the running unit (or only its configuration when it never ran).
 */
import type { UnitRuntime } from "../runtime/unit-runtime.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { effectiveType } from "../unit/service-config.ts";
import { listenInfo, type ListenInfo } from "../socket/listen-info.ts";

export { listenInfo, type ListenInfo };

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
    const s = rt?.facts().service ?? null;
    info.service = {
      type: effectiveType(cfg.service),
      mainPid: s?.mainPid ?? null,
      controlPid: s?.controlPid ?? null,
      nRestarts: s?.nRestarts ?? 0,
      statusText: s?.statusText ?? null,
      execMain: s?.execMain ?? null,
      restart: cfg.service.restart,
      cgroup: s?.cgroup ?? null,
      tasks: s?.tasks ?? [],
      fdStore: s?.fdStore ?? [],
    };
  }
  if (cfg.socket) {
    const k = rt?.facts().socket ?? null;
    info.socket = {
      listen: cfg.socket.listen.map(listenInfo),
      accept: cfg.socket.accept,
      nAccepted: k?.nAccepted ?? 0,
      nConnections: k?.nConnections ?? 0,
      nRefused: k?.nRefused ?? 0,
    };
  }
  return info;
}
