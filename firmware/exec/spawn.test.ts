import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import { ProcessWatcher } from "./process-watch.ts";
import { execPlan, ProgramSpawner, type SpawnSpec } from "./spawn.ts";

function spec(over: Partial<SpawnSpec> = {}): SpawnSpec {
  return {
    path: "/bin/sh",
    argv: ["sh", "-c", "true"],
    env: { PATH: "/usr/bin:/bin" },
    fds: [],
    stdin: { kind: "null" },
    stdout: { kind: "log" },
    stderr: { kind: "log" },
    nonBlocking: false,
    ignoreSIGPIPE: true,
    limits: {},
    inetd: false,
    ...over,
  };
}

describe("execPlan (pure)", () => {
  test("sockets: LISTEN_PID is the child's, NonBlocking= and the fd count pass through", () => {
    const { plan, env } = execPlan(spec({ fds: [7, 8], nonBlocking: true, env: { LISTEN_FDS: "2", LISTEN_PID: "1" } }));
    expect(plan.listenFds).toBe(2);
    expect(plan.nonBlocking).toBe(true);
    expect(plan.pidVariables).toEqual(["LISTEN_PID"]);
    expect(env.LISTEN_FDS).toBe("2");
  });

  test("no fds, or an inetd connection: no LISTEN_* variables at all", () => {
    for (const s of [
      spec({ env: { LISTEN_FDS: "1", LISTEN_PID: "5", LISTEN_FDNAMES: "x", A: "b" } }),
      spec({ inetd: true, fds: [5], env: { LISTEN_FDS: "1" } }),
    ]) {
      const { plan, env } = execPlan(s);
      expect(plan.listenFds).toBe(0);
      expect(plan.pidVariables).toEqual([]);
      expect(Object.keys(env).filter((k) => k.startsWith("LISTEN_"))).toEqual([]);
    }
  });

  test("WATCHDOG_PID with WATCHDOG_USEC; the service dies with the daemon only without a cgroup", () => {
    expect(execPlan(spec({ env: { WATCHDOG_USEC: "1000" } })).plan.pidVariables).toEqual(["WATCHDOG_PID"]);
    expect(execPlan(spec()).plan.parentDeathSignal).toBe(9);
    expect(execPlan(spec({ cgroup: "/sys/fs/cgroup/x" })).plan.parentDeathSignal).toBe(0);
  });

  test("limits by resource number, credentials as numbers", () => {
    const { plan } = execPlan(
      spec({
        limits: { LimitNOFILE: { soft: 64, hard: Number.POSITIVE_INFINITY } },
        credentials: { uid: 1, gid: 2, groups: [3], user: "u", home: "/", shell: "/bin/sh" },
      }),
    );
    expect(plan.limits).toEqual([{ resource: 7, soft: 64, hard: Number.POSITIVE_INFINITY }]);
    expect(plan.credentials).toEqual({ uid: 1, gid: 2, groups: [3] });
  });
});

/** Runs a spec for real; its stdout and stderr lines and its exit. */
async function run(s: SpawnSpec) {
  const lines: string[] = [];
  const spawner = new ProgramSpawner(new ProcessWatcher(n.fdWatcher()));
  const p = spawner.spawn(s, (_stream, line) => lines.push(line));
  const exit = await p.exited;
  return { pid: p.pid, exit, lines, execResult: await p.execResult };
}

