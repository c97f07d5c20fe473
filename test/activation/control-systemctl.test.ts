/**
 * systemctl habits of the CLI against a real `bunit daemon`: show's properties and flags,
 * is-active/is-failed/is-enabled exit statuses, globs, --no-block, unknown and invalid names,
 * --help, NeedDaemonReload=, escaped service output, silence on EPIPE, and the read model for
 * an unprivileged caller.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { CONTROL_VERBS, VERB_OPTIONS } from "../../firmware/control/cli-help.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-ctl-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const cliPath = join(repoRoot, "firmware", "cli.ts");
const bun = process.execPath;
let daemon: Bun.Subprocess<"ignore", "pipe", "pipe">;
let daemonErr = "";

const UNITS: Record<string, string> = {
  "web.socket": [
    "[Unit]",
    "Description=the web socket",
    "[Socket]",
    "ListenStream=@DIR@/web.sock",
    "Accept=yes",
    "MaxConnections=10",
    "MaxConnectionsPerSource=3",
    "SocketMode=0600",
    "DirectoryMode=0700",
    "Backlog=32",
    "TriggerLimitIntervalSec=5s",
    "TriggerLimitBurst=50",
    "PollLimitIntervalSec=1s",
    "PollLimitBurst=40",
    "FileDescriptorName=webfd",
    "TimeoutSec=20",
    "ExecStartPre=-/bin/true prepared",
    "[Install]",
    "WantedBy=sockets.target",
    "",
  ].join("\n"),
  "web@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
  "app.service":
    "[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironment=TOKEN=s3cret\nExecStart=/bin/sh -c 'printf \"plain\\\\033[31mRED\\\\033[0m\\\\rFORGED\\\\n\"'\n",
  "slow.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'while [ ! -e @DIR@/go ]; do sleep 0.05; done'\n",
  "bad.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
  "chatty.service":
    "[Service]\nExecStart=/bin/sh -c 'i=0; while [ $$i -lt 3000 ]; do echo line-$$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$$((i+1)); done; exec sleep 600'\n",
};

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${bun} ${cliPath} ${args}`;
  return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
}
/** The CLI as nobody (no groups): what any local user gets. */
async function asNobody(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await $({
    env: { ...process.env, BUNIT_CONTROL: control },
    nothrow: true,
    quiet: true,
    cwd: "/",
  })`setpriv --reuid=65534 --regid=65534 --clear-groups ${bun} ${cliPath} ${args}`;
  return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
}
/** nobody in the log-reader group (gid 4242, given to the daemon as --log-group). */
async function asReader(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await $({
    env: { ...process.env, BUNIT_CONTROL: control },
    nothrow: true,
    quiet: true,
    cwd: "/",
  })`setpriv --reuid=65534 --regid=65534 --groups=4242 ${bun} ${cliPath} ${args}`;
  return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
}
const prop = async (unit: string, name: string) => (await cli("show", "-P", name, unit)).out.replace(/\n$/, "");

beforeAll(async () => {
  mkdirSync(units, { recursive: true });
  chmodSync(dir, 0o755);
  for (const [k, v] of Object.entries(UNITS)) writeFileSync(join(units, k), v.replaceAll("@DIR@", dir));
  daemon = Bun.spawn([bun, cliPath, "daemon", "--units", units, "--control", control, "--log-target", "none", "--no-cgroup", "--log-group", "4242"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    for await (const c of daemon.stderr) daemonErr += new TextDecoder().decode(c);
  })();
  await waitFor(async () => (await cli("is-active", "web.socket")).code === 0, 15000, "web.socket active").catch((e) => {
    throw new Error(`${errorText(e)}; daemon's stderr:\n${daemonErr}`);
  });
});

