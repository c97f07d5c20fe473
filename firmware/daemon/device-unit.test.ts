import { describe, expect, test } from "bun:test";
import { FakeClock } from "../core/clock.ts";
import { Logger } from "../core/log.ts";
import type { UnitHost, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { DEVICE_JOB_TIMEOUT_USEC, DeviceUnit, devicePathOfUnit, devicePathsOf, devicePresent } from "./device-unit.ts";

function host(clock: FakeClock, changes: string[]): UnitHost {
  return {
    clock,
    logger: new Logger("error"),
    stateChanged: (u: UnitRuntime, from: string, to: string) => changes.push(`${from}->${to}:${u.activeState()}`),
  } as unknown as UnitHost;
}
const cfg = (name: string) => ({ name }) as unknown as LoadedUnit;

describe("device units", () => {
  test("names map to paths as systemd's do, and uevents to those paths", () => {
    expect(devicePathOfUnit("sys-subsystem-net-devices-usb0.device")).toBe("/sys/subsystem/net/devices/usb0");
    expect(devicePathOfUnit("dev-ttyGS0.device")).toBe("/dev/ttyGS0");
    expect(devicePathOfUnit("sys-module-cdc_acm.device")).toBe("/sys/module/cdc_acm");
    expect(devicePathOfUnit("x.socket")).toBeNull();
    const ev = { action: "add", devpath: "/devices/virtual/net/usb0", subsystem: "net", seqnum: 1n, env: { INTERFACE: "usb0" }, source: "kernel" as const };
    expect(devicePathsOf(ev)).toEqual(["/sys/devices/virtual/net/usb0", "/sys/subsystem/net/devices/usb0"]);
    expect(devicePresent("/sys/subsystem/net/devices/usb0", (p) => p === "/sys/class/net/usb0")).toBe(true);
  });

  test("plugged is active; a start job for an absent device waits, then times out", () => {
    const clock = new FakeClock();
    const changes: string[] = [];
    const absent = new DeviceUnit(cfg("sys-subsystem-net-devices-usb0.device"), host(clock, changes), () => false);
    expect(absent.activeState()).toBe("inactive");
    absent.start();
    expect(absent.activeState()).toBe("activating");
    expect(absent.deviceEvent(["/elsewhere"], "add")).toBe(false);
    expect(absent.deviceEvent(["/sys/subsystem/net/devices/usb0"], "add")).toBe(true);
    expect(absent.activeState()).toBe("active");
    expect(absent.deviceEvent(["/sys/subsystem/net/devices/usb0"], "remove")).toBe(false);
    expect(absent.activeState()).toBe("inactive");
    absent.start();
    clock.advance(DEVICE_JOB_TIMEOUT_USEC);
    expect(absent.activeState()).toBe("inactive");
    expect(absent.result).toBe("timeout");
    expect(changes).toEqual([
      "dead->tentative:activating",
      "tentative->plugged:active",
      "plugged->dead:inactive",
      "dead->tentative:activating",
      "tentative->dead:inactive",
    ]);
  });

  test("a present device is active at once; stop leaves it inactive until it comes again", () => {
    const clock = new FakeClock();
    const u = new DeviceUnit(cfg("dev-ttyGS0.device"), host(clock, []), (p) => p === "/dev/ttyGS0");
    expect(u.activeState()).toBe("active");
    u.stop();
    expect(u.activeState()).toBe("inactive");
    u.deviceEvent(["/dev/ttyGS0"], "remove");
    expect(u.deviceEvent(["/dev/ttyGS0"], "add")).toBe(true);
    expect(u.activeState()).toBe("active");
  });
});

test("a device unit asks for uevents (the manager opens the uevent monitor for it)", () => {
  const u = new DeviceUnit(cfg("dev-ttyGS9.device"), host(new FakeClock(), []), () => false);
  expect(u.wantsUevents()).toBe(true);
});
