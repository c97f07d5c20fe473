/**
 * The daemon's side of each control command: authorization, then a question to the running
 * system. The system is an interface, so this dispatch is tested without a daemon.
 */
import type { LogRecord } from "../core/log.ts";
import type { LogRing } from "../core/log-ring.ts";
import { mayMutate, type Caller } from "./auth.ts";
import type { DaemonSummary, SocketRow, UnitRow } from "./format.ts";
import { MUTATING, type ControlReply, type ControlRequest } from "./protocol.ts";
import type { HandlerResult } from "./server.ts";
import type { UnitInfo } from "./unit-info.ts";

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
  /** null: no such unit. */
  info(name: string): UnitInfo | null;
  units(all: boolean): UnitRow[];
  sockets(all: boolean): SocketRow[];
  job(name: string, type: "start" | "stop" | "restart" | "reload"): Promise<JobOutcome>;
  reloadUnits(): Promise<ReloadReport>;
  /** The unit file and its drop-ins, each preceded by "# PATH". */
  catUnit(name: string): string | null;
  ring: LogRing;
  /**
   * Holds new connections, waits until no job runs and no unit is in transition, then schedules
   * the replacement of the daemon process (after this reply); an error message when it cannot.
   */
  reexec(): Promise<string | null>;
  controlGid: number | null;
}

const fail = (error: string): ControlReply => ({ ok: false, error });
const ok = (data: unknown): ControlReply => ({ ok: true, data });

export function controlHandler(sys: ControlledSystem) {
  const handle = async (req: ControlRequest, caller: Caller): Promise<HandlerResult> => {
    if (MUTATING.has(req.command) && !mayMutate(caller, sys.controlGid)) {
      return fail(`Access denied: ${req.command} needs root or the control group (caller uid ${caller.cred.uid}, pid ${caller.cred.pid})`);
    }
    const needUnits = () => {
      if (req.units.length === 0) throw new Error(`${req.command} needs at least one unit name`);
      return req.units;
    };
    switch (req.command) {
      case "status": {
        if (req.units.length === 0) return ok({ summary: sys.summary() });
        const infos: UnitInfo[] = [];
        for (const u of req.units) {
          const i = sys.info(u);
          if (!i) return fail(`Unit ${u} could not be found.`);
          infos.push(i);
        }
        const logs: Record<string, LogRecord[]> = {};
        for (const i of infos) logs[i.unit] = sys.ring.query({ unit: i.unit, lines: req.lines ?? 10 });
        return ok({ units: infos, logs });
      }
      case "show": {
        const infos: UnitInfo[] = [];
        for (const u of needUnits()) {
          const i = sys.info(u);
          if (!i) return fail(`Unit ${u} could not be found.`);
          infos.push(i);
        }
        return ok({ units: infos });
      }
      case "list-units":
        return ok({ units: sys.units(req.all === true) });
      case "list-sockets":
        return ok({ sockets: sys.sockets(req.all === true) });
      case "start":
      case "stop":
      case "restart":
      case "reload-unit": {
        const type = req.command === "reload-unit" ? "reload" : req.command;
        const names = needUnits();
        for (const u of names) if (!sys.info(u)) return fail(`Unit ${u} could not be found.`);
        const results = await Promise.all(names.map(async (u) => ({ unit: u, result: await sys.job(u, type) })));
        const bad = results.filter((r) => r.result !== "done");
        if (bad.length) return fail(bad.map((r) => `Job for ${r.unit} ${type} ended: ${r.result}. See "bunit status ${r.unit}" and "bunit logs ${r.unit}".`).join("\n"));
        return ok({ jobs: results });
      }
      case "reload":
        return ok({ reload: await sys.reloadUnits() });
      case "cat": {
        const texts: string[] = [];
        for (const u of needUnits()) {
          const t = sys.catUnit(u);
          if (t === null) return fail(`No files found for ${u}.`);
          texts.push(t);
        }
        return ok({ text: texts.join("\n") });
      }
      case "logs": {
        const q = { ...(req.units[0] ? { unit: req.units[0] } : {}), ...(req.lines !== undefined ? { lines: req.lines } : {}) };
        const records = sys.ring.query(q);
        if (!req.follow) return ok({ records, dropped: sys.ring.dropped });
        return {
          first: ok({ records, dropped: sys.ring.dropped }),
          stream: (send) => sys.ring.follow((r) => {
            if (q.unit === undefined || r.unit === q.unit) send({ record: r });
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
      return fail((e as Error).message);
    }
  };
}
