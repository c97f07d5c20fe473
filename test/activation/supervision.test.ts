/**
 * The daemon as users drive it: `bunit daemon` as a process, the CLI over its control socket,
 * services of every type supervised through the notify socket and the cgroup tree.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { buildDir, repoRoot } from "../../scripts/lib/paths.ts";
import { cgroup2Missing, request, testBinary, testPort, waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-sup-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const cliPath = join(repoRoot, "firmware", "cli.ts");
const svc = join(repoRoot, "test", "services", "notify-service.ts");
const bun = process.execPath;
// Type=notify services whose start timeout is what a test exercises run this C program: a
// Bun process can take longer to start on a loaded machine than the timeouts involved.
const steps = join(buildDir, "test-bin", "notify-steps");
const port = testPort();
// Services get their own cgroup only where a writable cgroup2 hierarchy exists; the tests that
// need one are skipped, visibly and with this reason, elsewhere.
const noCgroup = cgroup2Missing();
if (noCgroup) console.warn(`supervision.test.ts: cgroup tests skipped: ${noCgroup}`);
const skipNote = noCgroup ? ` [skipped: ${noCgroup}]` : "";
let daemon: Bun.Subprocess<"ignore", "pipe", "pipe">;
let daemonErr = "";

const UNITS: Record<string, string> = {
  "notify.service": `[Unit]\nDescription=Notify service\n[Service]\nType=notify\nExecStart=${bun} ${svc} ready\nWatchdogSec=2\n`,
  "silent.service": `[Service]\nType=notify\nExecStart=${bun} ${svc} silent\nWatchdogSec=1\n`,
  "early.service": `[Service]\nType=notify\nExecStart=${bun} ${svc} early-exit\n`,
  // A child sends READY=1 at once and stays alive; the main process never does.
  "wrongpid.service": `[Service]\nType=notify\nExecStart=${steps} child=READY=1\nTimeoutStartSec=2\n`,
  "extend.service": `[Service]\nType=notify\nExecStart=${steps} EXTEND_TIMEOUT_USEC=4000000 sleep=2500 READY=1\nTimeoutStartSec=1500ms\n`,
  "exitcgroup.service": `[Service]\nExitType=cgroup\nExecStart=/bin/sh -c '(sleep 1.5; echo left > @DIR@/exitcgroup.out) & exit 0'\n`,
  // The main process writes the leftover's pid before it exits.
  "exitmain.service": `[Service]\nExecStart=/bin/sh -c '(sleep 1.5; echo left > @DIR@/exitmain.out) & echo $! > @DIR@/exitmain.left; exit 0'\n`,
  "noextend.service": `[Service]\nType=notify\nExecStart=${steps} sleep=2500 READY=1\nTimeoutStartSec=1500ms\n`,
  "store.service": `[Service]\nType=notify\nExecStart=${bun} ${svc} fdstore @DIR@/store.out\nFileDescriptorStoreMax=4\nRestart=on-failure\nRestartSec=100ms\n`,
  "fdpoll.service": `[Service]\nType=notify\nExecStart=${bun} ${svc} fdstore-poll @DIR@\nFileDescriptorStoreMax=8\n`,
  "fork.service": `[Service]\nType=forking\nPIDFile=@DIR@/fork.pid\nExecStart=/bin/sh -c 'sleep 600 & echo $! > @DIR@/fork.pid'\n`,
  "guess.service": `[Service]\nType=forking\nExecStart=/bin/sh -c 'setsid sleep 600 &'\n`,
  "escape.service": `[Service]\nExecStart=/bin/sh @DIR@/escape.sh\n`,
  "orphans.service": `[Service]\nExecStart=/bin/sh -c '(sleep 0.2 & echo $! >> @DIR@/orphans.pids); (sleep 0.3 & echo $! >> @DIR@/orphans.pids); exec sleep 600'\n`,
  "reloadable.service": `[Service]\nExecStart=/bin/sleep 600\nExecReload=/bin/sh -c 'echo reloaded >> @DIR@/reload.out'\n`,
  "chatty.service": `[Service]\nExecStart=/bin/sh -c 'for i in 1 2 3; do echo out-$i; echo err-$i >&2; done; exec sleep 600'\n`,
  "web.socket": `[Socket]\nListenStream=127.0.0.1:${port}\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`,
  "web@.service": `[Service]\nExecStart=/bin/sh -c 'echo hello'\nStandardOutput=socket\n`,
};

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${bun} ${cliPath} ${args}`;
  return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
}
async function json<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, "--json");
  if (r.code !== 0 && r.code !== 3) throw new Error(`bunit ${args.join(" ")}: ${r.code} ${r.err}`);
  return JSON.parse(r.out) as T;
}
type Info = {
  unit: string;
  activeState: string;
  subState: string;
  result: string;
  service?: { mainPid: number | null; statusText: string | null; cgroup: string | null; tasks: number[]; fdStore: string[]; nRestarts: number };
};
const status = async (u: string) => (await json<{ units: Info[] }>("status", u)).units[0]!;

/** A file's text once it ends with a newline (a shell creates the file before it writes), else null. */
const lines = (name: string) => {
  try {
    const t = readFileSync(join(dir, name), "utf8");
    return t.endsWith("\n") ? t : null;
  } catch {
    return null;
  }
};
/** Whether a process is gone from /proc (exited and reaped), not just a zombie. */
const gone = (pid: number) => !existsSync(`/proc/${pid}`);
const isZombie = (pid: number) => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    return st.slice(st.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
};

