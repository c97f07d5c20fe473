/**
 * A fuzzer for the control protocol against a real `bunit daemon` (seeded: BUNIT_FUZZ_SEED
 * reproduces a run; bounded: 1500 requests, one connection each): the daemon does not crash,
 * its memory stays bounded, and every request, however malformed, gets one JSON reply, an
 * error message for every bad one. Root sends them (so they reach every handler); requests that
 * could change what runs name only units that do not exist (firmware/control/fuzz-requests.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorText } from "../../firmware/core/errors.ts";
import { fuzzRequest, rng } from "../../firmware/control/fuzz-requests.ts";
import { parseRequest } from "../../firmware/control/protocol.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-ctlfuzz-"));
const units = join(dir, "units");
const control = join(dir, "run", "control");
const seed = Number(process.env.BUNIT_FUZZ_SEED ?? 2026);
let daemon: Bun.Subprocess<"ignore", "pipe", "pipe">;
let daemonErr = "";

/** Writes bytes on a fresh connection; the first reply line (null when the daemon closed without one). */
function exchange(bytes: Uint8Array, timeoutMs = 10_000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path: control });
    let buf = "";
    const t = setTimeout(() => (s.destroy(), reject(new Error("no reply within 10 s"))), timeoutMs);
    const done = (v: string | null) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    s.setEncoding("utf8");
    s.on("connect", () => s.write(bytes));
    s.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(buf.slice(0, nl));
    });
    s.on("error", (e) => (clearTimeout(t), reject(e)));
    s.on("close", () => done(null));
  });
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

beforeAll(async () => {
  mkdirSync(units, { recursive: true });
  writeFileSync(join(units, "web.socket"), `[Socket]\nListenStream=${dir}/web.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`);
  writeFileSync(join(units, "web@.service"), "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n");
  writeFileSync(join(units, "a.service"), "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n");
  daemon = Bun.spawn(
    [process.execPath, join(repoRoot, "firmware", "cli.ts"), "daemon", "--units", units, "--control", control, "--no-cgroup", "--log-target", "none"],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  void (async () => {
    for await (const c of daemon.stderr) daemonErr += new TextDecoder().decode(c);
  })();
  await waitFor(async () => (await exchange(new TextEncoder().encode('{"command":"status"}\n')).catch(() => null)) !== null, 15000, "daemon answers").catch(
    (e) => {
      throw new Error(`${errorText(e)}; daemon's stderr:\n${daemonErr}`);
    },
  );
});

afterAll(async () => {
  daemon.kill("SIGTERM");
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

test(`1500 hostile requests (seed ${seed}): one JSON reply each, errors for bad ones, no crash, bounded memory`, async () => {
  const next = rng(seed);
  const rss = rssKiB(daemon.pid);
  const dec = new TextDecoder();
  let bad = 0;
  for (let i = 0; i < 1500; i++) {
    const r = fuzzRequest(next);
    const text = dec.decode(r.bytes);
    const nl = text.indexOf("\n");
    let valid = nl >= 0;
    if (valid) {
      try {
        parseRequest(text.slice(0, nl));
      } catch {
        valid = false;
      }
    }
    const where = `seed ${seed}, request ${i}: ${JSON.stringify(text.slice(0, 160))}`;
    const line = await exchange(r.bytes).catch((e) => `(${errorText(e)})`);
    expect(line, where).not.toBeNull();
    let reply: { ok?: unknown; error?: unknown };
    try {
      reply = JSON.parse(line!);
    } catch {
      throw new Error(`${where}: the reply is not JSON: ${line}`);
    }
    expect(typeof reply.ok, where).toBe("boolean");
    if (!valid) {
      bad++;
      expect(reply.ok, where).toBe(false);
    }
    if (reply.ok === false) {
      expect(typeof reply.error, where).toBe("string");
      expect(reply.error as string, where).not.toMatch(/(null|undefined) is not an object|Cannot read propert|is not a function/);
    }
    expect(daemon.exitCode, `${where}: the daemon exited\n${daemonErr}`).toBeNull();
  }
  expect(bad).toBeGreaterThan(300);
  // Still whole: it answers, its units are there, and its memory did not run away.
  const status = JSON.parse((await exchange(new TextEncoder().encode('{"command":"status","units":["web.socket"]}\n')))!);
  expect(status).toMatchObject({ ok: true, data: { units: [{ unit: "web.socket", activeState: "active" }] } });
  expect(rssKiB(daemon.pid) - rss).toBeLessThan(64 * 1024);
}, 120_000);
