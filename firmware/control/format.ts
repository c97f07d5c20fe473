/** Human-readable output of the control commands, in the manner of systemctl. Pure. */
import type { ListenRow } from "../runtime/unit-runtime.ts";
import { formatRecord, type LogRecord } from "../core/log.ts";
import { signalName } from "../sys/constants.ts";
import type { UnitInfo } from "./unit-info.ts";
import type { Property } from "./unit-properties.ts";
import { renderShow, type ShowOptions } from "./show-select.ts";
import { escapeControl } from "./systemd-format.ts";
import { unitPatternRegExp } from "../unit/fnmatch.ts";

export interface DaemonSummary {
  pid: number;
  version: string;
  startedMs: number;
  state: "running" | "degraded" | "starting" | "stopping";
  units: number;
  failed: string[];
  jobs: number;
  controlPath: string;
  cgroup: string | null;
}

export interface UnitRow {
  unit: string;
  load: string;
  active: string;
  sub: string;
  description: string;
}

/** A row of `list-sockets`: what a unit's listening() reports. */
export type SocketRow = ListenRow;

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function formatAge(ms: number, nowMs: number): string {
  let s = Math.max(0, Math.floor((nowMs - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  const parts: string[] = [];
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}min`);
  if (!d && s) parts.push(`${s}s`);
  return `${parts.join(" ")} ago`;
}

function stateBullet(active: string): string {
  return active === "failed" ? "×" : active === "active" || active === "reloading" ? "●" : "○";
}

export function formatUnitStatus(u: UnitInfo, nowMs: number): string {
  const out: string[] = [];
  out.push(`${stateBullet(u.activeState)} ${u.unit} - ${escapeControl(u.description)}`);
  const path = u.fragmentPath ? `${u.fragmentPath}` : "";
  out.push(`     Loaded: ${u.loadState}${path ? ` (${path})` : ""}`);
  if (u.dropinPaths.length) out.push(`    Drop-In: ${u.dropinPaths.join("\n             ")}`);
  const since = u.sinceMs !== null ? ` since ${new Date(u.sinceMs).toISOString()}; ${formatAge(u.sinceMs, nowMs)}` : "";
  const result = u.activeState === "failed" ? ` (Result: ${u.result})` : "";
  out.push(`     Active: ${u.activeState} (${u.subState})${result}${since}`);
  if (u.triggeredBy.length) out.push(`TriggeredBy: ${u.triggeredBy.join(" ")}`);
  if (u.triggers.length) out.push(`   Triggers: ${u.triggers.join(" ")}`);
  if (u.socket) {
    u.socket.listen.forEach((l, i) => out.push(`${i === 0 ? "     Listen:" : "            "} ${l.address} (${l.type})`));
    if (u.socket.accept) out.push(`   Accepted: ${u.socket.nAccepted}; Connected: ${u.socket.nConnections}; Refused: ${u.socket.nRefused}`);
  }
  if (u.service) {
    const s = u.service;
    if (s.statusText) out.push(`     Status: "${escapeControl(s.statusText)}"`);
    if (s.mainPid !== null) out.push(`   Main PID: ${s.mainPid}`);
    else if (s.execMain) {
      const how = s.execMain.signal !== null ? `killed, signal=${signalName(s.execMain.signal).replace(/^SIG/, "")}` : `exited, status=${s.execMain.code}`;
      out.push(`    Process: (code=${how})`);
    }
    if (s.controlPid !== null) out.push(`Control PID: ${s.controlPid}`);
    if (s.nRestarts) out.push(`   Restarts: ${s.nRestarts}`);
    if (s.fdStore.length) out.push(`    FDStore: ${s.fdStore.join(" ")}`);
    if (s.tasks.length) out.push(`      Tasks: ${s.tasks.length}${s.cgroup ? ` (cgroup ${s.cgroup})` : ""}`);
  }
  return out.join("\n") + "\n";
}

export function formatSummary(d: DaemonSummary, nowMs: number): string {
  const bullet = d.state === "running" ? "●" : "×";
  const lines = [
    `${bullet} bunit ${d.version}, pid ${d.pid}`,
    `    State: ${d.state}`,
    `     Jobs: ${d.jobs} queued`,
    `   Failed: ${d.failed.length} units${d.failed.length ? ` (${d.failed.join(" ")})` : ""}`,
    `    Units: ${d.units} loaded`,
    `    Since: ${new Date(d.startedMs).toISOString()}; ${formatAge(d.startedMs, nowMs)}`,
    `  Control: ${d.controlPath}`,
  ];
  if (d.cgroup) lines.push(`   CGroup: ${d.cgroup}`);
  return lines.join("\n") + "\n";
}

export function formatUnitRows(rows: UnitRow[]): string {
  const body = table(
    ["UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"],
    rows.map((r) => [r.unit, r.load, r.active, r.sub, r.description]),
  );
  return `${body}\n${rows.length} units listed.\n`;
}

export function formatSocketRows(rows: SocketRow[], legend = true): string {
  const cells = rows.map((r) => [r.listen, r.type, r.unit, r.state, String(r.accepted), r.activates]);
  if (!legend) return cells.length ? table(["", "", "", "", "", ""], cells).split("\n").slice(1).join("\n").replace(/\n*$/, "\n") : "";
  const body = table(["LISTEN", "TYPE", "UNIT", "STATE", "ACCEPTED", "ACTIVATES"], cells);
  return `${body}\n${rows.length} sockets listed.\n`;
}

/**
 * systemctl list-sockets PATTERN... --state=STATE: rows whose socket or activated unit matches a
 * pattern (a glob), and whose state is one of those asked; no pattern or state: every row.
 */
export function selectSocketRows(rows: SocketRow[], patterns: readonly string[], states: readonly string[]): SocketRow[] {
  const res = patterns.map(unitPatternRegExp);
  return rows.filter(
    (r) => (res.length === 0 || res.some((re) => re.test(r.unit) || re.test(r.activates))) && (states.length === 0 || states.includes(r.state)),
  );
}

/** `show`: Key=Value lines as systemctl prints them (see show-select.ts). */
export function formatShow(units: readonly (readonly Property[])[], o: ShowOptions = { properties: null, all: false, value: false }): string {
  return renderShow(units, o);
}

/** Log records for a terminal: what services wrote has its control characters escaped. */
export function formatLogLines(records: LogRecord[]): string {
  return records.map((r) => formatRecord({ ...r, message: escapeControl(r.message) }) + "\n").join("");
}

/** list-dependencies: the tree as systemctl draws it. */
export function formatDependencyTree(root: { unit: string; children: DependencyLike[] }): string {
  const lines = [root.unit];
  const walk = (nodes: DependencyLike[], prefix: string) => {
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      lines.push(`${prefix}${last ? "└─" : "├─"}${n.unit}`);
      walk(n.children, prefix + (last ? "  " : "│ "));
    });
  };
  walk(root.children, "");
  return lines.join("\n") + "\n";
}
interface DependencyLike {
  unit: string;
  children: DependencyLike[];
}

/** list-jobs as systemctl prints it. */
export function formatJobRows(jobs: readonly { id: number; unit: string; type: string; state: string }[]): string {
  if (jobs.length === 0) return "No jobs running.\n";
  const body = table(
    ["JOB", "UNIT", "TYPE", "STATE"],
    jobs.map((j) => [String(j.id), j.unit, j.type, j.state]),
  );
  return `${body}\n${jobs.length} jobs listed.\n`;
}
