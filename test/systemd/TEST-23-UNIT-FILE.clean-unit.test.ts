/**
 * systemd test/units/TEST-23-UNIT-FILE.clean-unit.sh, the socket part: a socket's
 * ConfigurationDirectory=/RuntimeDirectory=/StateDirectory=/CacheDirectory=/LogsDirectory= are
 * created on start; `clean` is refused while it runs; stop removes the runtime directory;
 * `clean --what=...` removes the others as systemctl does (default: runtime and cache).
 * Fixtures: units/TEST-23-UNIT-FILE.clean-unit/.
 *
 * Not ported: the service and mount parts (DynamicUser=, a .mount unit), which have no socket.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, rmSync, statSync } from "node:fs";
import { BunitDaemon } from "./support.ts";

const NAME = `bunit-st-${process.pid}-test-socket`;
const DIRS = { configuration: `/etc/${NAME}`, runtime: `/run/${NAME}`, state: `/var/lib/${NAME}`, cache: `/var/cache/${NAME}`, logs: `/var/log/${NAME}` };
let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
  for (const p of Object.values(DIRS)) rmSync(p, { recursive: true, force: true });
});

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** `test -d` (true) / `test ! -e` (false) for each of the five directories. */
function expectDirs(want: Record<keyof typeof DIRS, boolean>): void {
  const got = Object.fromEntries(Object.entries(DIRS).map(([k, p]) => [k, want[k as keyof typeof DIRS] ? isDir(p) : existsSync(p)]));
  const expected = Object.fromEntries(Object.entries(want).map(([k, v]) => [k, v]));
  expect(got).toEqual(expected);
}

test("socket unit: directories created on start, clean refused while running, clean --what= after stop", async () => {
  d = await BunitDaemon.start("TEST-23-UNIT-FILE.clean-unit", { NAME });
  await d.ok("reload");

  expectDirs({ configuration: false, runtime: false, state: false, cache: false, logs: false });

  await d.ok("start", "test-service.socket");
  expectDirs({ configuration: true, runtime: true, state: true, cache: true, logs: true });

  expect((await d.ctl("clean", "test-service.socket")).code).not.toBe(0);

  await d.ok("stop", "test-service.socket");
  // upstream: test -d /etc, test ! -d /run, test -d the rest
  expect(isDir(DIRS.configuration)).toBe(true);
  expect(isDir(DIRS.runtime)).toBe(false);
  expect(isDir(DIRS.state)).toBe(true);
  expect(isDir(DIRS.cache)).toBe(true);
  expect(isDir(DIRS.logs)).toBe(true);

  await d.ok("clean", "test-service.socket", "--what=configuration");
  expect(existsSync(DIRS.configuration)).toBe(false);
  expect(isDir(DIRS.runtime)).toBe(false);
  expect(isDir(DIRS.state)).toBe(true);
  expect(isDir(DIRS.cache)).toBe(true);
  expect(isDir(DIRS.logs)).toBe(true);

  await d.ok("clean", "test-service.socket");
  expectDirs({ configuration: false, runtime: false, state: true, cache: false, logs: true });

  await d.ok("clean", "test-service.socket", "--what=logs");
  expectDirs({ configuration: false, runtime: false, state: true, cache: false, logs: false });

  await d.ok("clean", "test-service.socket", "--what=all");
  expectDirs({ configuration: false, runtime: false, state: false, cache: false, logs: false });
}, 60000);
