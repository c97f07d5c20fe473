import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../core/clock.ts";
import { FunctionReadiness } from "./function-readiness.ts";
import { kernelGadgetIo, parseProcMounts } from "./gadget-kernel.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { debug() {}, info() {}, warning() {}, error() {} };

test("readiness comes from the injected FunctionReadiness, or from endpoint files a service wrote", () => {
  dir = mkdtempSync(join(tmpdir(), "bunit-gk-"));
  const readiness = new FunctionReadiness();
  const io = kernelGadgetIo(quiet, readiness, new FakeClock(), { gadgetRoot: join(dir, "g"), udcClass: join(dir, "udc") });
  let changes = 0;
  const off = io.onReadyChange(() => changes++);
  const mount = join(dir, "ffs");
  expect(io.functionReady(mount)).toBe(false); // no such directory
  readiness.mark(mount, true);
  expect(io.functionReady(mount)).toBe(true);
  readiness.mark(mount, false);
  expect(changes).toBe(2);
  // A service that writes its own descriptors: only ep0 means not ready, ep1 appearing means ready.
  const other = mkdtempSync(join(dir, "ffs2-"));
  writeFileSync(join(other, "ep0"), "");
  expect(io.functionReady(other)).toBe(false);
  writeFileSync(join(other, "ep1"), "");
  expect(io.functionReady(other)).toBe(true);
  off();
  readiness.mark(mount, true);
  expect(changes).toBe(2);
  // Another instance is another daemon: it does not leak in.
  expect(kernelGadgetIo(quiet, new FunctionReadiness()).functionReady(mount)).toBe(false);
});

test("/proc/mounts fields are unescaped", () => {
  expect(parseProcMounts("loop /run/my\\040ffs functionfs rw 0 0\n")).toEqual([{ source: "loop", target: "/run/my ffs", fstype: "functionfs" }]);
});