afterAll(async () => {
  daemon.kill("SIGTERM");
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("show", () => {
  test("socket properties under systemd's names, in systemctl's formats", async () => {
    const r = await cli(
      "show",
      "web.socket",
      "-p",
      "Listen,Accept,MaxConnections,MaxConnectionsPerSource",
      "-p",
      "SocketMode,DirectoryMode,Backlog",
      "--property=TriggerLimitIntervalUSec,TriggerLimitBurst,PollLimitIntervalUSec,PollLimitBurst,FileDescriptorName,TimeoutUSec,NAccepted,NConnections,NRefused",
      "-p",
      "DeferTrigger,PassFileDescriptorsToExec,FlushPending,SocketUser,ControlPID,Result,UnitFileState,NeedDaemonReload",
    );
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        `Listen=${dir}/web.sock (Stream)`,
        "Accept=yes",
        "MaxConnections=10",
        "MaxConnectionsPerSource=3",
        "SocketMode=0600",
        "DirectoryMode=0700",
        "Backlog=32",
        "TriggerLimitIntervalUSec=5s",
        "TriggerLimitBurst=50",
        "PollLimitIntervalUSec=1s",
        "PollLimitBurst=40",
        "FileDescriptorName=webfd",
        "TimeoutUSec=20s",
        "NAccepted=0",
        "NConnections=0",
        "NRefused=0",
        "DeferTrigger=no",
        "PassFileDescriptorsToExec=no",
        "FlushPending=no",
        "SocketUser=",
        "ControlPID=0",
        "Result=success",
        "UnitFileState=enabled",
        "NeedDaemonReload=no",
      ]),
    );
    expect(lines.length).toBe(24);
    expect(await prop("web.socket", "ExecStartPre")).toBe(
      "{ path=/bin/true ; argv[]=/bin/true prepared ; ignore_errors=yes ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
    );
    expect(await prop("web.socket", "ActiveEnterTimestamp")).toMatch(/^[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+$/);
  });

  test("--value, -P, and --all for empty values", async () => {
    expect((await cli("show", "web.socket", "-p", "Accept", "--value")).out).toBe("yes\n");
    expect(await prop("web.socket", "Description")).toBe("the web socket");
    const plain = (await cli("show", "web.socket")).out;
    const all = (await cli("show", "web.socket", "--all")).out;
    expect(plain).not.toMatch(/^SocketUser=$/m);
    expect(all).toMatch(/^SocketUser=$/m);
    expect(plain).toMatch(/^Id=web\.socket$/m);
  });

  test("service properties: after a run, the main process's end; MainPID, ExitType, NRestarts", async () => {
    expect((await cli("start", "bad.service")).code).toBe(1);
    const r = await cli("show", "bad", "-p", "Result,ExecMainCode,ExecMainStatus,MainPID,ExitType,NRestarts,ActiveState,InactiveEnterTimestamp");
    expect(r.out).toContain("Result=exit-code\n");
    expect(r.out).toContain("ExecMainCode=1\nExecMainStatus=1\n");
    expect(r.out).toContain("MainPID=0\n");
    expect(r.out).toContain("ExitType=main\n");
    expect(r.out).toMatch(/^InactiveEnterTimestamp=\S+ \d{4}-/m);
  });

  test("an unknown unit: LoadState=not-found, exit 0; an invalid name: a clear message", async () => {
    const r = await cli("show", "nope.service");
    expect(r.code).toBe(0);
    expect(r.out).toContain("LoadState=not-found\n");
    expect(r.out).toContain("ActiveState=inactive\n");
    const bad = await cli("show", "not a unit");
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('Invalid unit name "not a unit".\n');
    const st = await cli("status", "@x.service");
    expect(st.err).toBe('Invalid unit name "@x.service".\n');
  });

  test("NeedDaemonReload= turns yes when the file changes, and no after a reload", async () => {
    const f = join(units, "app.service");
    const future = new Date(Date.now() + 60_000);
    utimesSync(f, future, future);
    expect(await prop("app.service", "NeedDaemonReload")).toBe("yes");
    utimesSync(f, new Date(), new Date(Date.now() - 60_000));
    expect((await cli("reload")).code).toBe(0);
    expect(await prop("app.service", "NeedDaemonReload")).toBe("no");
  });
});

describe("is-active, is-failed, is-enabled", () => {
  test("systemctl's exit statuses", async () => {
    expect(await cli("is-active", "web.socket")).toMatchObject({ code: 0, out: "active\n" });
    expect(await cli("is-active", "slow.service")).toMatchObject({ code: 3, out: "inactive\n" });
    expect(await cli("is-active", "nope.service")).toMatchObject({ code: 4, out: "inactive\n" });
    expect(await cli("is-active", "-q", "slow.service", "web.socket")).toMatchObject({ code: 0, out: "" });
    await cli("start", "bad.service");
    expect(await cli("is-failed", "bad.service")).toMatchObject({ code: 0, out: "failed\n" });
    expect(await cli("is-failed", "web.socket")).toMatchObject({ code: 1, out: "active\n" });
    expect(await cli("is-failed", "nope.service")).toMatchObject({ code: 4 });
    expect(await cli("is-enabled", "web.socket")).toMatchObject({ code: 0, out: "enabled\n" });
    expect(await cli("is-enabled", "app.service")).toMatchObject({ code: 0, out: "static\n" });
    expect(await cli("is-enabled", "nope.service")).toMatchObject({ code: 4, out: "not-found\n" });
  });

  test("UnitFileState= follows the enablement links (bunit disable/enable)", async () => {
    expect((await cli("disable", "--units", units, "--no-reload", "web.socket")).code).toBe(0);
    expect(await prop("web.socket", "UnitFileState")).toBe("disabled");
    expect(await cli("is-enabled", "web.socket")).toMatchObject({ code: 1, out: "disabled\n" });
    expect(await cli("is-enabled", "--units", units, "web.socket")).toMatchObject({ code: 1, out: "disabled\n" });
    expect((await cli("enable", "--units", units, "--no-reload", "web.socket")).code).toBe(0);
    expect(await prop("web.socket", "UnitFileState")).toBe("enabled");
  });
});

