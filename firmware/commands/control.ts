/**
 * The systemctl-like commands: `bunit status|list-units|list-sockets|start|stop|restart|
 * reload|cat|show|logs|daemon-reexec|is-active|is-failed|is-enabled`, talking to the daemon over
 * its control socket (see control/cli-help.ts for each command's options).
 */
import { createConnection } from "node:net";
import type { LogRecord } from "../core/log.ts";
import {
  formatLogLines,
  formatShow,
  formatDependencyTree,
  formatJobRows,
  formatSocketRows,
  selectSocketRows,
  formatSummary,
  formatUnitRows,
  formatUnitStatus,
  type DaemonSummary,
  type SocketRow,
  type UnitRow,
} from "../control/format.ts";
import { DEFAULT_CONTROL_PATH, type ControlReply, type ControlRequest, type FollowLine } from "../control/protocol.ts";
import type { ReloadReport } from "../control/handlers.ts";
import type { UnitInfo } from "../control/unit-info.ts";
import type { Property } from "../control/unit-properties.ts";
import { propertyValue, splitPropertyArgs, type ShowOptions } from "../control/show-select.ts";
import { verbHelp, verbTakes, type ControlVerb } from "../control/cli-help.ts";
import { formatStoredFds, type StoredFdRow } from "../control/fdstore-format.ts";
import { errorText } from "../core/errors.ts";

export interface ControlArgs {
  verb: ControlVerb;
  request: ControlRequest;
  json: boolean;
  socket: string;
  show: ShowOptions;
  quiet: boolean;
  help: boolean;
  /** list-sockets: the header and footer (--legend=no drops them), the states asked (--state=). */
  legend: boolean;
  states: string[];
}

/** The protocol command a verb asks (is-* read `show` properties; is-failed alone the summary). */
function requestCommand(verb: ControlVerb, units: number): ControlRequest["command"] {
  switch (verb) {
    case "is-active":
    case "is-enabled":
      return "show";
    case "is-failed":
      return units ? "show" : "status";
    case "reload":
      return units ? "reload-unit" : "reload";
    default:
      return verb;
  }
}

export function parseControlArgs(verb: ControlVerb, argv: string[], env: Record<string, string | undefined> = process.env): ControlArgs {
  const out: ControlArgs = {
    verb,
    request: { command: "status", units: [] },
    json: false,
    socket: env.BUNIT_CONTROL ?? DEFAULT_CONTROL_PATH,
    show: { properties: null, all: false, value: false },
    quiet: false,
    help: false,
    legend: true,
    states: [],
  };
  const props: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let inline: string | undefined;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    if (eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a.startsWith("-") && a !== "-") {
      if (!verbTakes(verb, a)) throw new Error(`unknown option ${a} (bunit ${verb} --help lists the options)`);
    } else {
      out.request.units.push(a);
      continue;
    }
    if (a === "-h" || a === "--help") out.help = true;
    else if (a === "--json") out.json = true;
    else if (a === "--socket") out.socket = next();
    else if (a === "--all" || a === "-a") {
      out.request.all = true;
      out.show.all = true;
    } else if (a === "--follow" || a === "-f") out.request.follow = true;
    else if (a === "--no-block") out.request.noBlock = true;
    else if (a === "--quiet" || a === "-q") out.quiet = true;
    else if (a === "--value") out.show.value = true;
    else if (a === "--legend") out.legend = !["no", "false", "0", "off"].includes(inline ?? "yes");
    else if (a === "--show-types") {
      // the TYPE column is always shown
    } else if (a === "--what") {
      out.request.what = [
        ...(out.request.what ?? []),
        ...next()
          .split(",")
          .filter((x) => x),
      ];
    } else if (a === "--type" || a === "-t") {
      out.request.types = [
        ...(out.request.types ?? []),
        ...next()
          .split(",")
          .filter((x) => x),
      ];
    } else if (a === "--state") {
      out.states.push(
        ...next()
          .split(",")
          .filter((x) => x),
      );
      out.request.all = true;
    } else if (a === "--property" || a === "-p") props.push(next());
    else if (a === "-P") {
      props.push(next());
      out.show.value = true;
    } else if (a === "--lines" || a === "-n") {
      const v = next();
      if (!/^\d+$/.test(v)) throw new Error(`${a} needs a number, not "${v}"`);
      out.request.lines = Number(v);
    }
  }
  if (props.length) out.show.properties = splitPropertyArgs(props);
  out.request.command = requestCommand(verb, out.request.units.length);
  if (verb === "logs" && out.request.units.length > 1) throw new Error("logs takes at most one unit");
  if (out.help) return out;
  const needsUnits: ControlVerb[] = [
    "clean",
    "fdstore",
    "start",
    "stop",
    "restart",
    "reload-or-restart",
    "reload-or-try-restart",
    "cat",
    "show",
    "is-active",
    "is-enabled",
  ];
  if (needsUnits.includes(verb) && out.request.units.length === 0) throw new Error(`${verb} needs at least one unit name`);
  return out;
}

