/**
 * The daemon's own log: leveled records with the unit they concern. Sinks decide where
 * records go (stderr, the ring buffer behind `bunit logs`, syslog).
 */

export type LogLevel = "debug" | "info" | "notice" | "warning" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4 };

export interface LogRecord {
  timeMs: number;
  level: LogLevel;
  unit?: string;
  message: string;
  /** "daemon" for bunit's own messages, "stdout"/"stderr" for a service's output. */
  source: "daemon" | "stdout" | "stderr";
  pid?: number;
}

export type LogSink = (r: LogRecord) => void;

export class Logger {
  private sinks: LogSink[] = [];
  constructor(
    public minLevel: LogLevel = "info",
    private readonly nowMs: () => number = Date.now,
  ) {}

  addSink(s: LogSink): () => void {
    this.sinks.push(s);
    return () => void (this.sinks = this.sinks.filter((x) => x !== s));
  }

  emit(r: Omit<LogRecord, "timeMs"> & { timeMs?: number }): void {
    const rec: LogRecord = { timeMs: r.timeMs ?? this.nowMs(), ...r } as LogRecord;
    if (rec.source === "daemon" && RANK[rec.level] < RANK[this.minLevel]) return;
    for (const s of this.sinks) s(rec);
  }

  log(level: LogLevel, message: string, unit?: string): void {
    if (RANK[level] < RANK[this.minLevel]) return; // before building a record that emit() would drop
    this.emit({ level, message, source: "daemon", ...(unit ? { unit } : {}) });
  }
  debug(m: string, unit?: string) {
    this.log("debug", m, unit);
  }
  info(m: string, unit?: string) {
    this.log("info", m, unit);
  }
  notice(m: string, unit?: string) {
    this.log("notice", m, unit);
  }
  warning(m: string, unit?: string) {
    this.log("warning", m, unit);
  }
  error(m: string, unit?: string) {
    this.log("error", m, unit);
  }

  /** A view that tags every record with one unit. */
  forUnit(unit: string): UnitLog {
    return {
      debug: (m) => this.debug(m, unit),
      info: (m) => this.info(m, unit),
      notice: (m) => this.notice(m, unit),
      warning: (m) => this.warning(m, unit),
      error: (m) => this.error(m, unit),
    };
  }
}

export interface UnitLog {
  debug(m: string): void;
  info(m: string): void;
  notice(m: string): void;
  warning(m: string): void;
  error(m: string): void;
}

export function formatRecord(r: LogRecord): string {
  const t = new Date(r.timeMs).toISOString();
  const who = r.source === "daemon" ? "bunit" : `${r.unit ?? "?"}${r.pid ? `[${r.pid}]` : ""}`;
  const unit = r.source === "daemon" && r.unit ? `${r.unit}: ` : "";
  return `${t} ${who}: ${unit}${r.message}`;
}

/** A sink writing one line per record to a stream (stderr by default). */
export function streamSink(write: (line: string) => void = (l) => process.stderr.write(l)): LogSink {
  return (r) => write(formatRecord(r) + "\n");
}
