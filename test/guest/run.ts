/**
 * The guest tier: builds the QEMU board image, boots it, runs `bun test` on test/guest inside
 * the guest (where configfs, FunctionFS, dummy_hcd, vsock loopback and uevents are real), and
 * fails when any guest test fails. The guest's console is kept in build/guest-console.log.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../../scripts/build-image.ts";
import { Guest } from "../../scripts/lib/qemu.ts";
import { buildDir } from "../../scripts/lib/paths.ts";

export async function runGuestTier(board = process.env.BUNIT_BOARD ?? "qemu-x86_64", filter: string[] = []): Promise<void> {
  const img = await buildImage(board);
  const t0 = performance.now();
  const guest = await Guest.boot(img, { mode: "none" });
  console.log(`guest ${board} up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${guest.accel})`);
  try {
    const r = await guest.run(["/usr/bin/bun", "test", "--timeout", "120000", ...(filter.length ? filter : ["test/guest"])], { cwd: "/opt/bunit", timeoutMs: 40 * 60_000, env: { BUNIT_IN_GUEST: "1" } });
    process.stdout.write(r.stdout);
    process.stdout.write(r.stderr);
    if (r.code !== 0) throw new Error(`guest tests failed (${r.code ?? r.signal}) after ${(r.ms / 1000).toFixed(0)} s`);
  } finally {
    await guest.shutdown();
    mkdirSync(buildDir, { recursive: true });
    writeFileSync(join(buildDir, "guest-console.log"), guest.console.join("\n") + "\n");
  }
}

if (import.meta.main) await runGuestTier(process.env.BUNIT_BOARD, process.argv.slice(2));
