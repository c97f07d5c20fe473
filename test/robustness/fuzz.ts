/**
 * A mutation fuzzer for the two parsers that read untrusted text: unit files (syntax, every
 * [Socket]/[Service] directive, verify) and USB function specs (the descriptor compiler). The
 * properties: nothing throws except the parsers' own errors, and every rejection says where
 * (unit diagnostics carry file and line; spec errors list problems with a key path or a line).
 *
 *   bun test/robustness/fuzz.ts [--iterations N] [--seed S]     a longer run than CI's
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseUnitText } from "../../firmware/unit/ini-syntax.ts";
import { buildUnit } from "../../firmware/unit/unit-file.ts";
import { verifyService, verifySocket } from "../../firmware/unit/unit-verify.ts";
import { hostFacts } from "../../firmware/unit/host-facts.ts";
import { DescriptionError } from "../../firmware/lib/description-schema.ts";
import { parseFunctionSpec } from "../../firmware/usb/descriptor-spec.ts";
import { compileFunction, decodeFunction, decodeStrings } from "../../firmware/usb/ffs-blobs.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";

/** xorshift32: the same seed gives the same run. */
export class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

const TOKENS = [
  "=",
  "\\",
  "\n",
  "[",
  "]",
  '"',
  "'",
  "%",
  "%n",
  "%i",
  "@",
  ":",
  "-",
  "0",
  "-1",
  "4294967296",
  "yes",
  "no",
  "infinity",
  "0x",
  " ",
  "\t",
  "#",
  ";",
  "vsock:",
  "[::1]:",
  "@abs",
  "/dev/",
  "../",
  "1M",
  "5s",
  "\u00e9",
  "\0",
  "ListenStream=",
  "Accept=",
  "ExecStart=",
  "[Socket]",
  "[Service]",
  "[Unit]",
  '="',
  "\\x2d",
  "type",
  "number",
  "direction",
  "max_packet",
  "{",
  "}",
  ",",
  "true",
  "1e9",
  "-0",
  "65536",
];

export function mutate(rng: Rng, text: string): string {
  let t = text;
  const rounds = 1 + rng.int(6);
  for (let r = 0; r < rounds; r++) {
    const pos = t.length ? rng.int(t.length + 1) : 0;
    switch (rng.int(6)) {
      case 0:
        t = t.slice(0, pos) + rng.pick(TOKENS) + t.slice(pos);
        break; // insert a token
      case 1:
        t = t.slice(0, pos) + t.slice(pos + 1 + rng.int(8));
        break; // delete a run
      case 2:
        t = t.slice(0, pos) + String.fromCharCode(rng.int(256)) + t.slice(pos + 1);
        break; // flip a char
      case 3: {
        // duplicate a line
        const lines = t.split("\n");
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]!);
        t = lines.join("\n");
        break;
      }
      case 4: {
        // swap two lines
        const lines = t.split("\n");
        const i = rng.int(lines.length),
          j = rng.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        t = lines.join("\n");
        break;
      }
      default:
        t = t.slice(0, pos); // truncate
    }
  }
  return t;
}

function corpus(dir: string, re: RegExp): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (re.test(e.name)) out.push({ name: e.name, text: readFileSync(join(d, e.name), "utf8") });
    }
  };
  walk(dir);
  return out;
}

export interface FuzzStats {
  runs: number;
  accepted: number;
  rejected: number;
  failures: string[];
}

const host = hostFacts();

/** One unit file: parse, build, verify. A crash (any exception) is a failure. */
export function fuzzUnitOnce(name: string, text: string): "accepted" | "rejected" | string {
  try {
    const file = `/fuzz/${name}`;
    const parsed = parseUnitText(text, file);
    const u = buildUnit({ name, fragment: parsed, dropins: [], fragmentPath: file, host });
    const diags = [...u.diagnostics, ...(u.socket ? verifySocket(u) : []), ...(u.service ? verifyService(u) : [])];
    const errors = diags.filter((d) => d.level === "error");
    for (const d of errors) {
      if (d.file !== file || !d.message) return `error without file or message: ${JSON.stringify(d)}`;
      if (d.key && d.line === undefined) return `error about ${d.key}= without a line: ${JSON.stringify(d)}`;
    }
    return errors.length || u.loadState !== "loaded" ? "rejected" : "accepted";
  } catch (e) {
    return `crash: ${(e as Error).stack ?? e}`;
  }
}

/** One USB spec: parse and compile; then the blobs must decode again. */
export function fuzzSpecOnce(text: string, json: boolean): "accepted" | "rejected" | string {
  try {
    const spec = parseFunctionSpec(text, json ? "fuzz.json" : "fuzz.toml");
    const c = compileFunction(spec);
    decodeFunction(c.descriptors, c.strings);
    decodeStrings(c.strings);
    return "accepted";
  } catch (e) {
    if (e instanceof DescriptionError) {
      // Every problem names its place: a key path ("interfaces[0].endpoints[1].type: ...") or,
      // for a syntax error or a document that is no table, a line; the message starts with the file.
      if (!e.message.startsWith(`${e.source}: `) || e.problems.length === 0 || e.problems.some((p) => !p.message || (!p.path && !p.line)))
        return `unclear DescriptionError: ${e.message}`;
      return "rejected";
    }
    return `crash: ${(e as Error).stack ?? e}`;
  }
}

export function fuzz(iterations: number, seed: number): { units: FuzzStats; specs: FuzzStats } {
  const rng = new Rng(seed);
  const units = corpus(join(repoRoot, "units"), /\.(socket|service)$/);
  const specs = corpus(join(repoRoot, "units"), /\.toml$/).map((s) => s.text);
  specs.push(...specs.map((s) => JSON.stringify(Bun.TOML.parse(s))));
  const u: FuzzStats = { runs: 0, accepted: 0, rejected: 0, failures: [] };
  const s: FuzzStats = { runs: 0, accepted: 0, rejected: 0, failures: [] };
  for (let i = 0; i < iterations; i++) {
    const base = rng.pick(units);
    const text = mutate(rng, base.text);
    const r = fuzzUnitOnce(base.name, text);
    u.runs++;
    if (r === "accepted") u.accepted++;
    else if (r === "rejected") u.rejected++;
    else u.failures.push(`${r}\n--- input (${base.name}) ---\n${text}`);
    const sb = rng.pick(specs);
    const st = mutate(rng, sb);
    const rs = fuzzSpecOnce(st, sb.startsWith("{"));
    s.runs++;
    if (rs === "accepted") s.accepted++;
    else if (rs === "rejected") s.rejected++;
    else s.failures.push(`${rs}\n--- input ---\n${st}`);
  }
  return { units: u, specs: s };
}

if (import.meta.main) {
  const arg = (k: string, d: number) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? Number(process.argv[i + 1]) : d;
  };
  const iterations = arg("--iterations", 100_000);
  const seed = arg("--seed", Date.now() & 0xffffffff);
  const t0 = performance.now();
  const r = fuzz(iterations, seed);
  const secs = (performance.now() - t0) / 1000;
  for (const [k, v] of Object.entries(r)) console.log(`${k}: ${v.runs} inputs, ${v.accepted} accepted, ${v.rejected} rejected, ${v.failures.length} failures`);
  console.log(`seed ${seed}, ${((iterations * 2) / secs).toFixed(0)} inputs/s`);
  for (const f of [...r.units.failures, ...r.specs.failures].slice(0, 5)) console.log(`\n${f}`);
  process.exit(r.units.failures.length + r.specs.failures.length ? 1 : 0);
}