beforeAll(async () => {
  expect(await testBinary("notify-steps", ["libsystemd"])).toBe(steps);
  mkdirSync(units, { recursive: true });
  chmodSync(dir, 0o755); // the unprivileged callers below must reach the control socket
  writeFileSync(join(dir, "escape.sh"), `setsid sh -c 'echo $$ > ${dir}/escape.pid; exec sleep 600' &\nexec sleep 600\n`);
  for (const [k, v] of Object.entries(UNITS)) writeFileSync(join(units, k), v.replaceAll("@DIR@", dir));
  daemon = Bun.spawn(
    [bun, cliPath, "daemon", "--units", units, "--control", control, "--control-group", "4242", "--log-level", "debug", "--log-target", "none"],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  void (async () => {
    for await (const c of daemon.stderr) daemonErr += new TextDecoder().decode(c);
  })();
  await waitFor(async () => (await cli("status")).code === 0, 15000, "control socket answers").catch((e) => {
    throw new Error(`${errorText(e)}; daemon's stderr:\n${daemonErr}`);
  });
});

afterAll(async () => {
  daemon.kill("SIGTERM");
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("Type=notify", () => {
  test("active only after READY=1, with STATUS=, in its own cgroup; the watchdog is fed", async () => {
    expect((await cli("start", "notify.service")).code).toBe(0);
    const s = await status("notify.service");
    expect(s.subState).toBe("running");
    expect(s.service!.statusText).toStartWith(`serving as ${s.service!.mainPid}`);
    expect(s.service!.tasks).toContain(s.service!.mainPid!);
    if (noCgroup) expect(s.service!.cgroup).toBeNull();
    else expect(readFileSync(join(s.service!.cgroup!, "cgroup.procs"), "utf8")).toContain(String(s.service!.mainPid));
    // The service counts its pings in STATUS=, one every WatchdogSec/3: once the daemon has
    // taken 4 of them, more than WatchdogSec=2 has passed since READY=1, and the service,
    // still running, was kept alive by them.
    let pings = 0;
    await waitFor(
      async () => {
        const now = await status("notify.service");
        if (now.subState !== "running") throw new Error(`notify.service left running: ${JSON.stringify(now)}`);
        pings = Number(/, (\d+) watchdog pings$/.exec(now.service!.statusText ?? "")?.[1] ?? 0);
        return pings >= 4;
      },
      10000,
      "4 watchdog pings taken",
    );
    expect(pings).toBeGreaterThanOrEqual(4);
    const human = await cli("status", "notify.service");
    expect(human.out).toContain("● notify.service - Notify service");
    expect(human.out).toContain(`Status: "serving as`);
  }, 20000);

  test("no WATCHDOG=1 within WatchdogSec=: SIGABRT, result watchdog", async () => {
    const started = await cli("start", "silent.service");
    expect(started.err).toBe("");
    await waitFor(async () => (await status("silent.service")).activeState === "failed", 8000, "silent fails");
    expect((await status("silent.service")).result).toBe("watchdog");
    expect((await cli("logs", "silent.service")).out).toContain("Watchdog timeout (limit 1s)!");
  }, 15000);

  test("exit before READY=1 is a protocol failure; READY=1 from another process is refused", async () => {
    expect((await cli("start", "early.service")).code).toBe(1);
    expect((await status("early.service")).result).toBe("protocol");
    expect((await cli("start", "wrongpid.service")).code).toBe(1);
    const s = await status("wrongpid.service");
    expect(s.result).toBe("timeout");
    expect(s.service!.mainPid).toBeNull();
    const refused = /Got notification message from PID (\d+), but reception only permitted for main PID (\d+)/.exec(
      (await cli("logs", "wrongpid.service")).out,
    );
    expect(refused).not.toBeNull();
    expect(refused![1]).not.toBe(refused![2]);
  }, 20000);

  test("EXTEND_TIMEOUT_USEC= moves the start timeout; without it the same slow start times out", async () => {
    const [ext, plain] = await Promise.all([cli("start", "extend.service"), cli("start", "noextend.service")]);
    expect(ext.code).toBe(0);
    expect((await status("extend.service")).subState).toBe("running");
    expect(plain.code).toBe(1);
    expect((await status("noextend.service")).result).toBe("timeout");
    expect((await cli("logs", "extend.service")).out).toMatch(/Timeout of the start state extended by 4000000 us/);
    await cli("stop", "extend.service");
  }, 20000);

  test.skipIf(noCgroup !== null)(
    `ExitType=cgroup: the service runs until the last process of its cgroup is gone; ExitType=main stops it with its main process${skipNote}`,
    async () => {
      expect((await cli("start", "exitcgroup.service", "exitmain.service")).code).toBe(0);
      await waitFor(async () => (await status("exitmain.service")).activeState === "inactive", 5000, "exitmain.service to stop with its main process");
      const s = await status("exitcgroup.service");
      expect(s.activeState).toBe("active");
      expect(s.service!.mainPid).toBeNull();
      expect(s.service!.tasks.length).toBeGreaterThan(0);
      await waitFor(async () => (await status("exitcgroup.service")).activeState === "inactive", 8000, "exitcgroup.service to end with its cgroup");
      expect((await status("exitcgroup.service")).result).toBe("success");
      expect(readFileSync(join(dir, "exitcgroup.out"), "utf8")).toBe("left\n");
      // ExitType=main: what was left was stopped with the service. Once that process is gone it
      // can write nothing more; it would have written 1.5 s after it started (exitcgroup's twin did).
      const leftover = Number(readFileSync(join(dir, "exitmain.left"), "utf8"));
      expect(leftover).toBeGreaterThan(1);
      await waitFor(() => gone(leftover) || isZombie(leftover), 5000, "exitmain.service's leftover process to end");
      expect(existsSync(join(dir, "exitmain.out"))).toBe(false);
    },
    20000,
  );

  test("FDSTORE=1: the stored fd comes back, named, after a crash and restart", async () => {
    await cli("start", "store.service");
    await waitFor(() => existsSync(join(dir, "store.out")), 10000, "restarted service reported");
    expect(readFileSync(join(dir, "store.out"), "utf8")).toBe("kept across restarts");
    const s = await status("store.service");
    expect(s.service!.nRestarts).toBe(1);
    expect(s.service!.fdStore).toEqual(["mine"]);
  }, 20000);
});

describe("the fd store as systemd keeps it", () => {
  test("a duplicate of a stored fd is not stored twice; a stored fd whose peer hangs up is dropped, unless FDPOLL=0", async () => {
    expect((await cli("start", "fdpoll.service")).code).toBe(0);
    // Newest first, as systemd hands them over.
    expect((await status("fdpoll.service")).service!.fdStore).toEqual(["quiet", "peer"]);
    // systemd-analyze fdstore's table, from the daemon's own fstat() of each stored fd.
    const listed = await cli("fdstore", "fdpoll");
    expect(listed.code).toBe(0);
    const lines = listed.out.trimEnd().split("\n");
    expect(lines[0]!.split(/\s+/)).toEqual(["FDNAME", "TYPE", "DEVNO", "INODE", "RDEVNO", "PATH", "FLAGS"]);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      ["quiet", "sock", expect.stringMatching(/^\d+:\d+$/), expect.stringMatching(/^\d+$/), "-", expect.stringMatching(/^socket:\[\d+\]$/), "rw"],
      ["peer", "sock", expect.stringMatching(/^\d+:\d+$/), expect.stringMatching(/^\d+$/), "-", expect.stringMatching(/^socket:\[\d+\]$/), "rw"],
    ]);
    // A service without FileDescriptorStoreMax= has no store to list.
    const none = await cli("fdstore", "notify.service");
    expect(none.code).toBe(1);
    expect(none.err).toContain("File descriptor store not enabled for notify.service.");
    writeFileSync(join(dir, "hangup"), "");
    await waitFor(() => existsSync(join(dir, "hung-up")), 10000, "the service to close the other ends");
    await waitFor(async () => (await status("fdpoll.service")).service!.fdStore.length === 1, 10000, "the hung-up fd to leave the store").catch((e) => {
      throw new Error(
        `${errorText(e)}; daemon's log:\n${daemonErr
          .split("\n")
          .filter((l) => l.includes("fdpoll"))
          .join("\n")}`,
      );
    });
    expect((await status("fdpoll.service")).service!.fdStore).toEqual(["quiet"]);
    await cli("stop", "fdpoll.service");
  }, 30000);
});

describe("Type=forking and process tracking", () => {
  test("PIDFile= names the main process; stop kills it", async () => {
    expect((await cli("start", "fork.service")).code).toBe(0);
    const pid = Number(readFileSync(join(dir, "fork.pid"), "utf8"));
    expect((await status("fork.service")).service!.mainPid).toBe(pid);
    expect((await cli("stop", "fork.service")).code).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 15000);

  // The guess looks in the service's cgroup: the process left called setsid(), out of reach of
  // the process-group fallback.
  test.skipIf(noCgroup !== null)(
    `without PIDFile= the main PID is guessed (the one process left)${skipNote}`,
    async () => {
      expect((await cli("start", "guess.service")).code).toBe(0);
      const s = await status("guess.service");
      expect(s.subState).toBe("running");
      expect(s.service!.mainPid).toBeGreaterThan(1);
      await cli("stop", "guess.service");
      expect(() => process.kill(s.service!.mainPid!, 0)).toThrow();
    },
    15000,
  );

  test.skipIf(noCgroup !== null)(
    `KillMode=control-group reaches a process that left the process group (setsid)${skipNote}`,
    async () => {
      expect((await status("notify.service")).service!.cgroup).not.toBeNull();
      await cli("start", "escape.service");
      await waitFor(() => lines("escape.pid") !== null, 5000, "escapee started");
      const escapee = Number(lines("escape.pid"));
      expect((await status("escape.service")).service!.tasks).toContain(escapee);
      expect((await cli("stop", "escape.service")).code).toBe(0);
      // Killed; once its zombie is reaped (it was re-parented to the daemon) it is gone.
      await waitFor(() => !existsSync(`/proc/${escapee}`), 3000, "escapee gone");
    },
    15000,
  );

  test("orphans re-parented to the daemon are reaped: no zombies", async () => {
    expect((await cli("start", "orphans.service")).code).toBe(0);
    // Both orphans exit within 0.3 s; gone from /proc means reaped (a zombie stays listed).
    await waitFor(() => lines("orphans.pids")?.trim().split("\n").length === 2, 5000, "orphan pids written");
    const orphans = lines("orphans.pids")!.trim().split("\n").map(Number);
    await waitFor(() => orphans.every(gone), 5000, `orphans ${orphans.join(", ")} reaped`);
    const zombies = readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          const st = readFileSync(`/proc/${p}/stat`, "utf8");
          const rest = st.slice(st.lastIndexOf(")") + 2).split(" ");
          return rest[0] === "Z" && Number(rest[1]) === daemon.pid;
        } catch {
          return false;
        }
      });
    expect(zombies).toEqual([]);
    const log = (await cli("logs")).out;
    for (const pid of orphans) expect(log).toContain(`Reaped orphaned process ${pid}`);
    await cli("stop", "orphans.service");
  }, 15000);
});

