/**
 * Daemon upgrade and unit reload while traffic flows: `bunit daemon-reexec` and `bunit reload`
 * run in the middle of a stream of connections. No connection may fail, the listening
 * sockets must be the same kernel objects afterwards (same inode: never closed), running
 * services keep their processes, and an answer in progress across the exec still arrives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { request, testPort, waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-upgrade-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const cliPath = join(repoRoot, "firmware", "cli.ts");
const bun = process.execPath;
const port = testPort();
const slowPort = testPort();
const holdPort = testPort();
let daemon: Bun.Subprocess<"ignore", "ignore", "pipe">;
let daemonLog = "";
const reexecs = () => daemonLog.match(/ re-executed \(/g)?.length ?? 0;

const cli = (...a: string[]) => $({ env: { ...process.env, BUNIT_CONTROL: control }, nothrow: true, quiet: true })`${bun} ${cliPath} ${a}`;

/** The inode of the socket listening on a TCP port (from /proc/net/tcp). */
function listenInode(p: number): string | null {
  const hex = p.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === "0A") return f[9] ?? null;
  }
  return null;
}

beforeAll(async () => {
  mkdirSync(units, { recursive: true });
  const files: Record<string, string> = {
    "hello.socket": `[Socket]\nListenStream=127.0.0.1:${port}\nAccept=yes\nMaxConnections=512\nTriggerLimitBurst=0\nPollLimitBurst=0\n[Install]\nWantedBy=sockets.target\n`,
    "hello@.service": "[Service]\nExecStart=/bin/echo hello\nStandardOutput=socket\n",
    "slow.socket": `[Socket]\nListenStream=127.0.0.1:${slowPort}\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`,
    "slow@.service": "[Service]\nExecStart=/bin/sh -c 'sleep 1.5; echo late'\nStandardOutput=socket\n",
    "keeper.service": "[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n",
    "hold.socket": `[Socket]\nListenStream=127.0.0.1:${holdPort}\nAccept=yes\nMaxConnections=2\n[Install]\nWantedBy=sockets.target\n`,
    "hold@.service": "[Service]\nExecStart=/bin/sh -c 'echo up; read x; echo bye $x'\nStandardInput=socket\n",
  };
  for (const [k, v] of Object.entries(files)) writeFileSync(join(units, k), v);
  daemon = Bun.spawn([bun, cliPath, "daemon", "--units", units, "--control", control, "--log-level", "debug", "--log-target", "console"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of daemon.stderr) daemonLog += dec.decode(c, { stream: true });
  })();
  await waitFor(async () => (await cli("status")).exitCode === 0 && listenInode(port) !== null, 15000, "daemon up");
});

