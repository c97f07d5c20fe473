/**
 * Cached build steps with progress: a step runs when the hash of its inputs differs from the
 * stamp of its last successful run; otherwise it is skipped. A dry run prints the plan.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface StepOptions {
  dryRun: boolean;
  force: boolean;
  log: (line: string) => void;
}

export class StepRunner {
  readonly ran: string[] = [];
  readonly cached: string[] = [];
  private n = 0;
  private keysByName = new Map<string, string>();

  constructor(
    readonly dir: string,
    private readonly opts: StepOptions,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  keys(names: readonly string[]): string[] {
    return names.map((n) => this.keysByName.get(n) ?? "");
  }

  /** Runs fn(outDir) unless the inputs are unchanged; returns the step's output directory. */
  async step(name: string, what: string, inputs: unknown, fn: (out: string) => Promise<void>): Promise<string> {
    const out = join(this.dir, name);
    const key = createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
    const stamp = join(this.dir, `${name}.stamp`);
    const idx = ++this.n;
    this.keysByName.set(name, key);
    const fresh = !this.opts.force && existsSync(stamp) && readFileSync(stamp, "utf8") === key && existsSync(out);
    if (this.opts.dryRun) {
      this.opts.log(`  ${idx}. ${name}: ${what} ${fresh ? "(cached)" : "(would run)"}`);
      return out;
    }
    if (fresh) {
      this.cached.push(name);
      this.opts.log(`  [${idx}] ${name}: ${what} ... cached`);
      return out;
    }
    const t0 = performance.now();
    this.opts.log(`  [${idx}] ${name}: ${what} ...`);
    rmSync(out, { recursive: true, force: true });
    rmSync(stamp, { force: true });
    mkdirSync(out, { recursive: true });
    await fn(out);
    writeFileSync(stamp, key);
    this.ran.push(name);
    this.opts.log(`      done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return out;
  }
}

/** The input keys of earlier steps (the inputs of a step built from their outputs). */
export interface StepKeys {
  keys(names: readonly string[]): string[];
}

/** A content hash of files and directory trees (for step inputs). */
export function hashTree(paths: readonly string[], ignore: (p: string) => boolean = () => false): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    if (ignore(p) || !existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) walk(join(p, f));
    } else {
      h.update(p);
      h.update(String(st.mode));
      h.update(readFileSync(p));
    }
  };
  for (const p of paths) walk(p);
  return h.digest("hex");
}
