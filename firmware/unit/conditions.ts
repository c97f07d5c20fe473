/**
 * Condition*= and Assert*= evaluation (systemd.unit(5)): all plain conditions must hold;
 * when there are triggering ("|") ones, at least one of those must hold. The machine is
 * reached through an injected ConditionEnv so the logic is testable.
 */
import { fnmatch } from "./fnmatch.ts";
import type { Condition } from "./unit-section.ts";

export interface ConditionEnv {
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  isSymlink(path: string): boolean;
  isExecutable(path: string): boolean;
  fileSize(path: string): number | null;
  dirEntries(path: string): string[] | null;
  isMountPoint(path: string): boolean;
  isReadWrite(path: string): boolean;
  glob(pattern: string): boolean;
  kernelCommandLine(): string;
  kernelRelease(): string;
  architecture(): string;
  hostname(): string;
  machineId(): string;
  env(name: string): string | undefined;
  uid(): number;
  userName(): string;
  groups(): string[];
  virtualization(): string;
  memoryBytes(): number;
  cpus(): number;
  osRelease(): Record<string, string>;
  firstBoot(): boolean;
  kernelModuleLoaded(name: string): boolean;
}

export interface ConditionOutcome {
  ok: boolean;
  /** The first condition that decided the outcome (for status messages). */
  failed?: Condition;
  unsupported: Condition[];
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+~]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.\-+~]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0,
      y = pb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** "OP VALUE" comparisons used by ConditionKernelVersion=, ConditionMemory=, ConditionCPUs=. */
function compare(actual: number | string, expr: string, numeric: boolean, glob?: (pattern: string, s: string) => boolean): boolean {
  const m = /^\s*(<=|>=|!=|=|<|>)?\s*(.+?)\s*$/.exec(expr);
  if (!m) return false;
  const want = m[2]!;
  // No operator: KernelVersion= matches a glob; Memory= and CPUs= mean ">=" (systemd's
  // condition_test_memory()/condition_test_cpus() default).
  if (!m[1] && !numeric) return glob ? glob(want, String(actual)) : String(actual) === want;
  const op = m[1] ?? ">=";
  const c = numeric ? Number(actual) - parseSizeLike(want) : compareVersions(String(actual), want);
  if (Number.isNaN(c)) return false;
  switch (op) {
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    case ">=":
      return c >= 0;
    case "=":
      return c === 0;
    case "!=":
      return c !== 0;
  }
  return false;
}

function parseSizeLike(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]?)$/.exec(v.trim());
  if (!m) return Number.NaN; // not a size: every comparison is false, as systemd's parse_size() failing
  return Number(m[1]) * 1024 ** "BKMGTPE".indexOf(m[2] || "B");
}

/** Evaluates one condition (without its negation); undefined when bunit cannot evaluate it. */
export function testCondition(c: Condition, e: ConditionEnv): boolean | undefined {
  const v = c.value;
  switch (c.kind) {
    case "PathExists":
      return e.exists(v);
    case "PathExistsGlob":
      return e.glob(v);
    case "PathIsDirectory":
      return e.isDirectory(v);
    case "PathIsSymbolicLink":
      return e.isSymlink(v);
    case "PathIsMountPoint":
      return e.isMountPoint(v);
    case "PathIsReadWrite":
      return e.isReadWrite(v);
    case "DirectoryNotEmpty": {
      const ents = e.dirEntries(v);
      return ents !== null && ents.some((x) => !x.startsWith("."));
    }
    case "FileNotEmpty": {
      const sz = e.fileSize(v);
      return sz !== null && sz > 0;
    }
    case "FileIsExecutable":
      return e.isExecutable(v);
    case "KernelCommandLine": {
      const words = e.kernelCommandLine().split(/\s+/).filter(Boolean);
      return v.includes("=") ? words.includes(v) : words.some((w) => w === v || w.startsWith(v + "="));
    }
    case "KernelVersion":
      return compare(e.kernelRelease(), v, false, fnmatch);
    case "Architecture":
      return v === "native" || e.architecture() === v;
    case "Host":
      return /^[0-9a-f]{32}$/.test(v) ? e.machineId() === v : fnmatch(v, e.hostname(), { caseFold: true });
    case "Environment": {
      const eq = v.indexOf("=");
      return eq < 0 ? e.env(v) !== undefined : e.env(v.slice(0, eq)) === v.slice(eq + 1);
    }
    case "User":
      return v === "@system" ? e.uid() < 1000 : /^\d+$/.test(v) ? e.uid() === Number(v) : e.userName() === v;
    case "Group":
      return e.groups().includes(v);
    case "Virtualization": {
      const virt = e.virtualization();
      if (v === "vm") return virt !== "none" && virt !== "container";
      if (v === "container") return virt === "container";
      try {
        return /^(1|yes|y|true|t|on)$/i.test(v) ? virt !== "none" : /^(0|no|n|false|f|off)$/i.test(v) ? virt === "none" : virt === v;
      } catch {
        return false;
      }
    }
    case "Memory":
      return compare(e.memoryBytes(), v, true);
    case "CPUs":
      return compare(e.cpus(), v, true);
    case "FirstBoot":
      return /^(1|yes|y|true|t|on)$/i.test(v) === e.firstBoot();
    case "ACPower":
      return true;
    case "NeedsUpdate":
      return false;
    case "OSRelease": {
      const m = /^([A-Z0-9_]+)\s*(<=|>=|!=|=|<|>|\$=|!\$=)\s*(.*)$/.exec(v);
      if (!m) return false;
      const actual = e.osRelease()[m[1]!] ?? "";
      if (m[2] === "$=") return fnmatch(m[3]!, actual);
      if (m[2] === "!$=") return !fnmatch(m[3]!, actual);
      return compare(actual, `${m[2]}${m[3]}`, false);
    }
    case "KernelModuleLoaded":
      return e.kernelModuleLoaded(v);
    default:
      return undefined;
  }
}

export function evaluateConditions(conds: readonly Condition[], e: ConditionEnv): ConditionOutcome {
  const unsupported: Condition[] = [];
  let triggers = 0,
    triggerOk = false,
    firstTrigger: Condition | undefined;
  for (const c of conds) {
    const raw = testCondition(c, e);
    if (raw === undefined) {
      unsupported.push(c);
      continue;
    }
    const r = c.negate ? !raw : raw;
    if (c.trigger) {
      triggers++;
      firstTrigger ??= c;
      if (r) triggerOk = true;
    } else if (!r) {
      return { ok: false, failed: c, unsupported };
    }
  }
  if (triggers && !triggerOk) return { ok: false, failed: firstTrigger, unsupported };
  return { ok: true, unsupported };
}
