/**
 * The control socket under abuse, against a real `bunit daemon`: made-up unit names create
 * nothing, a non-root uid is capped in concurrent connections, 100 followers that never read
 * cost bounded memory, and at the fd limit the daemon pauses accepting (no busy loop) while it
 * keeps serving, and accepts again once fds are free.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { errorText } from "../../firmware/core/errors.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-ctllim-"));
const cliPath = join(repoRoot, "firmware", "cli.ts");
const bun = process.execPath;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Daemon {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  control: string;
  err: () => string;
}

async function startDaemon(name: string, units: Record<string, string>, prefix: string[] = []): Promise<Daemon> {
  const udir = join(dir, name, "units");
  mkdirSync(udir, { recursive: true });
  for (const [k, v] of Object.entries(units)) writeFileSync(join(udir, k), v.replaceAll("@DIR@", join(dir, name)));
  const control = join(dir, name, "run", "control");
  const proc = Bun.spawn([...prefix, bun, cliPath, "daemon", "--units", udir, "--control", control, "--no-cgroup"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  const d = { proc, control, err: () => err };
  await waitFor(async () => (await ask(control, { command: "status", units: [] }).catch(() => null)) !== null, 15000, `${name} daemon answers`).catch((e) => {
    throw new Error(`${errorText(e)}; daemon's stderr:\n${err}`);
  });
  return d;
}

async function stopDaemon(d: Daemon): Promise<void> {
  d.proc.kill("SIGTERM");
  await d.proc.exited;
}

/** One request over a fresh connection; the reply lines until the daemon closes. */
function ask(control: string, req: unknown, timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path: control });
    let buf = "";
    const t = setTimeout(() => (s.destroy(), reject(new Error(`no answer to ${JSON.stringify(req).slice(0, 80)}`))), timeoutMs);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(JSON.stringify(req) + "\n"));
    s.on("data", (d: string) => (buf += d));
    s.on("error", (e) => (clearTimeout(t), reject(e)));
    s.on("close", () => {
      clearTimeout(t);
      resolve(
        buf
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      );
    });
  });
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
};
const summaryUnits = async (d: Daemon) =>
  ((await ask(d.control, { command: "status", units: [] }))[0] as { data: { summary: { units: number } } }).data.summary.units;

