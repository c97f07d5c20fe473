import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { TestDaemon, waitFor, xattrAnswer } from "../support/harness.ts";

// What this kernel answers to user.* on a socket's own inode (sockfs), where XAttrAccept= sets it.
const userOnSocket = xattrAnswer("fd", "user.conn", tmpdir());

describe("limit intervals and deferred activation", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      // Activations ~150 ms apart: a 50 ms window never holds 3 of them; the default 2 s would.
      "spaced.socket": "[Socket]\nListenStream=@DIR@/spaced.sock\nTriggerLimitIntervalSec=50ms\nTriggerLimitBurst=3\n[Install]\nWantedBy=sockets.target\n",
      "spaced.service": "[Service]\nExecStart=/bin/sleep 0.15\nStartLimitBurst=1000\n",
      "poll.socket":
        "[Socket]\nListenStream=@DIR@/poll.sock\nAccept=yes\nPollLimitIntervalSec=1s\nPollLimitBurst=3\nXAttrAccept=user.conn=1\n[Install]\nWantedBy=sockets.target\n",
      // Each instance reads the attribute of its connection (fd 3) back; getfattr's complaint if none.
      "poll@.service": "[Service]\nExecStart=/bin/sh -c 'getfattr --only-values -n user.conn /proc/self/fd/3 > @DIR@/conn-%i.xattr 2>&1; exit 0'\n",
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
    // The pending connection re-triggers the service each time it exits. Burst=3 activations
    // within the default 2 s would fail the socket; in 50 ms windows they never come together.
    const starts = () => d.messages("spaced.service").filter((m) => /^Main process \d+:/.test(m)).length;
    await waitFor(() => starts() >= 6 || d.sub("spaced.socket") === "failed", 10000, "6 activations or a failed socket");
    expect(d.sub("spaced.socket")).not.toBe("failed");
    expect(starts()).toBeGreaterThanOrEqual(6);
    c.end();
    await d.manager.stop("spaced.socket");
  }, 15000);

  test("PollLimitIntervalSec= ends the pause after the window", async () => {
    // Looked at inside the event that hits the limit: what the window let through by then.
    const paused = d.atRecord(
      (r) => r.unit === "poll.socket" && r.message.startsWith("Poll limit hit"),
      () => d.socket("poll.socket").connections.nAccepted,
      5000,
      "the poll limit to be hit",
    );
    const cs = await Promise.all(Array.from({ length: 8 }, () => Bun.connect({ unix: d.path("poll.sock"), socket: { data() {} } })));
    await waitFor(() => d.socket("poll.socket").connections.nAccepted === 8, 5000, "all 8 accepted, the last 5 after the window");
    expect(await paused).toBe(3);
    // Instance N is started right after accept number N; the window began at the first.
    const startedAt = (i: number) => d.logs.find((r) => r.unit?.startsWith(`poll@${i}-`) && r.message === "Changed dead -> start")!.timeMs;
    // 1 s window; up to 10 ms of difference between the accept and its instance's record.
    expect(startedAt(3) - startedAt(0)).toBeGreaterThanOrEqual(1000 - 10);
    for (const c of cs) c.end();
    // DeferTrigger=yes below gives up whenever a unit stops with no job pending: let every
    // instance of this test end first.
    await d.manager.stop("poll.socket");
    await waitFor(() => d.manager.loadedUnits().every((u) => !u.name.startsWith("poll@") || u.activeState() === "inactive"), 3000, "poll@ instances gone");
  }, 15000);

  // What the instances of the test above read from their connections.
  const readBack = () =>
    readdirSync(d.dir)
      .filter((f) => f.startsWith("conn-") && f.endsWith(".xattr"))
      .map((f) => readFileSync(d.path(f), "utf8"));
  const refusals = () => d.messages("poll.socket").filter((m) => m.startsWith("XAttrAccept="));
  test.skipIf(userOnSocket !== null)(
    `XAttrAccept=: set on each accepted connection where the kernel allows user.* on a socket's inode${userOnSocket ? ` [skipped: this kernel refuses it: ${userOnSocket}]` : ""}`,
    () => {
      expect(readBack()).toEqual(Array(d.socket("poll.socket").connections.nAccepted).fill("1"));
      expect(refusals()).toEqual([]);
    },
  );
  test.skipIf(userOnSocket === null)(
    `XAttrAccept=: the kernel's refusal of user.* on a socket's inode is logged for each connection, nothing set${userOnSocket ? `, ${userOnSocket}` : " [skipped: this kernel allows it]"}`,
    () => {
      const n = d.socket("poll.socket").connections.nAccepted;
      expect(refusals()).toEqual(
        Array(n).fill(expect.stringMatching(new RegExp(`^XAttrAccept=user\\.conn: fsetxattr user\\.conn: .*\\(${userOnSocket}\\), ignoring$`))),
      );
      const back = readBack();
      expect(back.length).toBe(n);
      for (const t of back) expect(t.trim()).toEndWith("user.conn: No such attribute");
    },
  );

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
