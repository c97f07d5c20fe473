/**
 * The daemon's side of each control command: authorization, then a question to the running
 * system. The system is an interface, so this dispatch is tested without a daemon.
 *
 * Read model: state (status, list-units, list-sockets, show) for everyone; what services said
 * and hold (logs, the log lines of `status UNIT`, `cat`, Environment=) for root and the
 * log-reader group; changes for root and the control group.
 */
import type { LogRecord } from "../core/log.ts";
import type { StoredFdRow } from "./fdstore-format.ts";
import type { LogRing } from "../core/log-ring.ts";
import { mayMutate, mayRead, type Caller } from "./auth.ts";
import type { DaemonSummary, SocketRow, UnitRow } from "./format.ts";
import { MUTATING, type ControlReply, type ControlRequest } from "./protocol.ts";
import { EncodedLine, type HandlerResult } from "./server.ts";
import type { UnitInfo } from "./unit-info.ts";
import { notFoundProperties, type Property } from "./unit-properties.ts";
import { expandNames, jobNameProblem } from "./unit-names.ts";
import { errorText } from "../core/errors.ts";
import { DEFAULT_CLEAN, isCleanWhat, type CleanWhat } from "./clean.ts";

/** reload-or-restart: reload when the unit can, else restart; reload-or-try-restart: the same, nothing for an inactive unit. */
export type JobType = "start" | "stop" | "restart" | "reload" | "reload-or-restart" | "reload-or-try-restart";

export interface JobRow {
  id: number;
  unit: string;
  type: string;
  state: "waiting" | "running";
}

export type JobOutcome = "done" | "failed" | "canceled" | "timeout" | "dependency" | "skipped" | "invalid";

export interface ReloadReport {
  added: string[];
  changed: string[];
  removed: string[];
  /** Units whose new configuration has errors: they keep running on the old one. */
  rejected: { unit: string; errors: string[] }[];
  /** Sockets whose ports changed: closed and opened again. */
  reopened: string[];
}

export interface ControlledSystem {
  summary(): DaemonSummary;
  /** null: no such unit. Looking up creates nothing. */
  info(name: string): UnitInfo | null;
  /** `show`: properties under systemd's names; null: no such unit. reader: Environment= included. */
  properties(name: string, reader: boolean): Property[] | null;
  /** Every unit name a glob may match: running units and unit files. */
  names(): string[];
  units(all: boolean): UnitRow[];
  sockets(all: boolean): SocketRow[];
  job(name: string, type: JobType): Promise<JobOutcome>;
  /**
   * The jobs of one command (systemctl start A B): one transaction, every job queued before any
   * runs, so After=/Before= between the units apply; several restarts stop all, then start all.
   */
  jobs(names: string[], type: JobType): Promise<JobOutcome[]>;
  reloadUnits(): Promise<ReloadReport>;
  /** Removes the unit's directories of these kinds; an error message when it cannot (the unit runs). */
  clean(name: string, what: readonly CleanWhat[]): string | null;
  /** `fdstore`: the service's stored fds, described; a message when the unit has no store. */
  storedFds(name: string): StoredFdRow[] | string;
  /** Queued and running jobs (systemctl list-jobs). */
  jobList(): JobRow[];
  /** Requires=, Requisite=, Wants=, BindsTo= of a unit, as configured; [] for an unknown one. */
  dependencies(name: string): string[];
  /** The unit file and its drop-ins, each preceded by "# PATH". */
  catUnit(name: string): string | null;
  ring: LogRing;
  /**
   * Holds new connections, waits until no job runs and no unit is in transition, then schedules
   * the replacement of the daemon process (after this reply); an error message when it cannot.
   */
  reexec(): Promise<string | null>;
  controlGid: number | null;
  /** The log-reader group (`--log-group`); null: root only. */
  logGid: number | null;
}

export interface DependencyNode {
  unit: string;
  children: DependencyNode[];
}

/**
 * systemctl list-dependencies: the unit and what it pulls in, depth first, each unit expanded
 * once on a path (no cycles); with types, only units of those types (and what they pull in).
 */
export function dependencyTree(root: string, deps: (name: string) => string[], types: readonly string[]): DependencyNode {
  const shown = (n: string) => types.length === 0 || types.includes(n.slice(n.lastIndexOf(".") + 1));
  const walk = (unit: string, path: Set<string>): DependencyNode => {
    const children: DependencyNode[] = [];
    for (const d of [...new Set(deps(unit))].sort()) {
      if (path.has(d) || !shown(d)) continue;
      children.push(walk(d, new Set([...path, d])));
    }
    return { unit, children };
  };
  return walk(root, new Set([root]));
}

/** Each followed record is encoded once for all its followers (and forgotten with the record). */
const encodedRecords = new WeakMap<LogRecord, EncodedLine>();
function encodedRecord(r: LogRecord): EncodedLine {
  let e = encodedRecords.get(r);
  if (!e) {
    e = new EncodedLine({ record: r });
    encodedRecords.set(r, e);
  }
  return e;
}

const fail = (error: string, code?: number): ControlReply => (code === undefined ? { ok: false, error } : { ok: false, error, code });
const ok = (data: unknown): ControlReply => ({ ok: true, data });

/** systemctl's exit statuses: 4 no such unit (LSB "unknown"), 5 a job could not be queued. */
const EXIT_NO_UNIT = 4;
const EXIT_NOT_QUEUED = 5;

const READERS_ONLY = "Access denied: reading unit files and logs needs root or the log-reader group";

