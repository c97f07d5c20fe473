/**
 * Seeded generator of hostile control requests, for the protocol fuzzers (the pure one beside
 * this file and test/robustness/control-fuzz.test.ts against a real daemon): random bytes,
 * JSON of every shape, request-shaped objects with wrong types, odd unit names and globs,
 * and oversized lines. Requests that could change what runs only name units that do not exist.
 * Pure.
 */
import { COMMANDS } from "./protocol.ts";

/** mulberry32: small, fast, reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAFE_COMMANDS = COMMANDS.filter((c) => c !== "daemon-reexec");
const MUTATING = new Set(["start", "stop", "restart", "reload-unit"]);
const ODD = [
  "",
  ".",
  "..",
  "@",
  "@.service",
  "a@.service",
  "*",
  "?",
  "[",
  "[]",
  "[!a]*",
  "a b.service",
  "é.service",
  "x".repeat(300),
  "\u0000.service",
  "\u001b[2J.service",
  "__proto__",
  "constructor",
  "a.service\n",
  "../../etc/passwd",
  "/dev/null",
  "-",
  "--all",
  "a.socket",
  "default.target",
  "web@1.service",
  "\ud800.service",
];

export interface FuzzRequest {
  /** What is written to the socket (a line, or bytes without a newline for the oversized case). */
  bytes: Uint8Array;
  /** Whether the request is a follow that would stay open (the reader takes the first line and goes). */
  follow: boolean;
}

export function fuzzRequest(next: () => number): FuzzRequest {
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (max: number) => {
    let s = "";
    const len = int(max);
    for (let i = 0; i < len; i++) s += String.fromCharCode(next() < 0.8 ? 32 + int(95) : int(0x3000));
    return s;
  };
  const anyValue = (depth = 0): unknown => {
    switch (int(depth > 2 ? 6 : 8)) {
      case 0:
        return null;
      case 1:
        return next() < 0.5;
      case 2:
        return pick([0, -1, 1.5, 1e308, -0, 2 ** 53, Number.MAX_SAFE_INTEGER]);
      case 3:
        return str(40);
      case 4:
        return pick(ODD);
      case 5:
        return int(100000);
      case 6:
        return Array.from({ length: int(5) }, () => anyValue(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: int(4) }, () => [pick(["command", "units", "lines", "all", "follow", "noBlock", str(8)]), anyValue(depth + 1)]),
        );
    }
  };
  const line = (s: string) => new TextEncoder().encode(s.replaceAll("\n", " ") + "\n");
  const kind = int(10);
  if (kind === 0) {
    const b = new Uint8Array(int(300) + 1);
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    for (let i = 0; i < b.length - 1; i++) if (b[i] === 10) b[i] = 32;
    b[b.length - 1] = 10;
    return { bytes: b, follow: false };
  }
  if (kind === 1) return { bytes: line(JSON.stringify(anyValue())), follow: false };
  if (kind === 2) return { bytes: line(JSON.stringify({ command: "status", units: [] }).slice(0, int(30))), follow: false };
  if (kind === 3 && next() < 0.1) return { bytes: new TextEncoder().encode("{".repeat(70 * 1024)), follow: false };
  // Request-shaped.
  const command = next() < 0.9 ? pick(SAFE_COMMANDS) : pick([str(10), "daemon_reexec", "STATUS", "status "]);
  const req: Record<string, unknown> = { command };
  if (next() < 0.9) {
    req.units = next() < 0.8 ? Array.from({ length: int(6) }, () => (next() < 0.5 ? pick(ODD) : next() < 0.5 ? str(30) : anyValue(2))) : anyValue(1);
    if (MUTATING.has(command) && Array.isArray(req.units))
      req.units = (req.units as unknown[]).map((u) => (typeof u === "string" ? `zz-fuzz-${u.replace(/[*?[]/g, "")}` : u));
  }
  if (next() < 0.3) req.lines = anyValue(1);
  if (next() < 0.3) req.all = anyValue(1);
  if (next() < 0.2) req.noBlock = anyValue(1);
  if (next() < 0.2) req.follow = anyValue(1);
  if (next() < 0.1) req[str(6)] = anyValue(1);
  return { bytes: line(JSON.stringify(req)), follow: req.follow === true && command === "logs" };
}
