/**
 * The systemctl-like commands: `bunit status|list-units|list-sockets|start|stop|restart|
 * reload|cat|show|logs|daemon-reexec`, talking to the daemon over its control socket.
 */
import { createConnection } from "node:net";
import type { LogRecord } from "../core/log.ts";
import { formatLogLines, formatShow, formatSocketRows, formatSummary, formatUnitRows, formatUnitStatus, type DaemonSummary, type SocketRow, type UnitRow } from "../control/format.ts";
import { DEFAULT_CONTROL_PATH, type ControlCommand, type ControlReply, type ControlRequest } from "../control/protocol.ts";
import type { ReloadReport } from "../control/handlers.ts";
import type { UnitInfo } from "../control/unit-info.ts";

export interface ControlArgs {
  request: ControlRequest;
  json: boolean;
  socket: string;
}

export function parseControlArgs(command: ControlCommand, argv: string[], env: Record<string, string | undefined> = process.env): ControlArgs {
  const out: ControlArgs = { request: { command, units: [] }, json: false, socket: env.BUNIT_CONTROL ?? DEFAULT_CONTROL_PATH };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--json") out.json = true;
    else if (a === "--socket") out.socket = next();
    else if (a === "--all" || a === "-a") out.request.all = true;
    else if (a === "--follow" || a === "-f") out.request.follow = true;
    else if (a === "--lines" || a === "-n") {
      const v = next();
      if (!/^\d+$/.test(v)) throw new Error(`${a} needs a number, not "${v}"`);
      out.request.lines = Number(v);
    } else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else out.request.units.push(a);
  }
  // `reload` with unit names reloads those services (ExecReload=); without, it re-reads unit files.
  if (command === "reload" && out.request.units.length) out.request.command = "reload-unit";
  if (command === "logs" && out.request.units.length > 1) throw new Error("logs takes at most one unit");
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

function render(args: ControlArgs, data: Record<string, unknown>, nowMs: number): { text: string; code: number } {
  const cmd = args.request.command;
  switch (cmd) {
    case "status": {
      if (data.summary) {
        const s = data.summary as DaemonSummary;
        return { text: formatSummary(s, nowMs), code: s.state === "running" ? 0 : 1 };
      }
      const units = data.units as UnitInfo[];
      const logs = data.logs as Record<string, LogRecord[]>;
      const text = units.map((u) => formatUnitStatus(u, nowMs) + (logs[u.unit]?.length ? `\n${formatLogLines(logs[u.unit]!)}` : "")).join("\n");
      return { text, code: statusExitCode(units) };
    }
    case "show":
      return { text: (data.units as UnitInfo[]).map(formatShow).join("\n"), code: 0 };
    case "list-units":
      return { text: formatUnitRows(data.units as UnitRow[]), code: 0 };
    case "list-sockets":
      return { text: formatSocketRows(data.sockets as SocketRow[]), code: 0 };
    case "cat":
      return { text: String(data.text), code: 0 };
    case "logs":
      return { text: formatLogLines(data.records as LogRecord[]), code: 0 };
    case "reload": {
      const r = data.reload as ReloadReport;
      const lines = [
        ...r.added.map((u) => `added: ${u}`), ...r.changed.map((u) => `changed: ${u}`), ...r.removed.map((u) => `removed: ${u}`),
        ...r.reopened.map((u) => `sockets reopened: ${u}`),
        ...r.rejected.flatMap((x) => [`rejected: ${x.unit} (keeps its previous configuration)`, ...x.errors.map((e) => `  ${e}`)]),
      ];
      return { text: lines.length ? lines.join("\n") + "\n" : "", code: r.rejected.length ? 1 : 0 };
    }
    default:
      return { text: "", code: 0 };
  }
}

export async function runControl(command: ControlCommand, argv: string[]): Promise<number> {
  let args: ControlArgs;
  try {
    args = parseControlArgs(command, argv);
  } catch (e) {
    process.stderr.write(`bunit ${command}: ${(e as Error).message}\n`);
    return 2;
  }
  let code = 0;
  let first = true;
  try {
    await converse(args.socket, args.request, (v) => {
      if (!first) {
        // follow: one record per line
        const rec = (v as { record: LogRecord }).record;
        process.stdout.write(args.json ? JSON.stringify(rec) + "\n" : formatLogLines([rec]));
        return;
      }
      first = false;
      const reply = v as ControlReply;
      if (!reply.ok) {
        process.stderr.write(`${reply.error}\n`);
        code = /^Access denied/.test(reply.error) ? 4 : 1;
        return;
      }
      if (args.json) {
        process.stdout.write(JSON.stringify(reply.data) + "\n");
        const d = reply.data as { units?: UnitInfo[] };
        if (command === "status" && d.units) code = statusExitCode(d.units);
        return;
      }
      const r = render(args, reply.data as Record<string, unknown>, Date.now());
      process.stdout.write(r.text);
      code = r.code;
    });
  } catch (e) {
    process.stderr.write(`bunit ${command}: ${(e as Error).message}\n`);
    return 1;
  }
  if (first) {
    if (command === "daemon-reexec") return 0;
    process.stderr.write(`bunit ${command}: the daemon closed the connection without answering\n`);
    return 1;
  }
  return code;
}
