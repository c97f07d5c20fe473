#!/usr/bin/env bun
/**
 * Builds native/ (libbunit.so: the system calls Bun lacks and the clone3 spawn) for one architecture.
 *
 *   bun scripts/build-native.ts [--arch x86_64|aarch64] [--out DIR] [--force]
 *
 * Compiler choice: `zig cc` when a zig compiler is on PATH (it cross-compiles to every board
 * without extra packages), otherwise the Debian C compiler for the target
 * (cc for the host, aarch64-linux-gnu-gcc for arm64 boards, installed by scripts/setup-host.ts).
 * The result is cached: nothing is rebuilt while the outputs are newer than the sources.
 */
import { $ } from "zx";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { hostArch, nativeOutDir, repoRoot, type Arch } from "./lib/paths.ts";

$.verbose = false;

const SOURCES = ["native/bunit.c", "native/bunit-spawn.c"];

export interface NativeBuild {
  arch: Arch;
  dir: string;
  lib: string;
  compiler: string;
}

async function which(cmd: string): Promise<boolean> {
  return (await $`command -v ${cmd}`.nothrow()).exitCode === 0;
}

export async function pickCompiler(arch: Arch): Promise<string[]> {
  if (await which("zig")) return ["zig", "cc", "-target", `${arch}-linux-gnu`];
  if (arch === hostArch()) return ["cc"];
  const cross = `${arch}-linux-gnu-gcc`;
  if (await which(cross)) return [cross];
  throw new Error(`no C compiler for ${arch}: install zig or the Debian package gcc-${arch}-linux-gnu`);
}

function newestSource(): number {
  return Math.max(...SOURCES.map((s) => statSync(join(repoRoot, s)).mtimeMs), statSync(import.meta.path).mtimeMs);
}

function upToDate(outputs: string[]): boolean {
  if (!outputs.every((o) => existsSync(o))) return false;
  const oldest = Math.min(...outputs.map((o) => statSync(o).mtimeMs));
  return oldest >= newestSource();
}

export async function buildNative(opts: { arch?: Arch; out?: string; force?: boolean } = {}): Promise<NativeBuild> {
  const arch = opts.arch ?? hostArch();
  const dir = opts.out ?? nativeOutDir(arch);
  const lib = join(dir, "libbunit.so");
  mkdirSync(dir, { recursive: true });
  if (!opts.force && upToDate([lib])) return { arch, dir, lib, compiler: "cached" };
  const cc = await pickCompiler(arch);
  const flags = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-D_FORTIFY_SOURCE=2"];
  // Built beside and renamed into place: processes that have the old library mapped keep it intact.
  const tmp = `${lib}.tmp-${process.pid}`;
  await $`${cc} ${flags} -shared -fPIC -o ${tmp} ${SOURCES.map((s) => join(repoRoot, s))} -lpthread -lrt`;
  renameSync(tmp, lib);
  return { arch, dir, lib, compiler: cc.join(" ") };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const archIdx = args.indexOf("--arch");
  const outIdx = args.indexOf("--out");
  const built = await buildNative({
    arch: archIdx >= 0 ? (args[archIdx + 1] as Arch) : undefined,
    out: outIdx >= 0 ? args[outIdx + 1] : undefined,
    force: args.includes("--force"),
  });
  console.log(`native (${built.arch}, ${built.compiler}): ${built.dir}`);
}