export function controlHandler(sys: ControlledSystem) {
  const handle = async (req: ControlRequest, caller: Caller): Promise<HandlerResult> => {
    if (MUTATING.has(req.command) && !mayMutate(caller, sys.controlGid)) {
      return fail(`Access denied: ${req.command} needs root or the control group (caller uid ${caller.cred.uid}, pid ${caller.cred.pid})`);
    }
    const reader = mayRead(caller, sys.logGid);
    const expand = () => {
      const e = expandNames(req.units, () => sys.names());
      if (e.invalid.length) throw new Error(e.invalid.join("\n"));
      return e.names;
    };
    const needUnits = () => {
      if (req.units.length === 0) throw new Error(`${req.command} needs at least one unit name`);
      return expand();
    };
    switch (req.command) {
      case "status": {
        if (req.units.length === 0) return ok({ summary: sys.summary() });
        const infos: UnitInfo[] = [];
        for (const u of expand()) {
          const i = sys.info(u);
          if (!i) return fail(`Unit ${u} could not be found.`, EXIT_NO_UNIT);
          infos.push(i);
        }
        if (!reader) return ok({ units: infos, logs: {}, logsHidden: true });
        const logs: Record<string, LogRecord[]> = {};
        for (const i of infos) logs[i.unit] = sys.ring.query({ unit: i.unit, lines: req.lines ?? 10 });
        return ok({ units: infos, logs });
      }
      case "show": {
        const units: Property[][] = [];
        for (const u of needUnits()) units.push(sys.properties(u, reader) ?? notFoundProperties(u));
        return ok({ properties: units });
      }
      case "list-units":
        return ok({ units: sys.units(req.all === true) });
      case "list-sockets":
        return ok({ sockets: sys.sockets(req.all === true) });
      case "start":
      case "stop":
      case "restart":
      case "reload-unit":
      case "reload-or-restart":
      case "reload-or-try-restart": {
        const type: JobType = req.command === "reload-unit" ? "reload" : req.command;
        const names = needUnits();
        if (names.length === 0) return fail(`No unit matches ${req.units.join(" ")}.`, EXIT_NO_UNIT);
        for (const u of names) {
          const problem = jobNameProblem(u);
          if (problem) return fail(`Failed to ${type} ${u}: ${problem}`, EXIT_NOT_QUEUED);
          if (!sys.info(u)) return fail(`Failed to ${type} ${u}: Unit ${u} not found.`, EXIT_NOT_QUEUED);
        }
        // One command, one transaction (systemctl start A B): After=/Before= between the units apply.
        const outcomes = sys.jobs(names, type);
        if (req.noBlock) {
          // Queued now; their ends are in the log and in `bunit status`.
          outcomes.catch(() => {});
          return ok({ jobs: names.map((unit) => ({ unit, result: "queued" })) });
        }
        const done = await outcomes;
        const results = names.map((unit, i) => ({ unit, result: done[i]! }));
        const bad = results.filter((r) => r.result !== "done");
        if (bad.length)
          return fail(bad.map((r) => `Job for ${r.unit} ${type} ended: ${r.result}. See "bunit status ${r.unit}" and "bunit logs ${r.unit}".`).join("\n"), 1);
        return ok({ jobs: results });
      }
      case "reload":
        return ok({ reload: await sys.reloadUnits() });
      case "clean": {
        const what = req.what ?? [...DEFAULT_CLEAN];
        const bad = what.find((w) => !isCleanWhat(w));
        if (bad !== undefined) return fail(`Invalid clean resource type "${bad}" (configuration, state, cache, logs, runtime, fdstore, all).`, 1);
        for (const u of needUnits()) {
          if (!sys.info(u)) return fail(`Failed to clean ${u}: Unit ${u} not found.`, EXIT_NO_UNIT);
          const err = sys.clean(u, what as CleanWhat[]);
          if (err) return fail(`Failed to clean ${u}: ${err}`, 1);
        }
        return ok({});
      }
      case "fdstore": {
        const stores: { unit: string; fds: StoredFdRow[] }[] = [];
        for (const u of needUnits()) {
          const fds = sys.storedFds(u);
          if (typeof fds === "string") return fail(fds, 1);
          stores.push({ unit: u, fds });
        }
        return ok({ stores });
      }
      case "list-jobs":
        return ok({ jobs: sys.jobList() });
      case "list-dependencies": {
        const names = req.units.length ? expand() : ["default.target"];
        if (names.length !== 1) throw new Error("list-dependencies takes one unit name");
        return ok({ tree: dependencyTree(names[0]!, (n) => sys.dependencies(n), req.types ?? []) });
      }
      case "cat": {
        if (!reader) return fail(READERS_ONLY, 4);
        const texts: string[] = [];
        for (const u of needUnits()) {
          const t = sys.catUnit(u);
          if (t === null) return fail(`No files found for ${u}.`, 1);
          texts.push(t);
        }
        return ok({ text: texts.join("\n") });
      }
      case "logs": {
        if (!reader) return fail(READERS_ONLY, 4);
        let unit: string | undefined;
        if (req.units.length) {
          const names = expand();
          if (names.length !== 1) throw new Error("logs takes one unit name");
          unit = names[0];
        }
        const q = { ...(unit !== undefined ? { unit } : {}), ...(req.lines !== undefined ? { lines: req.lines } : {}) };
        const records = sys.ring.query(q);
        if (!req.follow) return ok({ records, dropped: sys.ring.dropped });
        return {
          first: ok({ records, dropped: sys.ring.dropped }),
          stream: (send) =>
            sys.ring.follow((r) => {
              if (q.unit === undefined || r.unit === q.unit) send(encodedRecord(r));
            }),
        };
      }
      case "daemon-reexec": {
        const err = await sys.reexec();
        return err === null ? ok({ reexec: sys.summary().pid }) : fail(err);
      }
    }
  };
  return async (req: ControlRequest, caller: Caller): Promise<HandlerResult> => {
    try {
      return await handle(req, caller);
    } catch (e) {
      return fail(errorText(e));
    }
  };
}
