/**
 * Enablement decides what starts at boot (firmware/install/): a daemon's shipped .service with
 * WantedBy=multi-user.target and its socket, with a preset enabling only the socket, gives a
 * listening socket at boot and the service only at the first connection.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { installLayout } from "../../firmware/install/layout.ts";
import { firstBoot } from "../../firmware/install/operations.ts";
import { TestDaemon, unixListening, waitFor } from "../support/harness.ts";

/** A shipped daemon: its service is installed for multi-user.target, its socket for sockets.target. */
const SHIPPED: Record<string, string> = {
  "web.socket": "[Socket]\nListenStream=@DIR@/web.sock\n[Install]\nWantedBy=sockets.target\n",
  "web.service":
    "[Unit]\nRequires=web.socket\n[Service]\nExecStart=/bin/sh -c 'echo started >> @DIR@/starts; exec sleep 60'\n[Install]\nWantedBy=multi-user.target\nAlso=web.socket\n",
};
/** TestDaemon writes files under DIR/units; presets live beside it, in DIR/system-preset. */
const preset = (text: string) => ({ "../system-preset/50-test.preset": text });

let d: TestDaemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

const starts = (t: TestDaemon) => (existsSync(t.path("starts")) ? readFileSync(t.path("starts"), "utf8").trim().split("\n").length : 0);

describe("enablement at boot", () => {
  test("a preset enabling only the socket: socket at boot, the service at the first connection", async () => {
    d = await TestDaemon.start({ ...SHIPPED, ...preset("enable web.socket\ndisable *\n") });
    expect(d.sub("web.socket")).toBe("listening");
    expect(unixListening(d.path("web.sock"))).toBe(true);
    expect(d.sub("web.service")).toBe("dead");
    expect(starts(d)).toBe(0);
    const c = await Bun.connect({ unix: d.path("web.sock"), socket: { data() {} } });
    await d.waitState("web.service", "running");
    await waitFor(() => starts(d!) === 1, 5000, "the service's start line");
    c.end();
  });

  test("no preset files: every unit with install rules is enabled, so the service starts at boot (bunit's old behaviour)", async () => {
    d = await TestDaemon.start(SHIPPED);
    await d.waitState("web.service", "running");
    expect(d.sub("web.socket")).toBe("running"); // its service runs: the socket is not watched
    await waitFor(() => starts(d!) === 1, 5000, "the service's start line");
  });

  test("disable * and nothing else: nothing starts, the socket is not even bound", async () => {
    d = await TestDaemon.start({ ...SHIPPED, ...preset("disable *\n") });
    expect(d.sub("web.socket")).toBe("dead");
    expect(existsSync(d.path("web.sock"))).toBe(false);
    expect(d.sub("web.service")).toBe("dead");
  });

  test("once presets were applied, the links decide: a new preset file changes nothing until preset-all", async () => {
    d = await TestDaemon.start({ ...SHIPPED, ...preset("enable web.socket\ndisable *\n") }, { boot: false });
    const fb = firstBoot(installLayout([d.path("units")]));
    expect(fb?.errors).toEqual([]);
    expect(fb?.lines).toEqual([`Created symlink '${d.path("units/sockets.target.wants/web.socket")}' → '${d.path("units/web.socket")}'.`]);
    await Bun.write(d.path("system-preset/10-all.preset"), "enable *\n");
    d.manager.reloadUnits();
    expect(await d.manager.boot()).toBe("done");
    expect(d.sub("web.socket")).toBe("listening");
    expect(d.sub("web.service")).toBe("dead");
  });
});
