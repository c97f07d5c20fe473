/**
 * Value syntaxes of unit files: booleans, time spans (systemd.time(7)), IEC sizes, modes,
 * integers, signals. Each parser returns the value or throws ValueError with a clear reason.
 * Pure.
 */
import { SIGNALS, SIGRTMAX, SIGRTMIN } from "../sys/constants.ts";

export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValueError";
  }
}

const TRUE = ["1", "yes", "y", "true", "t", "on"];
const FALSE = ["0", "no", "n", "false", "f", "off"];

export function parseBoolean(v: string): boolean {
  const l = v.toLowerCase();
  if (TRUE.includes(l)) return true;
  if (FALSE.includes(l)) return false;
  throw new ValueError(`"${v}" is not a boolean (use yes/no, true/false, on/off, 1/0)`);
}

export function parseTristate(v: string): boolean | null {
  if (v === "") return null;
  return parseBoolean(v);
}

const TIME_UNITS: [string[], number][] = [
  [["us", "usec", "µs", "μs"], 1],
  [["ms", "msec"], 1e3],
  [["s", "sec", "second", "seconds"], 1e6],
  [["m", "min", "minute", "minutes"], 60e6],
  [["h", "hr", "hour", "hours"], 3600e6],
  [["d", "day", "days"], 86400e6],
  [["w", "week", "weeks"], 604800e6],
  [["M", "month", "months"], 2629800e6],
  [["y", "year", "years"], 31557600e6],
  [["ns", "nsec"], 1e-3],
];

function unitFactor(u: string): number | undefined {
  for (const [names, f] of TIME_UNITS) if (names.includes(u)) return f;
  return undefined;
}

/**
 * Parses a time span into microseconds. A bare number uses defaultUnit (seconds for *Sec=).
 * "infinity" gives Infinity. Components may be combined: "1min 30s", "2h5min".
 */
export function parseTimespan(v: string, defaultUnitUsec = 1e6): number {
  const s = v.trim();
  if (s === "") throw new ValueError("empty time span");
  if (s === "infinity") return Infinity;
  let total = 0;
  let rest = s;
  let parts = 0;
  while (rest.length) {
    rest = rest.replace(/^\s+/, "");
    if (!rest.length) break;
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-zµμ]*)/.exec(rest);
    if (!m) throw new ValueError(`"${v}" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)`);
    const n = Number(m[1]);
    let factor: number;
    if (m[2] === "") {
      factor = defaultUnitUsec;
    } else {
      const f = unitFactor(m[2]!);
      if (f === undefined) throw new ValueError(`"${v}": unknown time unit "${m[2]}"`);
      factor = f;
    }
    total += n * factor;
    rest = rest.slice(m[0].length);
    parts++;
  }
  if (!parts) throw new ValueError(`"${v}" is not a time span`);
  return Math.round(total);
}

/** Formats microseconds like systemd's format_timespan (for status output). */
export function formatTimespan(usec: number): string {
  if (usec === Infinity) return "infinity";
  if (usec === 0) return "0";
  const units: [string, number][] = [
    ["y", 31557600e6],
    ["month", 2629800e6],
    ["w", 604800e6],
    ["d", 86400e6],
    ["h", 3600e6],
    ["min", 60e6],
    ["s", 1e6],
    ["ms", 1e3],
    ["us", 1],
  ];
  const out: string[] = [];
  let rest = usec;
  for (const [name, f] of units) {
    if (rest >= f) {
      const n = Math.floor(rest / f);
      out.push(`${n}${name}`);
      rest -= n * f;
    }
  }
  return out.join(" ");
}

const IEC: Record<string, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5, E: 1024 ** 6 };

/** parse_size(s, 1024): "64K", "1.5M", "128M", plain bytes. */
export function parseIecSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([BKMGTPE]?)\s*$/.exec(v);
  if (!m) throw new ValueError(`"${v}" is not a size (examples: 4096, 64K, 8M)`);
  const n = Number(m[1]) * IEC[m[2] || "B"]!;
  if (!Number.isFinite(n) || n > Number.MAX_SAFE_INTEGER) throw new ValueError(`"${v}" is out of range`);
  return Math.floor(n);
}

export function parseMode(v: string): number {
  if (!/^[0-7]+$/.test(v) || parseInt(v, 8) > 0o7777) throw new ValueError(`"${v}" is not an octal access mode (example: 0660)`);
  return parseInt(v, 8);
}

export function parseUnsigned(v: string, max = 0xffffffff): number {
  let n: number;
  if (/^\d+$/.test(v)) n = Number(v);
  else if (/^0x[0-9a-fA-F]+$/.test(v)) n = parseInt(v.slice(2), 16);
  else throw new ValueError(`"${v}" is not an unsigned integer`);
  if (n > max) throw new ValueError(`${v} is out of range (maximum ${max})`);
  return n;
}

