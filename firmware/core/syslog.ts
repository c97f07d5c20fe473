/**
 * Forwarding log records to syslog (RFC 3164 over the /dev/log datagram socket, as
 * syslog(3) sends them). Formatting is pure; syslogSink() does the I/O and never throws: a
 * missing or full syslog loses records, never the daemon.
 */
import * as n from "../native.ts";
import { AF_UNIX, SOCK_DGRAM } from "../sys/constants.ts";
import type { LogLevel, LogRecord, LogSink } from "./log.ts";

const SEVERITY: Record<LogLevel, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };
const FACILITY_DAEMON = 3;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE`: services under their unit name, the daemon as bunit. */
export function formatSyslog(r: LogRecord, daemonPid: number): string {
  const d = new Date(r.timeMs);
  const p2 = (x: number) => String(x).padStart(2, "0");
  const stamp = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
  const pri = FACILITY_DAEMON * 8 + SEVERITY[r.level];
  const isDaemon = r.source === "daemon";
  const tag = isDaemon ? "bunit" : (r.unit ?? "unknown").replace(/\.service$/, "").replace(/[^\w.@-]/g, "_");
  const pid = isDaemon ? daemonPid : (r.pid ?? daemonPid);
  const text = isDaemon && r.unit ? `${r.unit}: ${r.message}` : r.message;
  return `<${pri}>${stamp} ${tag}[${pid}]: ${text}`;
}

export function syslogSink(path = "/dev/log", daemonPid = process.pid): LogSink & { close(): void } {
  let fd = -1;
  const enc = new TextEncoder();
  const connect = () => {
    try {
      fd = n.socket(AF_UNIX, SOCK_DGRAM);
    } catch {
      fd = -1;
    }
  };
  connect();
  const sink = ((r: LogRecord) => {
    if (fd < 0) return;
    try {
      n.sendto(fd, enc.encode(formatSyslog(r, daemonPid)), { family: "unix", path, abstract: false });
    } catch {
      /* no syslog listening, or its queue is full: the record stays in the ring only */
    }
  }) as LogSink & { close(): void };
  sink.close = () => {
    if (fd >= 0) n.close(fd);
    fd = -1;
  };
  return sink;
}
