/**
 * Unit behaviours checked against systemd with real sockets and processes (issue 14): a
 * condition-skipped service under a waiting connection (TEST-07-PID1.issue-2467), directories
 * owned by User=/Group=, stops propagated through Requires=/PartOf=.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import * as n from "../../firmware/native.ts";
import * as C from "../../firmware/sys/constants.ts";
import { TestDaemon, waitFor } from "../support/harness.ts";

describe("fidelity: units", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start(
      {
        // TEST-07-PID1.issue-2467's units, paths moved into the test directory.
        "issue2467.socket": "[Socket]\nListenStream=@DIR@/test.ctl\n",
        "issue2467.service": "[Unit]\nRequires=issue2467.socket\nConditionPathExistsGlob=@DIR@/nonexistent\n[Service]\nExecStart=/bin/true\n",
        "dirs.service":
          "[Service]\nType=oneshot\nRemainAfterExit=yes\nUser=nobody\nGroup=nogroup\nRuntimeDirectory=dirs\nStateDirectory=dirs\nCacheDirectory=dirs\nLogsDirectory=dirs\nExecStart=/bin/true\n",
        "whole.service": "[Service]\nExecStart=/bin/sleep 60\n",
        "part.socket": "[Unit]\nPartOf=whole.service\n[Socket]\nListenStream=@DIR@/part.sock\n",
        "part.service": "[Service]\nExecStart=/bin/true\n",
        "req.socket": "[Socket]\nListenStream=@DIR@/req.sock\n",
        "req.service": "[Unit]\nRequires=req.socket\nAfter=req.socket\n[Service]\nExecStart=/bin/sleep 60\n",
      },
      { boot: false },
    );
    await d.manager.boot();
  });
  afterAll(() => d?.stop());

  test("issue 2467: a service skipped by its condition does not strand the socket; a waiting connection hits the trigger limit", async () => {
    expect(await d.manager.start("issue2467.socket")).toBe("done");
    const fd = n.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC);
    try {
      n.connect(fd, { family: "unix", path: d.path("test.ctl"), abstract: false });
      await waitFor(() => d.unit("issue2467.socket").activeState() === "failed", 10_000, "the socket to fail");
      expect(d.unit("issue2467.socket").result).toBe("trigger-limit-hit");
      expect(d.messages("issue2467.service").some((m) => m.includes("Main process"))).toBe(false);
    } finally {
      n.close(fd);
    }
  }, 15_000);

  test("RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory= belong to User=/Group=", async () => {
    expect(await d.manager.start("dirs.service")).toBe("done");
    for (const root of ["run", "state", "cache", "log"]) {
      const st = statSync(d.path(root, "dirs"));
      expect([root, st.uid, st.gid]).toEqual([root, 65534, 65534]);
    }
  });

  test("stopping a service stops the socket PartOf= it; stopping a socket stops the service that Requires= it", async () => {
    expect(await d.manager.start("part.socket")).toBe("done");
    expect(await d.manager.start("whole.service")).toBe("done");
    expect(await d.manager.stop("whole.service")).toBe("done");
    await d.waitState("part.socket", "dead");
    expect(await d.manager.start("req.service")).toBe("done");
    expect(d.unit("req.socket").activeState()).toBe("active");
    expect(await d.manager.stop("req.socket")).toBe("done");
    await d.waitState("req.service", "dead");
  });
});
