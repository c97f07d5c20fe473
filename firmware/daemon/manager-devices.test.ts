import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeHost } from "../testing/fake-host.ts";
import { Manager } from "./manager.ts";

let dir = "";
let m: Manager | null = null;
afterEach(async () => {
  await m?.shutdown(1_000_000);
  m = null;
  rmSync(dir, { recursive: true, force: true });
});

test("a device that enabled units want (a link in DEVICE.wants/, after presets were applied) is watched from boot", async () => {
  dir = mkdtempSync(join(tmpdir(), "bunit-mgr-dev-"));
  const units = join(dir, "units");
  const device = "sys-subsystem-net-devices-bunitzz9.device";
  mkdirSync(join(units, `${device}.wants`), { recursive: true });
  writeFileSync(join(units, "ondev.socket"), `[Socket]\nListenStream=${dir}/ondev.sock\n[Install]\nWantedBy=${device}\n`);
  writeFileSync(join(units, "ondev.service"), "[Service]\nExecStart=/bin/true\n");
  symlinkSync("../ondev.socket", join(units, `${device}.wants`, "ondev.socket"));
  writeFileSync(join(units, ".bunit-presets-applied"), ""); // enablement decided by the links, not by [Install]
  const f = new FakeHost();
  f.clock.fake.advance(1_000_000);
  m = new Manager({
    unitPath: [units],
    ...f.managerParts(),
  });
  await m.boot();
  const dev = m.loadedUnits().find((u) => u.name === device);
  expect(dev?.subState()).toBe("dead"); // absent: watched, waiting for its uevent
  expect(
    m
      .loadedUnits()
      .find((u) => u.name === "ondev.socket")
      ?.activeState() ?? "inactive",
  ).toBe("inactive");
  expect(dev?.deviceEvent([`/sys/subsystem/net/devices/bunitzz9`], "add")).toBe(true);
});
