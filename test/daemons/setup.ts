/**
 * Support for the daemons tier: installs the Debian packages a test needs (without letting
 * their maintainer scripts start the distro's own instances), reads the units a package ships,
 * and applies the listed changes (paths, ports, users) to them, refusing any change whose text
 * is not in the shipped file, so a package update that moves a line fails loudly.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { ensurePackages } from "../../scripts/setup-host.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { waitFor } from "../support/harness.ts";

$.verbose = false;

const POLICY = "/usr/sbin/policy-rc.d";

/**
 * Installs pkgs when missing. While apt runs, policy-rc.d answers 101 ("action forbidden"), so
 * postinst scripts (invoke-rc.d, deb-systemd-invoke) do not start sshd, rpcbind... on the
 * host's real ports; an existing policy-rc.d is left alone.
 */
export async function installPackages(pkgs: readonly string[]): Promise<void> {
  const mine = !existsSync(POLICY);
  if (mine) writeFileSync(POLICY, "#!/bin/sh\n# written by bunit test/daemons while installing packages\nexit 101\n", { mode: 0o755 });
  try {
    await ensurePackages(pkgs);
  } finally {
    if (mine) rmSync(POLICY, { force: true });
  }
}

/** The installed version of a package (for the README table and failure messages). */
export async function packageVersion(pkg: string): Promise<string> {
  const format = "-f=${Version}";
  return (await $`dpkg-query -W ${format} ${pkg}`).stdout.trim();
}

/** The unit file a package ships, from /lib/systemd/system (Debian 12 keeps them there). */
export function shippedUnit(name: string, dir = "/lib/systemd/system"): string {
  return readFileSync(`${dir}/${name}`, "utf8");
}

/** One change to a shipped unit: the exact text replaced, its replacement, and why. */
export interface UnitChange {
  from: string;
  to: string;
  why: string;
}

/** Applies changes in order; each `from` must occur in the text (every occurrence is replaced). */
export function changed(text: string, changes: readonly UnitChange[]): string {
  let out = text;
  for (const c of changes) {
    if (!out.includes(c.from)) throw new Error(`shipped unit no longer contains ${JSON.stringify(c.from)} (${c.why})`);
    out = out.replaceAll(c.from, c.to);
  }
  return out;
}

/** A preset that enables only the given units (the sockets), as a distro preset would. */
export function presetOnly(units: readonly string[]): Record<string, string> {
  return { "../system-preset/50-daemons.preset": units.map((u) => `enable ${u}\n`).join("") + "disable *\n" };
}

/** Whether a process whose command line starts with argv0 runs with the given path in it. */
export async function processesMatching(pattern: string): Promise<string[]> {
  const r = await $`pgrep -af ${pattern}`.nothrow();
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * A `bunit daemon` child process (firmware/cli.ts) over a temporary unit directory: the real
 * daemon, with its $NOTIFY_SOCKET (the in-process TestDaemon has none, so Type=notify
 * services never get READY=1 there). Units are written with @DIR@ replaced by the directory.
 */
export class BunitDaemon {
  readonly output: string[] = [];
  private constructor(
    readonly dir: string,
    readonly proc: ReturnType<typeof Bun.spawn>,
  ) {}

  /**
   * enable: units the preset enables (those with [Install]); links: the enablement symlinks a
   * package ships itself (as "sockets.target.wants/dbus.socket"), for static units.
   */
  static async start(units: Record<string, string>, enable: readonly string[], links: readonly string[] = []): Promise<BunitDaemon> {
    // Under /run, not /tmp: a service with PrivateTmp=yes must still see the sockets in here.
    const dir = mkdtempSync(join(existsSync("/run") ? "/run" : tmpdir(), "bunit-daemons-"));
    // Daemons that drop privileges (rpcbind to _rpc) still reach $NOTIFY_SOCKET in here, as
    // they reach /run/systemd/notify under systemd.
    chmodSync(dir, 0o755);
    const files = { ...units, ...presetOnly(enable) };
    for (const [name, text] of Object.entries(files)) {
      const p = join(dir, "units", name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text.replaceAll("@DIR@", dir));
    }
    for (const l of links) {
      const p = join(dir, "units", l);
      mkdirSync(dirname(p), { recursive: true });
      symlinkSync(join("..", basename(l)), p);
    }
    const proc = Bun.spawn(
      [
        process.execPath,
        join(repoRoot, "firmware/cli.ts"),
        "daemon",
        "--units",
        join(dir, "units"),
        "--control",
        join(dir, "control"),
        "--log-level",
        "debug",
        "--log-target",
        "console",
      ],
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const d = new BunitDaemon(dir, proc);
    for (const s of [proc.stdout, proc.stderr]) void d.collect(s as ReadableStream<Uint8Array>);
    await waitFor(() => existsSync(join(dir, "control")) || proc.exitCode !== null, 20_000, "the control socket");
    if (proc.exitCode !== null) throw new Error(`bunit daemon exited ${proc.exitCode}:\n${d.log()}`);
    await waitFor(async () => (await d.ctl(["is-active", "default.target"])).exitCode === 0, 20_000, "default.target");
    return d;
  }

  private async collect(s: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of s) this.output.push(dec.decode(chunk));
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  log(): string {
    return this.output.join("");
  }

  /** The daemon's log ring (`bunit logs`): current, unlike its piped console output. */
  async logs(): Promise<string> {
    return (await this.ctl(["logs", "-n", "10000"])).stdout;
  }

  /** `bunit ARGS --socket DIR/control`. */
  async ctl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = await $`${process.execPath} ${join(repoRoot, "firmware/cli.ts")} ${args} --socket ${join(this.dir, "control")}`.nothrow();
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async sub(unit: string): Promise<string> {
    return (await this.ctl(["show", unit, "-P", "SubState"])).stdout.trim();
  }

  async waitSub(unit: string, want: string | string[], timeoutMs = 10_000): Promise<void> {
    const states = Array.isArray(want) ? want : [want];
    let last = "";
    try {
      await waitFor(async () => states.includes((last = await this.sub(unit))), timeoutMs, `${unit} in ${states.join("|")}`);
    } catch (e) {
      throw new Error(`${errorText(e)} (is ${last}); log:\n${this.log()}`);
    }
  }

  async stop(): Promise<void> {
    if (process.env.BUNIT_TEST_LOG) process.stderr.write(this.log());
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      await Promise.race([this.proc.exited, Bun.sleep(20_000)]);
      if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
