/**
 * The guest tier: builds the QEMU board image, boots it, runs `bun test` on test/guest inside
 * the guest (where configfs, FunctionFS, dummy_hcd, vsock loopback and uevents are real), and
 * fails when any guest test fails. The guest's console is kept in build/guest-console.log.
 * Then the *.host.test.ts files run here on the host: they boot the board themselves with
 * devices the host provides (host<->guest vsock through bunit's vhost-user back-end).
 *
 *   bun test/guest/run.ts [FILTER...]      # FILTERs select files as `bun test` does
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../../scripts/build-image.ts";
import { Guest } from "../../scripts/lib/qemu.ts";
import { buildDir, repoRoot } from "../../scripts/lib/paths.ts";

const isHostTest = (f: string) => f.endsWith(".host.test.ts");

function guestTestFiles(filter: string[]): { inGuest: string[]; onHost: string[] } {
  const all = readdirSync(join(repoRoot, "test/guest"))
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => `test/guest/${f}`)
    .filter((f) => !filter.length || filter.some((x) => f.includes(x)));
  return { inGuest: all.filter((f) => !isHostTest(f)), onHost: all.filter(isHostTest) };
}

export async function runGuestTier(board = process.env.BUNIT_BOARD ?? "qemu-x86_64", filter: string[] = []): Promise<void> {
  const { inGuest, onHost } = guestTestFiles(filter);
  if (!inGuest.length && !onHost.length) throw new Error(`no guest test matches ${filter.join(" ")}`);
  const img = await buildImage(board);
  if (inGuest.length) {
    const t0 = performance.now();
    const guest = await Guest.boot(img, { mode: "none" });
    console.log(`guest ${board} up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${guest.accel})`);
    try {
      const r = await guest.run(["/usr/bin/bun", "test", "--timeout", "120000", ...inGuest], {
        cwd: "/opt/bunit",
        timeoutMs: 40 * 60_000,
        env: { BUNIT_IN_GUEST: "1" },
      });
      process.stdout.write(r.stdout);
      process.stdout.write(r.stderr);
      if (r.code !== 0) throw new Error(`guest tests failed (${r.code ?? r.signal}) after ${(r.ms / 1000).toFixed(0)} s`);
    } finally {
      await guest.shutdown();
      mkdirSync(buildDir, { recursive: true });
      writeFileSync(join(buildDir, "guest-console.log"), guest.console.join("\n") + "\n");
    }
  }
  if (onHost.length && board === "qemu-x86_64") {
    const p = Bun.spawn([process.execPath, "test", "--timeout", "600000", ...onHost.map((f) => `./${f}`)], {
      cwd: repoRoot,
      stdout: "inherit",
      stderr: "inherit",
      env: { ...process.env, BUNIT_BOARD: board },
    });
    const code = await p.exited;
    if (code !== 0) throw new Error(`host-side guest tests failed (${code})`);
  }
}

if (import.meta.main) await runGuestTier(process.env.BUNIT_BOARD, process.argv.slice(2));
