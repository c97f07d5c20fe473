/**
 * SIGKILL of the daemon where there is no cgroup (`--no-cgroup`, or no writable cgroup2): the
 * next daemon could not find what the old one left, so a service dies with the daemon that
 * started it (PR_SET_PDEATHSIG set by the spawned child), and the next daemon binds its port again.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { request, testPort, waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-kill-nocg-"));
const daemons: Bun.Subprocess[] = [];
afterAll(async () => {
  for (const d of daemons) d.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function daemon(units: string, control: string): { proc: Bun.Subprocess<"ignore", "ignore", "pipe">; log: () => string } {
  const proc = Bun.spawn([process.execPath, join(repoRoot, "firmware", "cli.ts"), "daemon", "--units", units, "--control", control, "--no-cgroup"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  daemons.push(proc);
  let text = "";
  void (async () => {
    for await (const c of proc.stderr) text += new TextDecoder().decode(c);
  })();
  return { proc, log: () => text };
}

test("without cgroups a service dies with its SIGKILLed daemon, and the next daemon serves the port", async () => {
  const units = join(dir, "units");
  mkdirSync(units, { recursive: true });
  const port = testPort();
  const pidFile = join(dir, "server.pid");
  writeFileSync(join(units, "srv.socket"), `[Socket]\nListenStream=127.0.0.1:${port}\n[Install]\nWantedBy=sockets.target\n`);
  writeFileSync(
    join(units, "srv.service"),
    `[Service]\nExecStart=/usr/bin/python3 -c 'import os,socket; open("${pidFile}","w").write(str(os.getpid())); s=socket.socket(fileno=3)\\nwhile True:\\n c,_=s.accept(); c.sendall(str(os.getpid()).encode()+b"\\\\n"); c.close()'\n`,
  );
  const first = daemon(units, join(dir, "c1"));
  await waitFor(() => first.log().includes("Reached default.target"), 15_000, "the first daemon up");
  const answer1 = await request({ port }, "", 10_000);
  const pid1 = Number(answer1.trim());
  expect(pid1).toBeGreaterThan(1);
  first.proc.kill("SIGKILL");
  await first.proc.exited;
  // The service goes with its daemon (a process with no parent but init would keep the port).
  await waitFor(
    () => !existsSync(`/proc/${pid1}`) || readFileSync(`/proc/${pid1}/stat`, "utf8").includes(") Z "),
    10_000,
    "the service to die with its daemon",
  );
  const second = daemon(units, join(dir, "c2"));
  await waitFor(() => second.log().includes("Reached default.target"), 15_000, "the second daemon up");
  expect(second.log()).not.toContain("EADDRINUSE");
  const pid2 = Number((await request({ port }, "", 10_000)).trim());
  expect(pid2).not.toBe(pid1);
  second.proc.kill("SIGTERM");
  await second.proc.exited;
}, 60_000);
