/**
 * Device units on the host: WantedBy=a device starts a socket when the device is there at
 * start (coldplug); a device that is absent keeps its wanted units stopped.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { TestDaemon } from "../support/harness.ts";

describe("device units", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      "onlo.socket":
        "[Unit]\nBindsTo=sys-subsystem-net-devices-lo.device\nAfter=sys-subsystem-net-devices-lo.device\n[Socket]\nListenStream=@DIR@/onlo.sock\n[Install]\nWantedBy=sys-subsystem-net-devices-lo.device\n",
      "onlo.service": "[Service]\nExecStart=/bin/true\n",
      "never.socket": "[Socket]\nListenStream=@DIR@/never.sock\n[Install]\nWantedBy=sys-subsystem-net-devices-bunitnope0.device\n",
      "never.service": "[Service]\nExecStart=/bin/true\n",
    });
  });
  afterAll(() => d?.stop());

  test("a socket WantedBy= a present device starts with it (coldplug)", async () => {
    await d.waitState("onlo.socket", "listening");
    expect(existsSync(d.path("onlo.sock"))).toBe(true);
    expect(d.unit("sys-subsystem-net-devices-lo.device").subState()).toBe("plugged");
  });

  test("a socket WantedBy= an absent device does not start", () => {
    expect(d.sub("never.socket")).toBe("dead");
    expect(existsSync(d.path("never.sock"))).toBe(false);
    expect(d.unit("sys-subsystem-net-devices-bunitnope0.device").activeState()).toBe("inactive");
  });
});