export function parseInteger(v: string, min = -0x80000000, max = 0x7fffffff): number {
  if (!/^[+-]?\d+$/.test(v)) throw new ValueError(`"${v}" is not an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new ValueError(`${v} is out of range (${min}..${max})`);
  return n;
}

/** A signal by name (SIGTERM, TERM) or number; SIGRTMIN+n supported. */
export function parseSignal(v: string): number {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new ValueError(`${v} is not a valid signal number`);
  }
  const name = v.startsWith("SIG") ? v : `SIG${v}`;
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? null;
  if (rt) {
    const n = SIGRTMIN + Number(rt[1] ?? 0);
    if (n <= SIGRTMAX) return n;
  }
  const rtmax = /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rtmax) {
    const n = SIGRTMAX - Number(rtmax[1] ?? 0);
    if (n >= SIGRTMIN) return n;
  }
  throw new ValueError(`"${v}" is not a signal name`);
}

/** An exit status (0..255) or a signal name, for SuccessExitStatus= and friends. */
export function parseExitStatusSet(v: string): { codes: number[]; signals: number[] } {
  const codes: number[] = [];
  const signals: number[] = [];
  for (const w of v.split(/\s+/).filter(Boolean)) {
    if (/^\d+$/.test(w)) {
      const n = Number(w);
      if (n > 255) throw new ValueError(`exit status ${w} is out of range (0..255)`);
      codes.push(n);
    } else if (EXIT_STATUS_NAMES[w] !== undefined) {
      codes.push(EXIT_STATUS_NAMES[w]!);
    } else {
      signals.push(parseSignal(w));
    }
  }
  return { codes, signals };
}

/** systemd's named exit statuses (exit-status.c), as accepted in unit files. */
export const EXIT_STATUS_NAMES: Record<string, number> = {
  SUCCESS: 0,
  FAILURE: 1,
  INVALIDARGUMENT: 2,
  NOTIMPLEMENTED: 3,
  NOPERMISSION: 4,
  NOTINSTALLED: 5,
  NOTCONFIGURED: 6,
  NOTRUNNING: 7,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOUSER: 67,
  NOHOST: 68,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  OSFILE: 72,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
  CHDIR: 200,
  NICE: 201,
  FDS: 202,
  EXEC: 203,
  MEMORY: 204,
  LIMITS: 205,
  OOM_ADJUST: 206,
  SIGNAL_MASK: 207,
  STDIN: 208,
  STDOUT: 209,
  CHROOT: 210,
  IOPRIO: 211,
  TIMERSLACK: 212,
  SECUREBITS: 213,
  SETSCHEDULER: 214,
  CPUAFFINITY: 215,
  GROUP: 216,
  USER: 217,
  CAPABILITIES: 218,
  CGROUP: 219,
  SETSID: 220,
  CONFIRM: 221,
  STDERR: 222,
  PAM: 224,
  NETWORK: 225,
  NAMESPACE: 226,
  NO_NEW_PRIVILEGES: 227,
  SECCOMP: 228,
  SELINUX_CONTEXT: 229,
  PERSONALITY: 230,
  APPARMOR_PROFILE: 231,
  ADDRESS_FAMILIES: 232,
  RUNTIME_DIRECTORY: 233,
  CHOWN: 235,
  SMACK_PROCESS_LABEL: 236,
  KEYRING: 237,
  STATE_DIRECTORY: 238,
  CACHE_DIRECTORY: 239,
  LOGS_DIRECTORY: 240,
  CONFIGURATION_DIRECTORY: 241,
  NUMA_POLICY: 242,
  CREDENTIALS: 243,
  BPF: 245,
};

/** The name systemd prints for an exit status ("203/EXEC"). */
export function exitStatusName(code: number): string | undefined {
  for (const [k, v] of Object.entries(EXIT_STATUS_NAMES)) if (v === code) return k;
  return undefined;
}

/** Absolute, normalized path (no "..", ".", "//" components, no trailing slash). */
export function isNormalizedAbsolutePath(p: string): boolean {
  if (!p.startsWith("/")) return false;
  if (p === "/") return true;
  if (p.endsWith("/")) return false;
  return p
    .slice(1)
    .split("/")
    .every((c) => c !== "" && c !== "." && c !== "..");
}

/** Makes "/a//b/./c/" into "/a/b/c"; returns null when the path is relative or has "..". */
export function normalizePath(p: string): string | null {
  if (!p.startsWith("/")) return null;
  const parts = p.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) return null;
  return "/" + parts.join("/");
}
