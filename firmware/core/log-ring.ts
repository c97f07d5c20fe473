/**
 * The bounded ring of log records behind `bunit logs`: the daemon's own messages and every
 * line services print, each with its time. Oldest records go first when either the record
 * count or the byte budget is exceeded. Pure (no I/O); followers are told of each new record.
 */
import type { LogRecord, LogSink } from "./log.ts";

export interface LogQuery {
  /** Only records about this unit (its own output and the daemon's messages about it). */
  unit?: string;
  /** The last N records after filtering. */
  lines?: number;
  /** Only records at or after this time (ms since the epoch). */
  sinceMs?: number;
}

export function matches(r: LogRecord, q: LogQuery): boolean {
  if (q.unit !== undefined && r.unit !== q.unit) return false;
  if (q.sinceMs !== undefined && r.timeMs < q.sinceMs) return false;
  return true;
}

/**
 * The longest message a record keeps (journald's LINE_MAX for stream lines is 48 KiB): a single
 * huge line must not take the whole byte budget, push every other record out, or exceed the
 * budget by itself. Longer messages keep their start and say how much was dropped.
 */
export const MAX_MESSAGE_CHARS = 48 * 1024;

function bounded(r: LogRecord, max: number): LogRecord {
  if (r.message.length <= max) return r;
  return { ...r, message: `${r.message.slice(0, max)}… [${r.message.length - max} more characters dropped]` };
}

/** Approximate heap cost of one record (its strings plus fixed overhead). */
function cost(r: LogRecord): number {
  return 64 + r.message.length * 2 + (r.unit?.length ?? 0) * 2;
}

export class LogRing {
  private records: (LogRecord | undefined)[];
  private head = 0;
  private count = 0;
  private bytes = 0;
  /** Records dropped because the ring was full, since start. */
  dropped = 0;
  private followers = new Set<(r: LogRecord) => void>();

  constructor(
    readonly maxRecords = 10_000,
    readonly maxBytes = 4 * 1024 * 1024,
  ) {
    if (maxRecords < 1) throw new Error("a log ring needs room for at least one record");
    this.records = new Array(maxRecords);
  }

  get size(): number {
    return this.count;
  }

  readonly sink: LogSink = (r) => this.push(r);

  push(record: LogRecord): void {
    // At most a quarter of the byte budget per record, so one record never evicts the ring.
    const r = bounded(record, Math.max(64, Math.min(MAX_MESSAGE_CHARS, Math.floor(this.maxBytes / 8))));
    const c = cost(r);
    while (this.count > 0 && (this.count === this.maxRecords || this.bytes + c > this.maxBytes)) this.dropOldest();
    this.records[(this.head + this.count) % this.maxRecords] = r;
    this.count++;
    this.bytes += c;
    for (const f of this.followers) f(r);
  }

  private dropOldest(): void {
    const r = this.records[this.head]!;
    this.records[this.head] = undefined;
    this.head = (this.head + 1) % this.maxRecords;
    this.count--;
    this.bytes -= cost(r);
    this.dropped++;
  }

  /** Records in time order, filtered. */
  query(q: LogQuery = {}): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = 0; i < this.count; i++) {
      const r = this.records[(this.head + i) % this.maxRecords]!;
      if (matches(r, q)) out.push(r);
    }
    return q.lines !== undefined ? out.slice(Math.max(0, out.length - q.lines)) : out;
  }

  /** Calls fn for every later record; returns the function that stops it. */
  follow(fn: (r: LogRecord) => void): () => void {
    this.followers.add(fn);
    return () => void this.followers.delete(fn);
  }
}
