/**
 * Hostile unit files against `bunit verify` (the same parser the daemon loads units with):
 *   - 200 KB of backslash continuation lines parse in linear time (the old parser re-scanned
 *     the growing logical line at each line: 12-20 s);
 *   - a 20 MB line is refused at systemd's LONG_LINE_MAX (1 MiB) with an error naming the file
 *     and the line, without the memory blow-up (762 MB before).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/lib/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-sec-parse-"));
mkdirSync(join(dir, "units"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function verify(name: string, text: string): Promise<{ code: number; out: string; ms: number; maxRssMiB: number }> {
  const file = join(dir, "units", name);
  writeFileSync(file, text);
  const t0 = performance.now();
  const p = Bun.spawn([process.execPath, join(repoRoot, "firmware", "cli.ts"), "verify", "--units", join(dir, "units"), file], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  const ms = performance.now() - t0;
  const usage = p.resourceUsage();
  // maxRSS is in bytes in Bun's resourceUsage() (ru_maxrss scaled).
  const maxRssMiB = Number(usage?.maxRSS ?? 0) / (1024 * 1024);
  return { code, out: out + err, ms, maxRssMiB };
}

describe("unit files built to exhaust the parser", () => {
  test("200 KB of continuation lines: parsed in linear time and accepted", async () => {
    const r = await verify("cont.service", `[Service]\nExecStart=/bin/true \\\n${"x \\\n".repeat(50_000)}y\n`);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
    // Bun's start-up included; the quadratic parser took 12 s here.
    expect(r.ms).toBeLessThan(4000);
  }, 30_000);

  test("a 20 MB line: 'Line too long' at file:line, exit 1, memory bounded", async () => {
    const r = await verify("long.service", `[Unit]\nDescription=x\n[Service]\nEnvironment=A=${"x".repeat(20_000_000)}\nExecStart=/bin/true\n`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${join(dir, "units", "long.service")}:4: error: Line too long (more than 1048576 bytes, systemd's LONG_LINE_MAX)`);
    // The file itself is 20 MB; the old parser peaked at 762 MB.
    expect(r.maxRssMiB).toBeGreaterThan(0);
    expect(r.maxRssMiB).toBeLessThan(200);
  }, 30_000);
});
