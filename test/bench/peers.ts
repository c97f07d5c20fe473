/**
 * Benchmark peers taken from Debian's packages without installing them (xinetd and
 * openbsd-inetd conflict): downloaded with bunit's private apt state and unpacked under
 * .cache/bench/<package>.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { $ } from "zx";
import { PrivateApt } from "../../scripts/lib/apt.ts";
import { cacheDir } from "../../scripts/lib/paths.ts";

$.verbose = false;
export const PEER_PACKAGES = ["xinetd", "openbsd-inetd"] as const;

export function peerRoot(pkg: (typeof PEER_PACKAGES)[number]): string {
  return join(cacheDir, "bench", pkg);
}

export async function unpackPeers(): Promise<void> {
  const todo = PEER_PACKAGES.filter((p) => !existsSync(join(peerRoot(p), "usr/sbin")));
  if (!todo.length) return;
  const apt = new PrivateApt(join(cacheDir, "apt"), ["amd64", "arm64"]);
  if (apt.listsAgeHours() > 24 * 7) await apt.update();
  const debs = await apt.download(todo.map((p) => `${p}:amd64`));
  for (const [i, p] of todo.entries()) {
    mkdirSync(peerRoot(p), { recursive: true });
    await $`dpkg-deb -x ${debs[i]!} ${peerRoot(p)}`;
  }
}