/** Sends one request; calls onLine for every line the daemon sends back until it closes. */
export function converse(path: string, req: ControlRequest, onLine: (v: unknown) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path });
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line) onLine(JSON.parse(line));
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      reject(new Error(e.code === "ENOENT" || e.code === "ECONNREFUSED" ? `cannot reach the bunit daemon at ${path} (${e.code}); is it running?` : e.message));
    });
    sock.on("close", () => resolve());
    process.once("SIGINT", () => sock.destroy());
  });
}

/** systemctl status: 3 when a unit is not active (reloading counts as active). */
function statusExitCode(units: UnitInfo[]): number {
  return units.every((u) => u.activeState === "active" || u.activeState === "reloading") ? 0 : 3;
}

const ACTIVE_STATES = new Set(["active", "reloading", "refreshing"]);
const ENABLED_STATES = new Set(["enabled", "enabled-runtime", "static", "alias", "indirect", "generated"]);

/** is-active / is-failed / is-enabled over the units' properties: printed lines and systemctl's exit status. */
export function checkUnits(verb: "is-active" | "is-failed" | "is-enabled", units: Property[][]): { lines: string[]; code: number } {
  const lines: string[] = [];
  let good = false;
  let notFound = true;
  for (const p of units) {
    const load = propertyValue(p, "LoadState");
    if (load !== "not-found") notFound = false;
    if (verb === "is-enabled") {
      const state = load === "not-found" ? "not-found" : propertyValue(p, "UnitFileState") || "static";
      lines.push(state);
      if (ENABLED_STATES.has(state)) good = true;
      continue;
    }
    const active = propertyValue(p, "ActiveState") ?? "inactive";
    lines.push(active);
    if (verb === "is-active" ? ACTIVE_STATES.has(active) : active === "failed") good = true;
  }
  const bad = verb === "is-active" ? 3 : 1;
  return { lines, code: good ? 0 : notFound ? 4 : bad };
}

/** What a verb prints: text on stdout, a note on stderr (as systemd logs it), the exit status. */
function render(args: ControlArgs, data: Record<string, unknown>, nowMs: number): { text: string; code: number; note?: string } {
  switch (args.verb) {
    case "status": {
      if (data.summary) {
        const s = data.summary as DaemonSummary;
        return { text: formatSummary(s, nowMs), code: s.state === "running" ? 0 : 1 };
      }
      const units = data.units as UnitInfo[];
      const logs = data.logs as Record<string, LogRecord[]>;
      let text = units.map((u) => formatUnitStatus(u, nowMs) + (logs[u.unit]?.length ? `\n${formatLogLines(logs[u.unit]!)}` : "")).join("\n");
      if (data.logsHidden) text += "\nHint: log lines are shown to root and the log-reader group only (bunit daemon --log-group).\n";
      return { text, code: statusExitCode(units) };
    }
    case "is-active":
    case "is-enabled":
    case "is-failed": {
      if (data.summary) {
        const s = data.summary as DaemonSummary;
        return { text: args.quiet ? "" : `${s.state}\n`, code: s.state === "degraded" ? 0 : 1 };
      }
      const r = checkUnits(args.verb, data.properties as Property[][]);
      return { text: args.quiet ? "" : r.lines.map((l) => l + "\n").join(""), code: r.code };
    }
    case "show":
      return { text: formatShow(data.properties as Property[][], args.show), code: 0 };
    case "list-units":
      return { text: formatUnitRows(data.units as UnitRow[]), code: 0 };
    case "list-sockets":
      return { text: formatSocketRows(selectSocketRows(data.sockets as SocketRow[], args.request.units, args.states), args.legend), code: 0 };
    case "cat":
      return { text: String(data.text), code: 0 };
    case "fdstore": {
      const stores = data.stores as { unit: string; fds: StoredFdRow[] }[];
      const empty = stores.filter((s) => s.fds.length === 0).map((s) => `No file descriptors in fdstore of '${s.unit}'.\n`);
      const text = stores.map((s) => formatStoredFds(s.fds) ?? "").join("");
      return { text, code: 0, ...(empty.length ? { note: empty.join("") } : {}) };
    }
    case "list-jobs":
      return { text: formatJobRows(data.jobs as Parameters<typeof formatJobRows>[0]), code: 0 };
    case "list-dependencies":
      return { text: formatDependencyTree(data.tree as Parameters<typeof formatDependencyTree>[0]), code: 0 };
    case "logs":
      return { text: formatLogLines(data.records as LogRecord[]), code: 0 };
    case "reload": {
      if (!data.reload) return { text: "", code: 0 };
      const r = data.reload as ReloadReport;
      const lines = [
        ...r.added.map((u) => `added: ${u}`),
        ...r.changed.map((u) => `changed: ${u}`),
        ...r.removed.map((u) => `removed: ${u}`),
        ...r.reopened.map((u) => `sockets reopened: ${u}`),
        ...r.rejected.flatMap((x) => [`rejected: ${x.unit} (keeps its previous configuration)`, ...x.errors.map((e) => `  ${e}`)]),
      ];
      return { text: lines.length ? lines.join("\n") + "\n" : "", code: r.rejected.length ? 1 : 0 };
    }
    default:
      return { text: "", code: 0 };
  }
}

