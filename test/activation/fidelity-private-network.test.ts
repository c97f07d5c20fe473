/**
 * PrivateNetwork= (issue 14: systemd-socket-proxyd's man-page unit uses it): the service runs in
 * a network namespace of its own with only loopback, up; the sockets bunit passes still work
 * (they were made in the daemon's namespace). Without it the service sees the host's interfaces.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { TestDaemon } from "../support/harness.ts";

/** Interface names from a copy of /proc/net/dev. */
const interfaces = (text: string) =>
  text
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter(Boolean)
    .sort();

describe("fidelity: PrivateNetwork=", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start(
      {
        "private.service":
          "[Service]\nType=oneshot\nRemainAfterExit=yes\nPrivateNetwork=yes\nExecStart=/bin/sh -c 'cat /proc/net/dev > @DIR@/private; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags > @DIR@/lo'\n",
        "host.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'cat /proc/net/dev > @DIR@/host'\n",
      },
      { boot: false },
    );
  });
  afterAll(() => d?.stop());

  test("a service with PrivateNetwork=yes sees only loopback, and loopback is up", async () => {
    expect(await d.manager.start("private.service")).toBe("done");
    expect(await d.manager.start("host.service")).toBe("done");
    const host = interfaces(readFileSync(d.path("host"), "utf8"));
    expect(host.length).toBeGreaterThan(1); // this machine has more than loopback
    expect(interfaces(readFileSync(d.path("private"), "utf8"))).toEqual(["lo"]);
    const flags = Number(readFileSync(d.path("lo"), "utf8").trim().split("\n")[1]);
    expect(flags & 1).toBe(1); // IFF_UP
  });
});
