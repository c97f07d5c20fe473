/**
 * Dependencies between units: what a unit's files say plus the implicit ones systemd adds
 * (default dependencies, socket -> service, [Install] sections treated as enabled, the
 * standard targets). Pure: units come from a lookup function.
 */
import type { LoadedUnit } from "../unit/unit-file.ts";
import { socketServiceName } from "../unit/unit-verify.ts";
import { instantiate, parseUnitName, templateOf } from "../unit/unit-name.ts";

export interface Deps {
  requires: string[];
  requisite: string[];
  wants: string[];
  bindsTo: string[];
  partOf: string[];
  conflicts: string[];
  after: string[];
  before: string[];
  onFailure: string[];
  onSuccess: string[];
}

/** The standard targets bunit provides when no unit file defines them, with their Wants=/After=. */
export const BUILTIN_TARGETS: Record<string, { wants: string[]; after: string[]; description: string }> = {
  "default.target": { wants: ["multi-user.target"], after: ["multi-user.target"], description: "Default target" },
  "multi-user.target": { wants: ["basic.target"], after: ["basic.target"], description: "Multi-User System" },
  "basic.target": { wants: ["sockets.target", "sysinit.target", "paths.target", "timers.target"], after: ["sockets.target", "sysinit.target", "paths.target", "timers.target"], description: "Basic System" },
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

/**
 * "Enabled" wants: every unit whose [Install] names a target as WantedBy=/RequiredBy= is
 * pulled in by that target (an embedded image ships its units enabled; there is no
 * `systemctl enable` step). Templates need DefaultInstance=.
 */
export function installedDependencies(names: readonly string[], load: (n: string) => LoadedUnit): { wants: Map<string, string[]>; requires: Map<string, string[]> } {
  const wants = new Map<string, string[]>();
  const requires = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, target: string, unit: string) => {
    const l = m.get(target) ?? [];
    if (!l.includes(unit)) l.push(unit);
    m.set(target, l);
  };
  for (const name of names) {
    const id = parseUnitName(name);
    if (!id) continue;
    let unitName = name;
    let u = load(name);
    if (id.instance === "") {
      // Templates are enabled through DefaultInstance=.
      const probe = load(instantiate(name, "probe"));
      if (!probe.install.defaultInstance) continue;
      unitName = instantiate(name, probe.install.defaultInstance);
      u = load(unitName);
    }
    // A broken unit is still pulled in, so that its errors are reported and its job fails.
    if (u.loadState === "not-found" || u.loadState === "masked") continue;
    for (const t of u.install.wantedBy) add(wants, t, unitName);
    for (const t of u.install.requiredBy) add(requires, t, unitName);
    for (const t of u.install.upheldBy) add(wants, t, unitName);
  }
  return { wants, requires };
}

export interface GraphContext {
  load(name: string): LoadedUnit;
  installed: { wants: Map<string, string[]>; requires: Map<string, string[]> };
  /** Socket units (by name) that activate each service. */
  triggeredBy: Map<string, string[]>;
}

/** Every dependency of a unit, explicit and implicit. */
export function dependenciesOf(u: LoadedUnit, ctx: GraphContext): Deps {
  const s = u.unit;
  const d: Deps = {
    requires: [...s.requires, ...u.dirRequires, ...(ctx.installed.requires.get(u.name) ?? [])],
    requisite: [...s.requisite],
    wants: [...s.wants, ...u.dirWants, ...(ctx.installed.wants.get(u.name) ?? [])],
    bindsTo: [...s.bindsTo],
    partOf: [...s.partOf],
    conflicts: [...s.conflicts],
    after: [...s.after],
    before: [...s.before],
    onFailure: [...s.onFailure],
    onSuccess: [...s.onSuccess],
  };
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
    for (const w of [...d.wants, ...d.requires]) if (!d.before.includes(w)) d.after.push(w);
  }
  const uniq = (a: string[]) => [...new Set(a)].filter((x) => x !== u.name);
  return {
    requires: uniq(d.requires), requisite: uniq(d.requisite), wants: uniq(d.wants), bindsTo: uniq(d.bindsTo),
    partOf: uniq(d.partOf), conflicts: uniq(d.conflicts), after: uniq(d.after), before: uniq(d.before),
    onFailure: uniq(d.onFailure), onSuccess: uniq(d.onSuccess),
  };
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
