import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectLayers, writeCpio } from "./cpio.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-cpio-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("newc archives unpack with busybox cpio: layers, symlinks, modes, device nodes listed", () => {
  const a = join(dir, "a"),
    b = join(dir, "b");
  mkdirSync(join(a, "etc"), { recursive: true });
  mkdirSync(join(b, "etc"), { recursive: true });
  writeFileSync(join(a, "etc/x"), "from a\n");
  writeFileSync(join(a, "etc/keep"), "kept\n");
  writeFileSync(join(b, "etc/x"), "from b\n");
  writeFileSync(join(b, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
  symlinkSync("etc/x", join(b, "link"));
  const entries = collectLayers([a, b]);
  entries.set("dev/console", { kind: "char", mode: 0o600, major: 5, minor: 1 });
  entries.set("deep/new/file", { kind: "data", mode: 0o644, data: new TextEncoder().encode("odd") });
  const out = join(dir, "x.cpio");
  writeCpio(entries, out);
  const list = Bun.spawnSync(["busybox", "cpio", "-t", "-i", "-F", out]).stdout.toString().split("\n").filter(Boolean);
  expect(list).toEqual(["deep", "deep/new", "deep/new/file", "dev", "dev/console", "etc", "etc/keep", "etc/x", "link", "run.sh"]);
  const ex = join(dir, "ex");
  mkdirSync(ex);
  // Extract everything but the device node (mknod needs privileges we should not rely on).
  const r = Bun.spawnSync(["busybox", "cpio", "-i", "-d", "-F", out, "etc/x", "etc/keep", "link", "run.sh", "deep/new/file"], { cwd: ex });
  expect(r.exitCode).toBe(0);
  expect(readFileSync(join(ex, "etc/x"), "utf8")).toBe("from b\n");
  expect(readFileSync(join(ex, "etc/keep"), "utf8")).toBe("kept\n");
  expect(readFileSync(join(ex, "deep/new/file"), "utf8")).toBe("odd");
  expect(readlinkSync(join(ex, "link"))).toBe("etc/x");
  expect(statSync(join(ex, "run.sh")).mode & 0o777).toBe(0o755);
  // Reproducible: the same inputs give the same bytes.
  writeCpio(entries, join(dir, "y.cpio"));
  expect(Bun.hash(readFileSync(out))).toBe(Bun.hash(readFileSync(join(dir, "y.cpio"))));
});