afterAll(async () => {
  daemon.kill("SIGTERM");
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("upgrade and reload under traffic", () => {
  test("daemon-reexec ×3 and reload ×2 while 8 clients connect in a loop: nothing refused or lost", async () => {
    const inode = listenInode(port);
    const mainPid = async () => JSON.parse((await cli("status", "keeper.service", "--json")).stdout).units[0].service.mainPid as number;
    const keeper = await mainPid();
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const r = await request({ port }, "", 10000);
          if (r === "hello\n") ok++;
          else failures.push(`answer ${JSON.stringify(r)}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    const late = request({ port: slowPort }, "", 15000); // answered by a process started before the exec
    await waitFor(async () => (await cli("list-units")).stdout.includes("slow@"), 10000, "the slow instance runs before the first exec");
    const steps: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await cli("daemon-reexec");
      steps.push(`reexec ${r.exitCode}`);
      await waitFor(async () => (await cli("status")).exitCode === 0, 15000, "daemon answers after reexec");
      if (i < 2) {
        // A settings-only change to the activated service, and a no-op reload.
        writeFileSync(join(units, "hello@.service"), `[Service]\nExecStart=/bin/echo hello\nStandardOutput=socket\nEnvironment=ROUND=${i}\n`);
        const rl = await cli("reload");
        steps.push(`reload ${rl.exitCode} ${rl.stdout.trim()}`);
      }
      // Traffic goes on between the steps: the next one happens under load.
      const seen = ok;
      await waitFor(() => ok >= seen + 20, 15000, "connections answered between steps");
    }
    running = false;
    await Promise.all(workers);
    expect(await late).toBe("late\n");
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(steps.filter((s) => s.startsWith("reexec")).every((s) => s === "reexec 0")).toBe(true);
    expect(steps.filter((s) => s.startsWith("reload")).every((s) => s.startsWith("reload 0"))).toBe(true);
    // Same listening socket (never closed), same daemon pid, same service process.
    expect(listenInode(port)).toBe(inode);
    expect((await cli("status", "--json")).stdout).toContain(`"pid":${daemon.pid}`);
    expect(await mainPid()).toBe(keeper);
    // Each daemon-reexec did replace the process image (not only answer "ok").
    expect(reexecs()).toBe(3);
    // The slow instance was running at the first exec; the new process saw it end.
    const afterFirst = daemonLog.slice(daemonLog.indexOf(" re-executed ("));
    expect(afterFirst).toMatch(/slow@\S+\.service: Deactivated successfully/);
    console.log(`  ${ok} connections answered across 3 re-executions and 2 reloads, 0 failed`);
  }, 90000);

  test("reload reopens a socket whose ports changed and keeps the others", async () => {
    const helloInode = listenInode(port);
    const newPort = slowPort + 1;
    writeFileSync(join(units, "slow.socket"), `[Socket]\nListenStream=127.0.0.1:${newPort}\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`);
    const r = await cli("reload");
    expect(r.stdout).toContain("sockets reopened: slow.socket");
    await waitFor(() => listenInode(newPort) !== null, 5000, "slow.socket on its new port");
    expect(listenInode(slowPort)).toBeNull();
    expect(listenInode(port)).toBe(helloInode);
    // A unit file with an error: rejected, the unit keeps running on its old configuration.
    writeFileSync(join(units, "hello.socket"), `[Socket]\nListenStream=127.0.0.1:${port}\nAccept=yes\nBacklog=lots\n`);
    const bad = await cli("reload");
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain("rejected: hello.socket");
    expect(bad.stdout).toContain(`hello.socket:4: error: Backlog=`);
    expect(await request({ port })).toBe("hello\n");
    expect(listenInode(port)).toBe(helloInode);
  }, 30000);

  test("Accept=yes instances are carried over daemon-reexec: tracked, and counted by MaxConnections=", async () => {
    /** A connection kept open; resolves lines as the instance writes them. */
    const hold = async () => {
      let text = "";
      let closed = false;
      const s = await Bun.connect({
        hostname: "127.0.0.1",
        port: holdPort,
        socket: { data: (_s, d) => void (text += Buffer.from(d).toString()), close: () => void (closed = true) },
      });
      return { s, text: () => text, closed: () => closed };
    };
    const a = await hold();
    const b = await hold();
    await waitFor(() => a.text() === "up\n" && b.text() === "up\n", 10000, "both instances up");
    const before = reexecs();
    expect((await cli("daemon-reexec")).exitCode).toBe(0);
    await waitFor(() => reexecs() === before + 1, 15000, "the re-execution");
    await waitFor(async () => (await cli("status")).exitCode === 0, 15000, "daemon answers after reexec");
    // Both instances are units of the new process...
    const listed = (await cli("list-units", "--json")).stdout;
    expect(listed.match(/"hold@[^"]+\.service"/g)?.length).toBe(2);
    // ...and still hold both of MaxConnections=2: a third connection is refused.
    const refused = await request({ port: holdPort }, "", 5000);
    expect(refused).toBe("");
    await waitFor(() => daemonLog.includes("hold.socket: Too many incoming connections (2), dropping connection."), 5000, "the refusal");
    // The instances' connections still work; when they end, their slots are free again.
    a.s.write("one\n");
    b.s.write("two\n");
    await waitFor(() => a.closed() && b.closed(), 10000, "both instances done");
    expect(a.text()).toBe("up\nbye one\n");
    expect(b.text()).toBe("up\nbye two\n");
    await waitFor(
      () => (daemonLog.slice(daemonLog.lastIndexOf(" re-executed (")).match(/hold@\S+\.service: Deactivated successfully/g)?.length ?? 0) === 2,
      10000,
      "both instances collected by the new process",
    );
    expect(await request({ port: holdPort }, "three\n", 5000)).toBe("up\nbye three\n");
  }, 60000);
});