describe("names", () => {
  test("globs match running units and unit files; a template without instance cannot start", async () => {
    const r = await cli("status", "web*");
    expect(r.out).toContain("● web.socket - the web socket");
    expect((await cli("show", "-P", "Id", "[bw]*.s*")).out.split("\n").filter(Boolean)).toEqual(["bad.service", "web.socket"]);
    const t = await cli("start", "web@.service");
    expect(t.code).toBe(5);
    expect(t.err).toBe("Failed to start web@.service: Unit name web@.service is missing the instance name.\n");
    const u = await cli("start", "nope");
    expect(u).toMatchObject({ code: 5, err: "Failed to start nope.service: Unit nope.service not found.\n" });
  });

  test("--no-block answers before the job ends", async () => {
    const r = await cli("start", "--no-block", "slow.service");
    expect(r.code).toBe(0);
    expect((await cli("is-active", "slow.service")).out).toBe("activating\n");
    writeFileSync(join(dir, "go"), "");
    await waitFor(async () => (await cli("is-active", "slow.service")).out === "inactive\n", 5000, "slow.service finished");
    expect(await prop("slow.service", "Result")).toBe("success");
  });
});

describe("--help", () => {
  test("every control command lists every option it takes", async () => {
    for (const verb of CONTROL_VERBS) {
      const r = await cli(verb, "--help");
      expect(r.code).toBe(0);
      for (const o of [...VERB_OPTIONS[verb], "--socket", "--json"]) expect(r.out, `${verb} --help: ${o}`).toContain(o);
      expect((await cli(verb, "--bogus")).code).toBe(2);
    }
    for (const cmd of ["verify", "usb", "vsock"]) {
      const r = await cli(cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.out).toStartWith(`usage: bunit ${cmd}`);
    }
    const verifyHelp = (await cli("verify", "--help")).out;
    for (const o of ["--quiet", "--root DIR", "--root-map FILE"]) expect(verifyHelp).toContain(o);
    const daemonHelp = await cli("daemon", "--help");
    expect(daemonHelp.code).toBe(0);
    for (const o of ["--units", "--control", "--control-group", "--log-group", "--log-ring", "--no-cgroup"]) expect(daemonHelp.out).toContain(o);
    expect((await cli("enable", "--help")).out).toContain("--now");
    // About 45 CLI processes: bun's 5 s default is too short on a loaded machine, and a test
    // that times out takes the file's daemon with it (bun kills its dangling processes).
  }, 30_000);
});

describe("service output and pipes", () => {
  test("control characters of service output are escaped; --json keeps them raw", async () => {
    expect((await cli("start", "app.service")).code).toBe(0);
    await waitFor(async () => (await cli("logs", "app.service")).out.includes("FORGED"), 5000, "app output logged");
    const text = (await cli("logs", "app")).out;
    expect(text).toContain("plain\\x1b[31mRED\\x1b[0m\\x0dFORGED");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach the terminal
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const st = (await cli("status", "app.service")).out;
    expect(st).toContain("\\x1b[31mRED");
    const raw = JSON.parse((await cli("logs", "app.service", "--json")).out) as { records: { message: string }[] };
    expect(raw.records.some((r) => r.message.includes("\x1b[31mRED"))).toBe(true);
  });

  test("bunit logs | head is silent when head goes", async () => {
    expect((await cli("start", "chatty.service")).code).toBe(0);
    await waitFor(async () => (await cli("logs", "chatty.service", "-n", "1")).out.includes("line-2999"), 5000, "chatty output logged");
    const errFile = join(dir, "epipe.err");
    const r = await $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${bun} ${cliPath} logs 2>${errFile} | head -c 100`;
    expect(r.stdout.length).toBe(100);
    expect(readFileSync(errFile, "utf8")).toBe("");
  });
});

describe("read model", () => {
  test("any user sees state; logs, unit files and Environment= only root (and the log-reader group)", async () => {
    const st = await asNobody("status", "app.service");
    expect(st.code, st.err).toBe(0);
    expect(st.out).toContain("● app.service");
    expect(st.out).not.toContain("FORGED");
    expect(st.out).toContain("Hint: log lines are shown to root and the log-reader group only");
    expect((await cli("status", "app.service")).out).toContain("FORGED");
    const logs = await asNobody("logs");
    expect(logs.code).toBe(4);
    expect(logs.err).toContain("Access denied");
    const cat = await asNobody("cat", "app.service");
    expect(cat.code).toBe(4);
    expect(cat.out).toBe("");
    expect((await asNobody("show", "app.service")).out).not.toContain("s3cret");
    expect(await prop("app.service", "Environment")).toBe("TOKEN=s3cret");
    expect((await asNobody("show", "-P", "ActiveState", "app.service")).out).toBe("active\n");
    expect((await asNobody("stop", "app.service")).code).toBe(4);
  });

  test("the log-reader group (--log-group) reads logs, unit files and Environment=, but changes nothing", async () => {
    expect((await asReader("status", "app.service")).out).toContain("FORGED");
    expect((await asReader("logs", "app.service")).out).toContain("FORGED");
    expect((await asReader("cat", "app.service")).out).toContain("Environment=TOKEN=s3cret");
    expect((await asReader("show", "-P", "Environment", "app.service")).out).toBe("TOKEN=s3cret\n");
    expect((await asReader("stop", "app.service")).code).toBe(4);
    expect((await cli("is-active", "app.service")).out).toBe("active\n");
  });
});
