/**
 * The systemd tier's test support: a real `bunit daemon` process over a temporary unit
 * directory filled from test/systemd/units/<test>/, and the bunit CLI in place of systemctl.
 *
 * Upstream's tests drive PID 1 with systemctl; these drive the daemon with `bunit`, one
 * process per call, exactly as a script would. Fixture files may use tokens replaced when they
 * are copied: @TMP@ (the test's temporary directory, where upstream used /tmp or /run) and any
 * token the test passes in `vars` (ports, unique names).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { unixListening } from "../support/harness.ts";

const CLI = join(repoRoot, "firmware", "cli.ts");
const FIXTURES = join(import.meta.dir, "units");

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Polls pred every 100 ms until it holds; throws after timeoutMs with what (and extra). */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string, extra?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra ? `\n${extra()}` : ""}`);
    await Bun.sleep(100);
  }
}

function copyFixtures(from: string, to: string, vars: Record<string, string>): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const src = join(from, entry);
    const dst = join(to, entry);
    if (statSync(src).isDirectory()) copyFixtures(src, dst, vars);
    else writeFileSync(dst, substitute(readFileSync(src, "utf8"), vars));
  }
}

function substitute(text: string, vars: Record<string, string>): string {
  let t = text;
  for (const [k, v] of Object.entries(vars)) t = t.replaceAll(`@${k}@`, v);
  return t;
}

export class BunitDaemon {
  readonly proc: ReturnType<typeof Bun.spawn>;
  readonly dir: string;
  readonly units: string;
  readonly control: string;
  readonly logFile: string;
  private readonly vars: Record<string, string>;

  private constructor(dir: string, vars: Record<string, string>) {
    this.dir = dir;
    this.vars = vars;
    this.units = join(dir, "units");
    this.control = join(dir, "control");
    this.logFile = join(dir, "daemon.log");
    // One open file description for both streams, appended to, so neither overwrites the other.
    const log = openSync(this.logFile, "a");
    this.proc = Bun.spawn([process.execPath, CLI, "daemon", "--units", this.units, "--control", this.control, "--log-level", "debug"], {
      cwd: repoRoot,
      stdin: "ignore",
      stdout: log,
      stderr: log,
    });
    closeSync(log);
  }

  /**
   * Copies the fixtures of test/systemd/units/<fixtures>/ (none when null) into a fresh
   * directory's units/, starts `bunit daemon` on it and waits until its control socket answers.
   */
  static async start(fixtures: string | null, vars: Record<string, string> = {}): Promise<BunitDaemon> {
    const dir = mkdtempSync(join(tmpdir(), "bunit-st-"));
    // Readable by other users: some tests connect as another uid (setpriv --reuid=1).
    chmodSync(dir, 0o755);
    const all = { TMP: dir, ...vars };
    if (fixtures) copyFixtures(join(FIXTURES, fixtures), join(dir, "units"), all);
    else mkdirSync(join(dir, "units"));
    const d = new BunitDaemon(dir, all);
    await until(
      () => unixListening(d.control) || d.proc.exitCode !== null,
      20000,
      "the daemon's control socket",
      () => d.logTail(),
    );
    if (d.proc.exitCode !== null) throw new Error(`bunit daemon exited with ${d.proc.exitCode}\n${d.logTail()}`);
    return d;
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  /** Writes (or replaces) a unit file, with the same token substitution as the fixtures. */
  writeUnit(name: string, text: string): void {
    const p = join(this.units, name);
    mkdirSync(join(p, ".."), { recursive: true });
    writeFileSync(p, substitute(text, this.vars));
  }

  /** Appends a line to a unit file (upstream: `echo X >>/run/systemd/system/U`). */
  appendUnit(name: string, line: string): void {
    const p = join(this.units, name);
    writeFileSync(p, readFileSync(p, "utf8") + substitute(line, this.vars) + "\n");
  }

  /** `bunit ARGS...` against this daemon (systemctl's place). */
  async ctl(...args: string[]): Promise<CliResult> {
    const p = Bun.spawn([process.execPath, CLI, ...args], {
      cwd: repoRoot,
      env: { ...process.env, BUNIT_CONTROL: this.control },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out, err };
  }

  /** Runs a bunit command that must succeed; throws with its output otherwise. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.ctl(...args);
    if (r.code !== 0) throw new Error(`bunit ${args.join(" ")} exited ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}\n${this.logTail()}`);
    return r.out;
  }

  /** `systemctl show UNIT -P PROP` -> `bunit show -P PROP UNIT`, the value without its newline. */
  async prop(unit: string, prop: string): Promise<string> {
    const r = await this.ctl("show", "-P", prop, unit);
    if (r.code !== 0) throw new Error(`bunit show -P ${prop} ${unit} exited ${r.code}: ${r.err.trim()}`);
    return r.out.replace(/\n$/, "");
  }

  /** `systemctl -q is-active UNIT` (exit status only). */
  async isActive(unit: string): Promise<boolean> {
    return (await this.ctl("is-active", unit)).code === 0;
  }

  /** `systemctl -q is-failed UNIT` (exit status only). */
  async isFailed(unit: string): Promise<boolean> {
    return (await this.ctl("is-failed", unit)).code === 0;
  }

  /** Waits until `bunit show -P PROP UNIT` prints value. */
  async waitProp(unit: string, prop: string, value: string, timeoutMs: number): Promise<void> {
    let last = "";
    await until(
      async () => {
        try {
          last = await this.prop(unit, prop);
        } catch (e) {
          last = String(e);
        }
        return last === value;
      },
      timeoutMs,
      `${unit} ${prop}=${value}`,
      () => `last: ${last}\n${this.logTail()}`,
    );
  }

  logText(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  logTail(lines = 60): string {
    return `daemon log (last ${lines} lines):\n${this.logText().split("\n").slice(-lines).join("\n")}`;
  }

  /** SIGTERM (the daemon stops every unit), SIGKILL after 20 s; removes the directory. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 20000);
      await this.proc.exited;
      clearTimeout(t);
    }
    if (process.env.BUNIT_TEST_LOG) process.stderr.write(this.logText());
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs a program to completion with a deadline; stdin text optional. */
export async function run(argv: string[], opts: { stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  const p = Bun.spawn(argv, {
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
  });
  const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 20000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(t);
  return { code, out, err };
}

/**
 * Connects to a unix stream socket and closes again (upstream: `socat -u - UNIX-CONNECT:PATH`
 * with nothing to send). Rejects when the connection is refused.
 */
export async function poke(path: string, timeoutMs = 5000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connect ${path} timed out`)), timeoutMs);
    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          clearTimeout(timer);
          s.end();
          resolve();
        },
        data() {},
        connectError(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch((e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