describe("one daemon, many callers", () => {
  let d: Daemon;
  beforeAll(async () => {
    chmodSync(dir, 0o755);
    d = await startDaemon("main", {
      "noise.service":
        "[Service]\nExecStart=/bin/sh -c 'i=0; while [ $$i -lt 40000 ]; do echo noise-$$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$$((i+1)); done; exec sleep 600'\n",
    });
    chmodSync(join(dir, "main"), 0o755);
  });
  afterAll(async () => {
    if (d) await stopDaemon(d);
  });

  test("show and status of 25 000 made-up names create no units", async () => {
    const units = await summaryUnits(d);
    const rss = rssKiB(d.proc.pid);
    for (let batch = 0; batch < 10; batch++) {
      const names = Array.from({ length: 2000 }, (_, i) => `made-up-${batch}-${i}.service`);
      const [r] = (await ask(d.control, { command: "show", units: names })) as { ok: boolean; data: { properties: [string, string][][] } }[];
      expect(r!.ok).toBe(true);
      expect(r!.data.properties.length).toBe(2000);
      expect(r!.data.properties[1999]).toContainEqual(["LoadState", "not-found"]);
    }
    for (let i = 0; i < 5000; i++) {
      const [r] = (await ask(d.control, { command: "status", units: [`gone-${i}.socket`] })) as { ok: boolean; error: string }[];
      if (i === 0) expect(r).toEqual({ ok: false, error: `Unit gone-0.socket could not be found.`, code: 4 } as never);
    }
    expect(await summaryUnits(d)).toBe(units);
    const all = ((await ask(d.control, { command: "list-units", units: [], all: true }))[0] as { data: { units: unknown[] } }).data.units;
    expect(all.length).toBeLessThan(10);
    // Before: 40 000 names took the daemon from 47 to 433 MiB.
    const grown = rssKiB(d.proc.pid) - rss;
    console.log(`25 000 made-up names: RSS +${Math.round(grown / 1024)} MiB`);
    expect(grown).toBeLessThan(60 * 1024);
  });

  test("a non-root uid gets at most 16 connections at a time; the 17th on is refused with a reason", async () => {
    const script = join(dir, "many.ts");
    writeFileSync(
      script,
      `
import { createConnection } from "node:net";
const path = process.argv[2];
const socks = [];
const got = [];
for (let i = 0; i < 20; i++) {
  const s = createConnection({ path });
  got.push("");
  s.setEncoding("utf8");
  s.on("data", (d) => (got[i] += d));
  s.on("error", () => {});
  await new Promise((r) => s.on("connect", r));
  socks.push(s);
}
for (const s of socks) s.write(JSON.stringify({ command: "status", units: [] }) + "\\n");
const end = Date.now() + 4000;
while (got.some((g) => !g.includes("\\n")) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify(got));
process.exit(0);
`,
    );
    chmodSync(script, 0o644);
    const r = await $({ nothrow: true, quiet: true, cwd: "/" })`setpriv --reuid=65534 --regid=65534 --clear-groups ${bun} ${script} ${d.control}`;
    expect(r.exitCode, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as string[];
    for (const g of got.slice(0, 16)) expect(JSON.parse(g)).toMatchObject({ ok: true });
    for (const g of got.slice(16)) expect(JSON.parse(g)).toEqual({ ok: false, error: "too many control connections from uid 65534 (limit 16)" });
  }, 20_000);

  test("100 followers that never read cost bounded memory; readers are told what they missed", async () => {
    const rss = rssKiB(d.proc.pid);
    const followers: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const s = createConnection({ path: d.control });
      s.on("error", () => {});
      await new Promise((r) => s.on("connect", r));
      // One at a time, each answered: a burst of connects would overrun the listen backlog.
      const first = new Promise((r) => s.once("data", r));
      s.write(JSON.stringify({ command: "logs", units: [], follow: true, lines: 0 }) + "\n");
      await first;
      s.pause(); // never reads again: the kernel buffer fills, then the daemon's queue
      followers.push(s);
    }
    expect((await ask(d.control, { command: "start", units: ["noise.service"] }))[0]).toMatchObject({ ok: true });
    await waitFor(
      async () => {
        const [r] = (await ask(d.control, { command: "logs", units: ["noise.service"], lines: 1 })) as { data: { records: { message: string }[] } }[];
        return r!.data.records[0]?.message.startsWith("noise-39999-") ?? false;
      },
      30_000,
      "noise.service's 40 000 lines logged",
    );
    // Before: +315 MiB. Now each follower holds at most 256 KiB (plus the kernel's buffer).
    const grown = rssKiB(d.proc.pid) - rss;
    console.log(`100 unread followers: RSS +${Math.round(grown / 1024)} MiB`);
    expect(grown).toBeLessThan(100 * 1024);
    const slow = followers[0]!;
    let text = "";
    slow.setEncoding("utf8");
    slow.on("data", (x: string) => (text += x));
    slow.resume();
    await waitFor(() => text.includes('{"dropped":'), 10_000, "the dropped-records marker");
    for (const s of followers) s.destroy();
  }, 60_000);
});

describe("at the fd limit", () => {
  test("accepting pauses without a busy loop, open connections are served, and accepting resumes", async () => {
    const d = await startDaemon("emfile", {}, ["prlimit", "--nofile=64:64"]);
    try {
      const conns: { s: Socket; text: string; connected: boolean }[] = [];
      for (let i = 0; i < 110; i++) {
        const c = { s: createConnection({ path: d.control }), text: "", connected: false };
        c.s.setEncoding("utf8");
        c.s.on("data", (x: string) => (c.text += x));
        c.s.on("error", () => {});
        c.s.on("connect", () => (c.connected = true));
        conns.push(c);
      }
      await waitFor(() => d.err().includes("pausing new connections"), 10_000, "the daemon to reach its fd limit");
      // No busy loop: the daemon's CPU time stands still for 300 ms while connections wait.
      let last = cpuTicks(d.proc.pid);
      let since = Date.now();
      await waitFor(
        () => {
          const now = cpuTicks(d.proc.pid);
          if (now !== last) {
            last = now;
            since = Date.now();
          }
          return Date.now() - since >= 300;
        },
        5000,
        "the daemon's CPU time to stand still (a spinning accept loop never does)",
      );
      // Every connection that got through connect() is served in turn: each answered one frees an fd.
      const connected = conns.filter((c) => c.connected);
      expect(connected.length).toBeGreaterThan(40);
      for (const c of connected) {
        c.s.write(JSON.stringify({ command: "status", units: [] }) + "\n");
        await waitFor(() => c.text.includes("\n"), 10_000, "an answer on a waiting connection");
        expect(JSON.parse(c.text)).toMatchObject({ ok: true });
      }
      for (const c of conns) c.s.destroy();
      expect((await ask(d.control, { command: "status", units: [] }))[0]).toMatchObject({ ok: true });
    } finally {
      await stopDaemon(d);
    }
  }, 60_000);
});
