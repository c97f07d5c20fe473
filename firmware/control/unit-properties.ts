/**
 * `bunit show`: a unit's properties under systemd's D-Bus names, with values already in
 * systemctl's printed form (time spans, timestamps, octal modes, yes/no, Exec*= records).
 * Multi-valued properties (Listen=, each Exec*= command) are one entry per value; an empty
 * value is shown only with --all or when asked for by name (see show-select.ts). Pure.
 */
import type { RuntimeFacts, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import type { ExecCommand } from "../unit/exec-command.ts";
import { effectiveLimits } from "../unit/socket-config.ts";
import { effectiveType } from "../unit/service-config.ts";
import { listenInfo } from "../socket/listen-info.ts";
import { formatExecCommand, formatTimespan, formatTimestamp, octal, yesNo } from "./systemd-format.ts";

export type Property = [name: string, value: string];

/**
 * Runtime facts the units do not report yet (requested from the unit runtime, see
 * /work/coord/requests-control.md); read when present, derived or "unknown" meanwhile.
 */
export interface PendingFacts {
  /** Monotonic µs of the last transitions; 0: never. */
  timestamps?: { activeEnter: number; activeExit: number; inactiveEnter: number; inactiveExit: number };
  service?: { execMainPid?: number };
  socket?: { controlPid?: number | null };
}

export interface PropertyContext {
  /** Monotonic µs to wall-clock ms. */
  wallMs(monoUsec: number): number;
  triggers: string[];
  triggeredBy: string[];
  /** enabled, static, disabled, ... (UnitFileState=). */
  unitFileState: string;
  needDaemonReload: boolean;
  /** Environment= is shown to root and the log-reader group only. */
  showEnvironment: boolean;
}

const ACTIVE = new Set(["active", "reloading"]);

/** Active/Inactive Enter/Exit timestamps: the runtime's when it reports them, else what the last state change tells. */
function timestamps(
  rt: UnitRuntime | null,
  facts: RuntimeFacts & PendingFacts,
): { activeEnter: number; activeExit: number; inactiveEnter: number; inactiveExit: number } {
  if (facts.timestamps) return facts.timestamps;
  const none = { activeEnter: 0, activeExit: 0, inactiveEnter: 0, inactiveExit: 0 };
  if (!rt || !rt.stateChangeTime) return none;
  const a = rt.activeState();
  if (ACTIVE.has(a)) return { ...none, activeEnter: rt.stateChangeTime };
  if (a === "inactive" || a === "failed") return { ...none, inactiveEnter: rt.stateChangeTime };
  return none;
}

function execLines(name: string, cmds: readonly ExecCommand[]): Property[] {
  return cmds.map((c) => [name, formatExecCommand(c)]);
}

const ts = (ctx: PropertyContext, mono: number): string => (mono ? formatTimestamp(ctx.wallMs(mono)) : "");

export function unitProperties(cfg: LoadedUnit, rt: UnitRuntime | null, ctx: PropertyContext): Property[] {
  const facts = (rt?.facts() ?? {}) as RuntimeFacts & PendingFacts;
  const p: Property[] = [];
  if (cfg.service) {
    const c = cfg.service;
    const s = facts.service;
    const main = s?.mainPid ?? 0;
    const execMain = s?.execMain ?? null;
    p.push(
      ["Type", effectiveType(c)],
      ["ExitType", c.exitType],
      ["Restart", c.restart],
      ["NotifyAccess", c.notifyAccess ?? (effectiveType(c).startsWith("notify") ? "main" : "none")],
      ["RestartUSec", formatTimespan(c.restartUsec)],
      ["TimeoutStartUSec", formatTimespan(c.timeoutStartUsec)],
      ["TimeoutStopUSec", formatTimespan(c.timeoutStopUsec)],
      ["TimeoutAbortUSec", formatTimespan(c.timeoutAbortUsec ?? c.timeoutStopUsec)],
      ["RuntimeMaxUSec", formatTimespan(c.runtimeMaxUsec)],
      ["WatchdogUSec", formatTimespan(c.watchdogUsec)],
      ["RemainAfterExit", yesNo(c.remainAfterExit)],
      ["GuessMainPID", yesNo(c.guessMainPID)],
      ["PIDFile", c.pidFile ?? ""],
      ["MainPID", String(main)],
      ["ControlPID", String(s?.controlPid ?? 0)],
      ["StatusText", s?.statusText ?? ""],
      ["Result", rt?.result ?? "success"],
      ["NRestarts", String(s?.nRestarts ?? 0)],
      ["InvocationID", s?.invocationId ?? ""],
      ["ExecMainPID", String(s?.execMainPid ?? main)],
      // CLD_EXITED 1, CLD_KILLED 2; 0 while nothing has exited.
      ["ExecMainCode", execMain ? (execMain.signal !== null ? "2" : "1") : "0"],
      ["ExecMainStatus", execMain ? String(execMain.signal ?? execMain.code ?? 0) : "0"],
      ...execLines("ExecCondition", c.execCondition),
      ...execLines("ExecStartPre", c.execStartPre),
      ...execLines("ExecStart", c.execStart),
      ...execLines("ExecStartPost", c.execStartPost),
      ...execLines("ExecReload", c.execReload),
      ...execLines("ExecStop", c.execStop),
      ...execLines("ExecStopPost", c.execStopPost),
      ["ControlGroup", s?.cgroup ?? ""],
      ["FileDescriptorStoreMax", String(c.fileDescriptorStoreMax)],
      ["NFileDescriptorStore", String(s?.fdStore.length ?? 0)],
      ["Sockets", c.sockets.join(" ")],
      ["User", c.exec.user ?? ""],
      ["Group", c.exec.group ?? ""],
    );
    if (ctx.showEnvironment) p.push(["Environment", c.exec.environment.map(([k, v]) => `${k}=${v}`).join(" ")]);
  }
  if (cfg.socket) {
    const c = cfg.socket;
    const k = facts.socket;
    const l = effectiveLimits(c);
    p.push(
      ["BindIPv6Only", c.bindIPv6Only],
      ["Backlog", String(c.backlog)],
      ["BindToDevice", c.bindToDevice ?? ""],
      ["SocketUser", c.socketUser ?? ""],
      ["SocketGroup", c.socketGroup ?? ""],
      ["SocketMode", octal(c.socketMode)],
      ["DirectoryMode", octal(c.directoryMode)],
      ["Accept", yesNo(c.accept)],
      ["FlushPending", yesNo(c.flushPending)],
      ["Writable", yesNo(c.writable)],
      ["KeepAlive", yesNo(c.keepAlive)],
      ["NoDelay", yesNo(c.noDelay)],
      ["MaxConnections", String(c.maxConnections)],
      ["MaxConnectionsPerSource", String(c.maxConnectionsPerSource)],
      ["NAccepted", String(k?.nAccepted ?? 0)],
      ["NConnections", String(k?.nConnections ?? 0)],
      ["NRefused", String(k?.nRefused ?? 0)],
      ["FileDescriptorName", c.fileDescriptorName ?? cfg.name],
      ["RemoveOnStop", yesNo(c.removeOnStop)],
      ["Symlinks", c.symlinks.join(" ")],
      ["TriggerLimitIntervalUSec", formatTimespan(l.triggerIntervalUsec)],
      ["TriggerLimitBurst", String(l.triggerBurst)],
      ["PollLimitIntervalUSec", formatTimespan(l.pollIntervalUsec)],
      ["PollLimitBurst", String(l.pollBurst)],
      ["DeferTrigger", c.deferTrigger],
      ["DeferTriggerMaxUSec", formatTimespan(c.deferTriggerMaxUsec)],
      ["PassFileDescriptorsToExec", yesNo(c.passFileDescriptorsToExec)],
      ["TimeoutUSec", formatTimespan(c.timeoutUsec)],
      ["ControlPID", String(k?.controlPid ?? 0)],
      ["Result", rt?.result ?? "success"],
      ...c.listen.map((port): Property => {
        const i = listenInfo(port);
        return ["Listen", `${i.address} (${i.type})`];
      }),
      ...execLines("ExecStartPre", c.execStartPre),
      ...execLines("ExecStartPost", c.execStartPost),
      ...execLines("ExecStopPre", c.execStopPre),
      ...execLines("ExecStopPost", c.execStopPost),
      ["User", c.exec.user ?? ""],
      ["Group", c.exec.group ?? ""],
    );
  }
  const u = cfg.unit;
  const t = timestamps(rt, facts);
  const change = rt?.stateChangeTime ?? 0;
  p.push(
    ["Id", cfg.name],
    ["Names", [cfg.name, ...cfg.aliases.filter((a) => a !== cfg.name)].join(" ")],
    ["Requires", u.requires.join(" ")],
    ["Requisite", u.requisite.join(" ")],
    ["Wants", [...u.wants, ...cfg.dirWants].join(" ")],
    ["BindsTo", u.bindsTo.join(" ")],
    ["PartOf", u.partOf.join(" ")],
    ["Conflicts", u.conflicts.join(" ")],
    ["Before", u.before.join(" ")],
    ["After", u.after.join(" ")],
    ["OnFailure", u.onFailure.join(" ")],
    ["Triggers", ctx.triggers.join(" ")],
    ["TriggeredBy", ctx.triggeredBy.join(" ")],
    ["Description", u.description ?? cfg.name],
    ["LoadState", rt ? "loaded" : cfg.loadState],
    ["ActiveState", rt?.activeState() ?? "inactive"],
    ["SubState", rt?.subState() ?? "dead"],
    ["FragmentPath", cfg.fragmentPath ?? ""],
    ["DropInPaths", cfg.dropinPaths.join(" ")],
    ["UnitFileState", ctx.unitFileState],
    ["StateChangeTimestamp", ts(ctx, change)],
    ["StateChangeTimestampMonotonic", String(change)],
    ["InactiveExitTimestamp", ts(ctx, t.inactiveExit)],
    ["InactiveExitTimestampMonotonic", String(t.inactiveExit)],
    ["ActiveEnterTimestamp", ts(ctx, t.activeEnter)],
    ["ActiveEnterTimestampMonotonic", String(t.activeEnter)],
    ["ActiveExitTimestamp", ts(ctx, t.activeExit)],
    ["ActiveExitTimestampMonotonic", String(t.activeExit)],
    ["InactiveEnterTimestamp", ts(ctx, t.inactiveEnter)],
    ["InactiveEnterTimestampMonotonic", String(t.inactiveEnter)],
    ["CanStart", yesNo(!u.refuseManualStart)],
    ["CanStop", yesNo(!u.refuseManualStop)],
    ["CanReload", yesNo(!!cfg.service && (cfg.service.execReload.length > 0 || cfg.service.reloadSignal !== undefined))],
    ["RefuseManualStart", yesNo(u.refuseManualStart)],
    ["RefuseManualStop", yesNo(u.refuseManualStop)],
    ["StopWhenUnneeded", yesNo(u.stopWhenUnneeded)],
    ["DefaultDependencies", yesNo(u.defaultDependencies)],
    ["NeedDaemonReload", yesNo(ctx.needDaemonReload)],
  );
  return p;
}

/** What systemctl show prints for a name no unit file answers (exit status 0). */
export function notFoundProperties(name: string): Property[] {
  return [
    ["Id", name],
    ["Names", name],
    ["Description", name],
    ["LoadState", "not-found"],
    ["ActiveState", "inactive"],
    ["SubState", "dead"],
    ["FragmentPath", ""],
    ["UnitFileState", ""],
    ["StateChangeTimestampMonotonic", "0"],
    ["ActiveEnterTimestampMonotonic", "0"],
    ["InactiveEnterTimestampMonotonic", "0"],
    ["NeedDaemonReload", "no"],
    ["LoadError", `org.freedesktop.systemd1.NoSuchUnit "Unit ${name} not found."`],
  ];
}

/**
 * UnitFileState= from the unit file alone, until enablement answers it: "enabled" when it
 * has an [Install] section (bunit starts those at boot), "static" when not, "" for none.
 */
export function unitFileStateOf(cfg: LoadedUnit): string {
  if (cfg.loadState === "not-found" || !cfg.fragmentPath) return "";
  const i = cfg.install;
  const installs = i.wantedBy.length + i.requiredBy.length + i.upheldBy.length + i.alias.length + i.also.length > 0;
  if (cfg.id.instance === "" && installs) return "indirect";
  return installs ? "enabled" : "static";
}
