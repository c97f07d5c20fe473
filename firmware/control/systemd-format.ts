/**
 * Values as systemctl prints them (systemctl show, status, logs): time spans, timestamps,
 * octal modes, Exec*= command lists, and control characters escaped. Pure.
 */
import type { ExecCommand } from "../unit/exec-command.ts";

const SPAN_UNITS: [string, number][] = [
  ["y", 31_557_600e6],
  ["month", 2_629_800e6],
  ["w", 604_800e6],
  ["d", 86_400e6],
  ["h", 3_600e6],
  ["min", 60e6],
  ["s", 1e6],
  ["ms", 1e3],
  ["us", 1],
];

/**
 * A time span in µs as systemd's format_timespan() with accuracy 0 writes it: "0", "infinity",
 * "1min 30s", "100ms", and below a minute a remainder in dot notation ("1.500000s").
 */
export function formatTimespan(usec: number): string {
  if (!Number.isFinite(usec) || usec >= 2 ** 64 - 1) return "infinity";
  let t = Math.max(0, Math.round(usec));
  if (t === 0) return "0";
  const parts: string[] = [];
  for (const [suffix, unit] of SPAN_UNITS) {
    if (t <= 0) break;
    if (t < unit) continue;
    const a = Math.floor(t / unit);
    const b = t % unit;
    if (t < 60e6 && b > 0) {
      const digits = String(unit).length - 1;
      if (digits > 0) {
        parts.push(`${a}.${String(b).padStart(digits, "0")}${suffix}`);
        t = 0;
        break;
      }
    }
    parts.push(`${a}${suffix}`);
    t = b;
  }
  return parts.join(" ");
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The local time zone's abbreviation at that moment ("UTC", "CET"); "UTC" when unknown. */
function zoneName(d: Date): string {
  if (d.getTimezoneOffset() === 0 && !process.env.TZ) return "UTC";
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
  return part?.value ?? "UTC";
}

/** A wall-clock time (ms since the epoch) as format_timestamp() writes it; "" for none (0 or null). */
export function formatTimestamp(ms: number | null | undefined): string {
  if (!ms) return "";
  const d = new Date(ms);
  return `${DAYS[d.getDay()]} ${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneName(d)}`;
}

/** Modes as systemctl prints properties whose name contains "Mode" or "UMask": %04o. */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

export const yesNo = (b: boolean): string => (b ? "yes" : "no");

/** One Exec*= command in systemctl show's form; bunit keeps no per-command run record, so times and status are those of a command that has not run. */
export function formatExecCommand(c: ExecCommand): string {
  const argv = c.argv.join(" ");
  return `{ path=${c.path} ; argv[]=${argv} ; ignore_errors=${yesNo(c.ignoreFailure)} ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }`;
}

/**
 * Text from services made safe for a terminal, as journalctl does: C0 controls other than TAB
 * (ESC, CR, BS, newline...), DEL and the C1 controls become \xNN / \uNNNN escapes, so output can
 * neither move the cursor, recolour, nor overwrite what the reader sees.
 */
export function escapeControl(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
