/**
 * Issue 15, trust: a service running as User=nobody must not make the daemon (root) adopt and
 * then kill a process that is not its own, through MAINPID= or a PID file; and nobody, root
 * included, makes it adopt the daemon itself. `bunit daemon` runs as a process, the services as
 * real processes talking to its notify socket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { buildDir, repoRoot } from "../../scripts/lib/paths.ts";
import { testBinary, waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-trust-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const cliPath = join(repoRoot, "firmware", "cli.ts");
const bun = process.execPath;
const steps = join(buildDir, "test-bin", "notify-steps");
const NOBODY = 65534;
let daemon: Bun.Subprocess<"ignore", "pipe", "pipe">;
let daemonErr = "";
let victim: Bun.Subprocess;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${bun} ${cliPath} ${args}`;
  return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
}
type Info = { activeState: string; subState: string; result: string; service?: { mainPid: number | null } };
const status = async (u: string) => (JSON.parse((await cli("status", "--json", u)).out) as { units: Info[] }).units[0]!;
const alive = (pid: number) => existsSync(`/proc/${pid}`);
const logs = async (u: string) => (await cli("logs", u, "-n", "200")).out;

beforeAll(async () => {
  expect(await testBinary("notify-steps", ["libsystemd"])).toBe(steps);
  mkdirSync(units, { recursive: true });
  mkdirSync(join(dir, "pf"));
  chownSync(join(dir, "pf"), NOBODY, NOBODY);
  chmodSync(dir, 0o755);
  // A process of nobody else's: root's, outside every service.
  victim = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const UNITS: Record<string, string> = {
    "mainpid.service": `[Service]\nType=notify\nUser=nobody\nExecStart=${steps} MAINPID=${victim.pid} READY=1\nTimeoutStopSec=2\n`,
    "pidfile.service": `[Service]\nType=forking\nUser=nobody\nPIDFile=${dir}/pf/x.pid\nExecStart=/bin/sh -c 'echo ${victim.pid} > ${dir}/pf/x.pid'\nTimeoutStartSec=5\n`,
    // Root names the daemon itself ($PPID of the shell is the daemon: the spawned child exec()s it).
    "self.service": `[Service]\nType=notify\nExecStart=/bin/sh -c 'exec ${steps} MAINPID=$$PPID READY=1'\nTimeoutStopSec=2\n`,
  };
  for (const [k, v] of Object.entries(UNITS)) writeFileSync(join(units, k), v);
  daemon = Bun.spawn([bun, cliPath, "daemon", "--units", units, "--control", control, "--log-level", "debug", "--log-target", "none"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    for await (const c of daemon.stderr) daemonErr += new TextDecoder().decode(c);
  })();
  await waitFor(async () => (await cli("status")).code === 0, 15000, "control socket answers").catch((e) => {
    throw new Error(`${errorText(e)}; daemon's stderr:\n${daemonErr}`);
  });
}, 30_000);

afterAll(async () => {
  victim.kill("SIGKILL");
  daemon.kill("SIGTERM");
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("sec-core: trust in what services say about their processes", () => {
  test("MAINPID= from User=nobody naming a foreign process is refused; stop leaves that process alone", async () => {
    expect((await cli("start", "mainpid.service")).code).toBe(0);
    const s = await status("mainpid.service");
    expect(s.subState).toBe("running");
    expect(s.service?.mainPid).not.toBe(victim.pid);
    expect(await logs("mainpid.service")).toContain(`New main PID ${victim.pid} does not belong to service, refusing.`);
    await cli("stop", "mainpid.service");
    expect(alive(victim.pid)).toBe(true);
  }, 15_000);

  test("a PID file written by User=nobody naming a foreign process is refused: the start fails, the process lives", async () => {
    await cli("start", "pidfile.service");
    await waitFor(async () => (await status("pidfile.service")).activeState === "failed", 8000, "pidfile.service to fail");
    expect((await status("pidfile.service")).result).toBe("protocol");
    expect(await logs("pidfile.service")).toContain(`New main PID ${victim.pid} does not belong to service, and PID file is not owned by root. Refusing.`);
    expect(alive(victim.pid)).toBe(true);
  }, 15_000);

  test("MAINPID= naming the daemon itself is refused even from root; the daemon survives the stop", async () => {
    expect((await cli("start", "self.service")).code).toBe(0);
    expect((await status("self.service")).service?.mainPid).not.toBe(daemon.pid);
    expect(await logs("self.service")).toContain(`New main PID ${daemon.pid} is the manager itself, refusing.`);
    await cli("stop", "self.service");
    // Still serving: it answers, and has not exited (a zombie would still be in /proc).
    const st = await cli("status", "--json", "self.service");
    expect(daemon.exitCode).toBeNull();
    expect((JSON.parse(st.out) as { units: Info[] }).units[0]!.activeState).toBe("inactive");
  }, 15_000);
});
