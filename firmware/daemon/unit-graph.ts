/**
 * Dependencies between units: what a unit's files say plus the implicit ones systemd adds
 * (default dependencies, socket -> service, enabled units (install-graph.ts), the standard
 * targets). Pure: units come from a lookup function.
 */
import { EMPTY_LIST, type LoadedUnit } from "../unit/unit-file.ts";
import { socketServiceName } from "../unit/socket-relations.ts";
import { templateOf } from "../unit/unit-name.ts";

/** The dependency kinds a unit has, under the names of its [Unit] settings (the same keys as UnitSection's). */
export const DEP_KINDS = [
  "requires",
  "requisite",
  "wants",
  "bindsTo",
  "partOf",
  "upholds",
  "conflicts",
  "after",
  "before",
  "onFailure",
  "onSuccess",
  "propagatesReloadTo",
  "reloadPropagatedFrom",
  "propagatesStopTo",
  "stopPropagatedFrom",
] as const;

export type Deps = Record<(typeof DEP_KINDS)[number], string[]>;

/** The standard targets bunit provides when no unit file defines them, with their Wants=/After=. */
export const BUILTIN_TARGETS: Record<string, { wants: string[]; after: string[]; description: string }> = {
  "default.target": { wants: ["multi-user.target"], after: ["multi-user.target"], description: "Default target" },
  "multi-user.target": { wants: ["basic.target"], after: ["basic.target"], description: "Multi-User System" },
  "basic.target": {
    wants: ["sockets.target", "sysinit.target", "paths.target", "timers.target"],
    after: ["sockets.target", "sysinit.target", "paths.target", "timers.target"],
    description: "Basic System",
  },
  "sysinit.target": { wants: ["local-fs.target"], after: ["local-fs.target"], description: "System Initialization" },
  "sockets.target": { wants: [], after: [], description: "Sockets" },
  "paths.target": { wants: [], after: [], description: "Path Units" },
  "timers.target": { wants: [], after: [], description: "Timer Units" },
  "local-fs.target": { wants: [], after: [], description: "Local File Systems" },
  "network.target": { wants: [], after: [], description: "Network" },
  "network-online.target": { wants: [], after: ["network.target"], description: "Network is Online" },
  "network-pre.target": { wants: [], after: [], description: "Preparation for Network" },
  "nss-lookup.target": { wants: [], after: [], description: "Host and Network Name Lookups" },
  "nss-user-lookup.target": { wants: [], after: [], description: "User and Group Name Lookups" },
  "remote-fs.target": { wants: [], after: [], description: "Remote File Systems" },
  "time-sync.target": { wants: [], after: [], description: "System Time Synchronized" },
  "shutdown.target": { wants: [], after: [], description: "System Shutdown" },
  "usb-gadget.target": { wants: [], after: [], description: "Hardware activated USB gadget" },
  "graphical.target": { wants: ["multi-user.target"], after: ["multi-user.target"], description: "Graphical Interface" },
};

export interface GraphContext {
  load(name: string): LoadedUnit;
  installed: { wants: Map<string, string[]>; requires: Map<string, string[]> };
  /** Socket units (by name) that activate each service. */
  triggeredBy: Map<string, string[]>;
}

/** Every dependency of a unit, explicit and implicit. */
export function dependenciesOf(u: LoadedUnit, ctx: GraphContext): Deps {
  const s = u.unit;
  const d = {} as Deps;
  for (const k of DEP_KINDS) d[k] = [...s[k]];
  d.requires.push(...u.dirRequires, ...(ctx.installed.requires.get(u.name) ?? []));
  d.wants.push(...u.dirWants, ...(ctx.installed.wants.get(u.name) ?? []));
  const builtin = BUILTIN_TARGETS[u.name];
  if (builtin && u.loadState === "not-found") {
    d.wants.push(...builtin.wants);
    d.after.push(...builtin.after);
  }
  // Instances also get the dependencies of their template's .wants/ directories.
  const tpl = templateOf(u.name);
  if (tpl && ctx.installed.wants.get(tpl)) d.wants.push(...ctx.installed.wants.get(tpl)!);
  if (u.socket) {
    if (!u.socket.accept) d.before.push(socketServiceName(u));
    if (s.defaultDependencies) {
      d.before.push("sockets.target");
      d.after.push("sysinit.target");
      d.conflicts.push("shutdown.target");
      d.before.push("shutdown.target");
    }
  }
  if (u.service) {
    for (const sock of ctx.triggeredBy.get(u.name) ?? []) d.after.push(sock);
    for (const sock of u.service.sockets) {
      d.wants.push(sock);
      d.after.push(sock);
    }
    if (s.defaultDependencies) {
      d.after.push("sysinit.target", "basic.target");
      d.conflicts.push("shutdown.target");
      d.before.push("shutdown.target");
    }
  }
  if (u.id.type === "target" && s.defaultDependencies) {
    if (!builtin) {
      d.conflicts.push("shutdown.target");
      d.before.push("shutdown.target");
    }
    // A target is ordered after the units it pulls in.
    for (const w of [...d.wants, ...d.requires, ...d.upholds]) if (!d.before.includes(w)) d.after.push(w);
  }
  // Most lists are empty: they share one frozen array (deps are read-only once computed).
  const uniq = (a: string[]) => {
    const out = [...new Set(a)].filter((x) => x !== u.name);
    return out.length ? out : EMPTY_LIST;
  };
  const out = {} as Deps;
  for (const k of DEP_KINDS) out[k] = uniq(d[k]);
  return out;
}

/** service name -> the socket units that activate it (by their Service= or name, or Sockets=). */
export function computeTriggeredBy(socketNames: readonly string[], load: (n: string) => LoadedUnit): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const name of socketNames) {
    const u = load(name);
    if (u.loadState !== "loaded" || !u.socket || u.socket.accept) continue;
    const svc = socketServiceName(u);
    const l = m.get(svc) ?? [];
    l.push(name);
    m.set(svc, l);
  }
  return m;
}

/** Which units a unit triggers and is triggered by (sockets and their services). */
export interface TriggerView {
  triggers(name: string): string[];
  triggeredBy(name: string): string[];
}

export function triggerView(load: (n: string) => LoadedUnit, triggeredBy: Map<string, string[]>): TriggerView {
  return {
    triggers: (name) => {
      const cfg = load(name);
      return cfg.socket ? [cfg.socket.accept ? socketServiceName(cfg).replace(/@?\.service$/, "@*.service") : socketServiceName(cfg)] : [];
    },
    triggeredBy: (name) => {
      const set = new Set(triggeredBy.get(name) ?? []);
      for (const s of load(name).service?.sockets ?? []) set.add(s);
      return [...set].sort();
    },
  };
}