describe("the control interface", () => {
  test("list-units, list-sockets, show, cat and logs; service output lands in the ring", async () => {
    await cli("start", "chatty.service");
    await waitFor(async () => (await cli("logs", "chatty.service")).out.includes("err-3"), 5000, "output logged");
    const lines = (await cli("logs", "chatty.service", "-n", "2")).out.trim().split("\n");
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z chatty\.service\[\d+\]: /);
    const lu = await json<{ units: { unit: string; active: string }[] }>("list-units");
    expect(lu.units.find((u) => u.unit === "chatty.service")?.active).toBe("active");
    expect(lu.units.some((u) => u.active === "inactive")).toBe(false);
    expect((await json<{ units: { unit: string }[] }>("list-units", "--all")).units.some((u) => u.unit === "reloadable.service")).toBe(true);
    const ls = await json<{ sockets: { listen: string; unit: string; activates: string }[] }>("list-sockets");
    expect(ls.sockets).toContainEqual(expect.objectContaining({ listen: `127.0.0.1:${port}`, unit: "web.socket", activates: "web@*.service" }));
    expect(await request({ port })).toBe("hello\n");
    expect((await cli("show", "web.socket")).out).toMatch(/^NAccepted=1$/m);
    expect((await cli("cat", "web.socket")).out).toBe(`# ${join(units, "web.socket")}\n${UNITS["web.socket"]}`);
    expect((await cli("status", "nope.service")).err).toContain("Unit nope.service could not be found.");
    expect((await cli("status", "reloadable.service")).code).toBe(3);
  }, 20000);

  test("restart and reload UNIT (ExecReload=)", async () => {
    await cli("start", "reloadable.service");
    const before = (await status("reloadable.service")).service!.mainPid;
    expect((await cli("reload", "reloadable.service")).code).toBe(0);
    expect(readFileSync(join(dir, "reload.out"), "utf8")).toBe("reloaded\n");
    expect((await status("reloadable.service")).service!.mainPid).toBe(before);
    expect((await cli("restart", "reloadable.service")).code).toBe(0);
    expect((await status("reloadable.service")).service!.mainPid).not.toBe(before);
  }, 15000);

  test("mutating calls: root and the control group only (SO_PEERCRED)", async () => {
    const ask = (uid: number, gid: number, req: object) =>
      $({
        nothrow: true,
        quiet: true,
        input: JSON.stringify(req) + "\n",
      })`setpriv --reuid=${uid} --regid=${gid} --clear-groups socat - UNIX-CONNECT:${control}`;
    const denied = JSON.parse((await ask(65534, 65534, { command: "stop", units: ["chatty.service"] })).stdout);
    expect(denied.ok).toBe(false);
    expect(denied.error).toContain("Access denied");
    expect((await status("chatty.service")).subState).toBe("running");
    const look = JSON.parse((await ask(65534, 65534, { command: "status", units: ["chatty.service"] })).stdout);
    expect(look.ok).toBe(true);
    const allowed = JSON.parse((await ask(65534, 4242, { command: "stop", units: ["chatty.service"] })).stdout);
    expect(allowed).toEqual({ ok: true, data: { jobs: [{ unit: "chatty.service", result: "done" }] } });
    expect((await status("chatty.service")).subState).toBe("dead");
  }, 15000);

  test("logs --follow streams new records until the client goes", async () => {
    // --json: the first line is the answer to the request (-n 0: no old records), sent once the
    // daemon has subscribed the client; every later line is one new record.
    const f = Bun.spawn([bun, cliPath, "logs", "reloadable.service", "-f", "-n", "0", "--json"], {
      env: { ...process.env, BUNIT_CONTROL: control },
      stdout: "pipe",
    });
    const reader = f.stdout.getReader();
    const dec = new TextDecoder();
    let text = "";
    const lines = () => text.split("\n").slice(0, -1);
    const readUntil = (what: string, done: () => boolean) =>
      waitFor(
        async () => {
          const { value, done: eof } = await reader.read();
          if (eof) throw new Error(`logs -f ended early: ${text}`);
          text += dec.decode(value, { stream: true });
          return done();
        },
        10000,
        what,
      );
    await readUntil("the answer to logs -f", () => lines().length >= 1);
    expect(JSON.parse(lines()[0]!)).toMatchObject({ records: [] });
    expect((await cli("reload", "reloadable.service")).code).toBe(0);
    await readUntil("a followed record", () =>
      lines()
        .slice(1)
        .some((l) => l.includes("Reloaded.")),
    );
    const followed = lines()
      .slice(1)
      .map((l) => JSON.parse(l) as { unit?: string; message: string });
    expect(followed.every((r) => r.unit === "reloadable.service")).toBe(true);
    expect(followed.map((r) => r.message)).toContain("Reloaded.");
    f.kill();
    await f.exited;
  }, 15000);
});
