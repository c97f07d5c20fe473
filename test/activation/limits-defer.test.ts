import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestDaemon, waitFor } from "../support/harness.ts";

describe("limit intervals and deferred activation", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      // Activations ~150 ms apart: a 50 ms window never holds 3 of them; the default 2 s would.
      "spaced.socket": "[Socket]\nListenStream=@DIR@/spaced.sock\nTriggerLimitIntervalSec=50ms\nTriggerLimitBurst=3\n[Install]\nWantedBy=sockets.target\n",
      "spaced.service": "[Service]\nExecStart=/bin/sleep 0.15\nStartLimitBurst=1000\n",
      "poll.socket": "[Socket]\nListenStream=@DIR@/poll.sock\nAccept=yes\nPollLimitIntervalSec=300ms\nPollLimitBurst=3\nXAttrAccept=user.conn=1\n[Install]\nWantedBy=sockets.target\n",
      "poll@.service": "[Service]\nExecStart=/bin/true\n",
      "blocker.service": "[Service]\nExecStart=/bin/sleep 60\n",
      "deferred.socket": "[Socket]\nListenStream=@DIR@/deferred.sock\nDeferTrigger=yes\nFlushPending=yes\n[Install]\nWantedBy=sockets.target\n",
      "deferred.service": "[Unit]\nConflicts=blocker.service\n[Service]\nExecStart=/bin/sh -c 'echo ran > @DIR@/deferred.ran'\n",
      "patient.socket": "[Socket]\nListenStream=@DIR@/patient.sock\nDeferTrigger=patient\nDeferTriggerMaxSec=500ms\n[Install]\nWantedBy=sockets.target\n",
      "patient.service": "[Unit]\nConflicts=blocker.service\n[Service]\nExecStart=/bin/true\n",
      "replace.socket": "[Socket]\nListenStream=@DIR@/replace.sock\nFlushPending=yes\n[Install]\nWantedBy=sockets.target\n",
      "replace.service": "[Unit]\nConflicts=blocker.service\n[Service]\nExecStart=/bin/true\n",
    });
  });
  afterAll(() => d?.stop());

  test("TriggerLimitIntervalSec= sets the window of the trigger limit", async () => {
    const c = await Bun.connect({ unix: d.path("spaced.sock"), socket: { data() {} } });
    await Bun.sleep(1200);
    expect(d.sub("spaced.socket")).not.toBe("failed");
    const starts = d.messages("spaced.service").filter((m) => /^Main process \d+:/.test(m)).length;
    expect(starts).toBeGreaterThan(4);
    c.end();
    await d.manager.stop("spaced.socket");
  });

  test("PollLimitIntervalSec= ends the pause after the window", async () => {
    const cs = await Promise.all(Array.from({ length: 8 }, () => Bun.connect({ unix: d.path("poll.sock"), socket: { data() {} } })));
    await Bun.sleep(100);
    expect(d.socket("poll.socket").connections.nAccepted).toBe(3);
    await waitFor(() => d.socket("poll.socket").connections.nAccepted > 3, 2000, "accepting again after the window");
    for (const c of cs) c.end();
    // DeferTrigger=yes below gives up whenever a unit stops with no job pending: let every
    // instance of this test end first.
    await d.manager.stop("poll.socket");
    await waitFor(() => d.manager.loadedUnits().every((u) => !u.name.startsWith("poll@") || u.activeState() === "inactive"), 3000, "poll@ instances gone");
  });

  test("XAttrAccept= is applied to accepted connections (or the kernel's refusal logged)", () => {
    expect(d.messages("poll.socket").join("\n")).toContain("XAttrAccept=user.conn");
  });

  test("DeferTrigger=yes waits while the activation would stop an active unit, then proceeds", async () => {
    await d.manager.start("blocker.service");
    const c = await Bun.connect({ unix: d.path("deferred.sock"), socket: { data() {} } });
    await d.waitState("deferred.socket", "deferred");
    expect(d.sub("blocker.service")).toBe("running");
    await d.manager.stop("blocker.service");
    await waitFor(() => Bun.file(d.path("deferred.ran")).size > 0, 3000, "deferred service ran");
    c.end();
  });

  test("DeferTriggerMaxSec= bounds the wait: the socket fails with 'timeout'", async () => {
    await d.manager.start("blocker.service");
    const c = await Bun.connect({ unix: d.path("patient.sock"), socket: { data() {} } });
    await d.waitState("patient.socket", "deferred");
    await d.waitState("patient.socket", "failed", 3000);
    expect(d.socket("patient.socket").result).toBe("timeout");
    expect(d.sub("blocker.service")).toBe("running");
    c.end();
  });

  test("without DeferTrigger= the activation replaces: the conflicting unit is stopped", async () => {
    expect(d.sub("blocker.service")).toBe("running");
    const c = await Bun.connect({ unix: d.path("replace.sock"), socket: { data() {} } });
    await d.waitState("blocker.service", "dead", 3000);
    c.end();
  });
});
