/** Where things live in a checkout. Shared by scripts/ and tests. */
import { arch as osArch } from "node:os";
import { join, resolve } from "node:path";

export type Arch = "x86_64" | "aarch64";

export const repoRoot = resolve(import.meta.dir, "..", "..");
export const buildDir = join(repoRoot, "build");
export const cacheDir = process.env.BUNIT_CACHE ?? join(repoRoot, ".cache");

export function hostArch(): Arch {
  const a = osArch();
  if (a === "x64") return "x86_64";
  if (a === "arm64") return "aarch64";
  throw new Error(`unsupported host architecture ${a}`);
}

export function nativeOutDir(arch: Arch): string {
  return join(buildDir, "native", arch);
}
