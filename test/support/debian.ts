/** Debian packages fetched for tests with `apt-get download` and unpacked (never installed), cached. */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { $ } from "zx";
import { cacheDir } from "../../scripts/lib/paths.ts";

$.verbose = false;

export async function unpackedPackages(name: string, packages: readonly string[]): Promise<string> {
  const root = join(cacheDir, "debian", name);
  const stamp = join(root, ".complete");
  if (existsSync(stamp)) return join(root, "root");
  const debs = join(root, "debs");
  mkdirSync(debs, { recursive: true });
  await $({ cwd: debs })`apt-get download ${packages}`;
  mkdirSync(join(root, "root"), { recursive: true });
  for (const f of readdirSync(debs)) if (f.endsWith(".deb")) await $`dpkg-deb -x ${join(debs, f)} ${join(root, "root")}`;
  await $`touch ${stamp}`;
  return join(root, "root");
}
