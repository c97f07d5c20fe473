#!/usr/bin/env bun
/**
 * The project's test command (`npm test`): installs what the tests need, builds the native
 * module, type-checks, then runs the tiers in order and stops at the first failure.
 *
 *   bun scripts/test-all.ts [--tier unit|host|guest]... [--skip-setup]
 *
 *   unit   pure logic beside the code (firmware/**\/*.test.ts)
 *   host   real sockets and processes on this machine (test/activation, test/...)
 *   guest  image builds for every board (test/images), then the QEMU board: boots it and
 *          runs test/guest inside it
 */
import { $ } from "zx";
import { join } from "node:path";
import { buildNative } from "./build-native.ts";
import { ensurePackages, HOST_PACKAGES } from "./setup-host.ts";
import { repoRoot } from "./lib/paths.ts";

$.verbose = false;

const TIERS = ["unit", "host", "guest"] as const;
type Tier = (typeof TIERS)[number];

function parse(argv: string[]): { tiers: Tier[]; setup: boolean } {
  const tiers: Tier[] = [];
  let setup = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--tier") tiers.push(argv[++i] as Tier);
    else if (argv[i] === "--skip-setup") setup = false;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  for (const t of tiers) if (!TIERS.includes(t)) throw new Error(`unknown tier ${t}`);
  return { tiers: tiers.length ? tiers : [...TIERS], setup };
}

async function step(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  process.stdout.write(`\n=== ${name}\n`);
  await fn();
  process.stdout.write(`=== ${name}: ok (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}

const bun = process.execPath;

async function bunTest(paths: string[]): Promise<void> {
  await $({ cwd: repoRoot, stdio: "inherit" })`${bun} test ${paths}`;
}

const { tiers, setup } = parse(process.argv.slice(2));
const started = performance.now();
try {
  if (setup) {
    await step("host packages", () =>
      ensurePackages([...HOST_PACKAGES.native, ...HOST_PACKAGES.tests, ...(tiers.includes("guest") ? HOST_PACKAGES.image : [])]),
    );
  }
  await step("native module", () => buildNative());
  await step("typecheck (tsc --noEmit, strict)", () => $({ cwd: repoRoot, stdio: "inherit" })`${join(repoRoot, "node_modules/.bin/tsc")} --noEmit -p .`);
  if (tiers.includes("unit")) await step("unit tests", () => bunTest(["firmware", "scripts"]));
  if (tiers.includes("host")) await step("host tests (real sockets and processes, robustness)", () => bunTest(["test/activation", "test/robustness"]));
  if (tiers.includes("guest")) {
    await step("image builds (every board; arm64 boot under emulation)", () => bunTest(["test/images"]));
    const { runGuestTier } = await import("../test/guest/run.ts");
    await step("guest tests (inside the QEMU board)", () => runGuestTier());
  }
  console.log(`\nall tests passed in ${((performance.now() - started) / 60000).toFixed(1)} min`);
} catch (e) {
  console.error(`\ntests failed: ${(e as Error).message.split("\n")[0]}`);
  process.exit(1);
}
