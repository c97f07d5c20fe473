/**
 * SIGKILL (or the OOM killer) of the daemon itself, on the host: the services it ran keep
 * running under init, in its `bunit-PID` cgroup, holding their listening sockets. The next
 * daemon on the same units must start clean: the leftovers killed and their cgroup removed
 * before it opens a socket, so the port is free (no EADDRINUSE), the service runs once (no
 * second copy beside the orphan), and the socket answers from the new copy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { killSubtree, ownCgroupDir, removeSubtree, subtreePopulated } from "../../firmware/exec/cgroup.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { cgroup2Missing, request, testPort, waitFor } from "../support/harness.ts";

const noCgroup = cgroup2Missing();
const dir = mkdtempSync(join(tmpdir(), "bunit-sec-kill-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const port = testPort();
// A marker only this test's services carry in their command line.
const marker = `bunit-sec-kill-${process.pid}`;
const daemons: Bun.Subprocess[] = [];
const logs: string[] = [];

const cli = (...a: string[]) =>
  $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${process.execPath} ${join(repoRoot, "firmware", "cli.ts")} ${a}`;

function startDaemon(): Bun.Subprocess<"ignore", "ignore", "pipe"> {
  const d = Bun.spawn(
    [
      process.execPath,
      join(repoRoot, "firmware", "cli.ts"),
      "daemon",
      "--units",
      units,
      "--control",
      control,
      "--log-level",
      "debug",
      "--log-target",
      "console",
    ],
    {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const i = logs.push("") - 1;
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of d.stderr) logs[i] += dec.decode(c, { stream: true });
  })();
  daemons.push(d);
  return d;
}

/** Pids of live processes whose command line carries the marker (zombies excluded). */
function markedPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readFileSync(`/proc/${e}/cmdline`, "utf8").includes(marker)) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${e}/status`, "utf8"))) continue;
      out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

beforeAll(() => {
  mkdirSync(units, { recursive: true });
  // The server answers every connection with its pid, so the test sees which copy serves.
  const server = `import socket,os,sys\\ns=socket.socket(fileno=3)\\nwhile True:\\n  c,_=s.accept(); c.sendall(str(os.getpid()).encode()); c.close()\\n`;
  writeFileSync(join(units, "srv.socket"), `[Socket]\nListenStream=127.0.0.1:${port}\n[Install]\nWantedBy=sockets.target\n`);
  writeFileSync(join(units, "srv.service"), `[Service]\nExecStart=/usr/bin/python3 -c "exec('''${server}''')" ${marker}\n`);
  writeFileSync(join(units, "lone.service"), `[Service]\nExecStart=/bin/sh -c 'sleep 600; :' ${marker}\n[Install]\nWantedBy=multi-user.target\n`);
});

afterAll(async () => {
  for (const d of daemons) {
    d.kill("SIGTERM");
    await d.exited;
  }
  for (const pid of markedPids()) process.kill(pid, "SIGKILL");
  // Whatever a daemon of this test left (a failing run leaves the SIGKILLed one's services).
  const parent = ownCgroupDir();
  for (const d of parent ? daemons : []) {
    const cg = join(parent!, `bunit-${d.pid}`);
    if (!existsSync(cg)) continue;
    killSubtree(cg, (pid, sig) => process.kill(pid, sig));
    await waitFor(() => !subtreePopulated(cg), 5000, "leftovers gone").catch(() => {});
    removeSubtree(cg);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("the daemon SIGKILLed with a running service and a listening socket", () => {
  test.skipIf(noCgroup !== null)(
    `the next daemon kills the leftovers, binds the port and runs one copy${noCgroup ? ` [skipped: ${noCgroup}]` : ""}`,
    async () => {
      const a = startDaemon();
      await waitFor(async () => (await cli("status")).exitCode === 0, 15_000, "the first daemon up");
      const firstServer = Number(await request({ port }, "", 10_000));
      expect(firstServer).toBeGreaterThan(0);
      await waitFor(() => markedPids().length === 2, 10_000, "both services running");
      const oldCgroup = join(ownCgroupDir()!, `bunit-${a.pid}`);
      expect(existsSync(oldCgroup)).toBe(true);

      a.kill("SIGKILL");
      await a.exited;
      // What the issue describes: the services outlive the daemon, under init.
      expect(markedPids()).toContain(firstServer);

      startDaemon();
      await waitFor(async () => (await cli("status")).exitCode === 0, 15_000, "the second daemon up");
      const answer = Number(await request({ port }, "", 10_000));
      expect(answer).toBeGreaterThan(0);
      expect(answer).not.toBe(firstServer);
      await waitFor(() => markedPids().length === 2, 10_000, "the new copies");
      expect(markedPids()).not.toContain(firstServer);
      expect(existsSync(oldCgroup)).toBe(false);
      expect((await cli("status", "srv.socket")).stdout).not.toContain("failed");
      expect(logs[1]).toContain(`A previous bunit (PID ${a.pid}) died without stopping its units`);
    },
    60_000,
  );
});