describe("ProgramSpawner: the clone3 child applies the plan, then execs the program", () => {
  test("LISTEN_PID is the program's own pid, fds 3.. in place, the rest closed", async () => {
    const [r, w] = n.pipe();
    const out = await run(
      spec({
        fds: [r, w],
        argv: ["sh", "-c", 'echo "$LISTEN_PID $$ $LISTEN_FDS"; [ -e /proc/self/fd/4 ] && echo four; [ -e /proc/self/fd/5 ] || echo no-five'],
        env: { PATH: "/bin", LISTEN_FDS: "2" },
      }),
    );
    n.close(r);
    n.close(w);
    expect(out.exit).toEqual({ code: 0, signal: null });
    expect(out.lines).toEqual([`${out.pid} ${out.pid} 2`, "four", "no-five"]);
  });

  test("signals unblocked and at their defaults (SIGPIPE ignored), a session of its own, umask, nice, limit, directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-spawn-"));
    const out = await run(
      spec({
        argv: [
          "sh",
          "-c",
          'grep -E "^Sig(Blk|Ign)" /proc/self/status; ps -o sid= -p $$ 2>/dev/null || cut -d" " -f6 /proc/self/stat; umask; ulimit -n; pwd; cut -d" " -f19 /proc/self/stat; cat /proc/self/oom_score_adj',
        ],
        umask: 0o027,
        nice: 5,
        oomScoreAdjust: 123,
        limits: { LimitNOFILE: { soft: 77, hard: 77 } },
        workingDirectory: { path: dir, optional: false },
      }),
    );
    rmSync(dir, { recursive: true });
    expect(out.exit.code).toBe(0);
    expect(out.lines[0]).toBe("SigBlk:\t0000000000000000");
    expect(out.lines[1]).toBe("SigIgn:\t0000000000001000");
    expect(Number(out.lines[2])).toBe(out.pid);
    expect(out.lines.slice(3)).toEqual(["0027", "77", dir, "5", "123"]);
  });

  test("a missing directory: 200/CHDIR and systemd's line; with '-' the program runs", async () => {
    const bad = await run(spec({ workingDirectory: { path: "/nonexistent-bunit", optional: false } }));
    expect(bad.exit).toEqual({ code: 200, signal: null });
    expect(bad.lines).toEqual(["Failed at step CHDIR spawning /bin/sh: No such file or directory"]);
    const ok = await run(spec({ workingDirectory: { path: "/nonexistent-bunit", optional: true } }));
    expect(ok.exit).toEqual({ code: 0, signal: null });
  });

  test("an unknown program: 203/EXEC, through the exec status pipe too (Type=exec); a good one: EOF on it", async () => {
    const bad = await run(spec({ path: "/nonexistent/prog", execStatus: true }));
    expect(bad.exit).toEqual({ code: 203, signal: null });
    expect(bad.execResult).toBe(203);
    expect(bad.lines).toEqual(["Failed at step EXEC spawning /nonexistent/prog: No such file or directory"]);
    const good = await run(spec({ execStatus: true }));
    expect(good.execResult).toBeNull();
  });

  test("a limit the kernel refuses (soft above hard): 205/LIMITS", async () => {
    const out = await run(spec({ limits: { LimitNOFILE: { soft: 100, hard: 10 } } }));
    expect(out.exit).toEqual({ code: 205, signal: null });
    expect(out.lines[0]).toStartWith("Failed at step LIMITS");
  });

  test("PrivateNetwork=: only loopback, up (where namespaces are allowed; elsewhere the program runs anyway)", async () => {
    const out = await run(
      spec({ privateNetwork: true, argv: ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate"] }),
    );
    expect(out.exit.code).toBe(0);
    const namespacesAllowed = Bun.spawnSync(["unshare", "-n", "true"]).exitCode === 0;
    if (namespacesAllowed) expect(out.lines).toEqual(["lo", expect.any(String)]);
    else expect(out.lines).toContain("lo");
  });

  test("credentials through raw setgroups/setresgid/setresuid (root), or 216/GROUP (anyone else)", async () => {
    const out = await run(
      spec({
        argv: ["sh", "-c", "id -u; id -g; id -G"],
        credentials: { uid: 65534, gid: 65534, groups: [65534, 100], user: "nobody", home: "/", shell: "/bin/sh" },
      }),
    );
    if (n.getuid() === 0) {
      expect(out.exit.code).toBe(0);
      expect(out.lines).toEqual(["65534", "65534", "65534 100"]);
    } else {
      expect(out.exit.code).toBe(216);
    }
  });
});