/** The JSON a --json caller gets for show: one object per unit, properties filtered as asked; multi-valued ones as lists. */
function showJson(units: Property[][], o: ShowOptions): unknown[] {
  return units.map((p) => {
    const obj: Record<string, string | string[]> = {};
    for (const [k, v] of p) {
      if (o.properties && !o.properties.includes(k)) continue;
      if (v === "" && !o.all && !o.properties) continue;
      const had = obj[k];
      obj[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    return obj;
  });
}

/** stdout that goes quietly when its reader does (`bunit logs | head`): EPIPE ends the command, silently. */
function quietStdout(): (text: string) => void {
  const gone = () => process.exit(0);
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") gone();
    else process.stderr.write(`bunit: cannot write output: ${errorText(e)}\n`);
  });
  return (text) => {
    if (!text) return;
    try {
      process.stdout.write(text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EPIPE") gone();
      throw e;
    }
  };
}

export async function runControl(verb: ControlVerb, argv: string[]): Promise<number> {
  let args: ControlArgs;
  try {
    args = parseControlArgs(verb, argv);
  } catch (e) {
    process.stderr.write(`bunit ${verb}: ${errorText(e)}\n`);
    return 2;
  }
  const write = quietStdout();
  if (args.help) {
    write(verbHelp(verb));
    return 0;
  }
  let code = 0;
  let first = true;
  try {
    await converse(args.socket, args.request, (v) => {
      if (!first) {
        // follow: one record per line, or a marker for records a slow reader missed
        const line = v as FollowLine;
        if ("dropped" in line) {
          write(args.json ? JSON.stringify(line) + "\n" : `-- ${line.dropped} records dropped: this reader fell behind --\n`);
          return;
        }
        write(args.json ? JSON.stringify(line.record) + "\n" : formatLogLines([line.record]));
        return;
      }
      first = false;
      const reply = v as ControlReply;
      if (!reply.ok) {
        process.stderr.write(`${reply.error}\n`);
        code = reply.code ?? (/^Access denied/.test(reply.error) ? 4 : 1);
        return;
      }
      if (args.json && args.verb !== "is-active" && args.verb !== "is-failed" && args.verb !== "is-enabled") {
        const d = reply.data as { units?: UnitInfo[]; properties?: Property[][] };
        write(JSON.stringify(verb === "show" && d.properties ? showJson(d.properties, args.show) : reply.data) + "\n");
        if (verb === "status" && d.units) code = statusExitCode(d.units);
        return;
      }
      const r = render(args, reply.data as Record<string, unknown>, Date.now());
      write(r.text);
      if (r.note) process.stderr.write(r.note);
      code = r.code;
    });
  } catch (e) {
    process.stderr.write(`bunit ${verb}: ${errorText(e)}\n`);
    return 1;
  }
  if (first) {
    if (verb === "daemon-reexec") return 0;
    process.stderr.write(`bunit ${verb}: the daemon closed the connection without answering\n`);
    return 1;
  }
  return code;
}
