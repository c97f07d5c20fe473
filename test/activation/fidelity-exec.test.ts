/**
 * Execution behaviours checked against systemd with real processes (issue 14): the "-" prefix of
 * ExecStart= for the main process, and settings the kernel refuses for want of a capability.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { ServiceUnit } from "../../firmware/service/service-unit.ts";
import { request, TestDaemon, waitFor } from "../support/harness.ts";

/** Whether this process may lower oom_score_adj (CAP_SYS_RESOURCE), read from its capability set. */
function mayLowerOomScore(): boolean {
  const eff = readFileSync("/proc/self/status", "utf8").match(/^CapEff:\s*([0-9a-f]+)$/m)?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

describe("fidelity: exec", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start(
      {
        "dash.socket": "[Socket]\nListenStream=@DIR@/dash.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
        "dash@.service": "[Unit]\nOnFailure=alarm.service\n[Service]\nExecStart=-/bin/sh -c 'echo bye; exit 255'\nStandardInput=socket\nRestart=on-failure\n",
        "alarm.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "open.service":
          "[Service]\nType=oneshot\nRemainAfterExit=yes\nUser=nobody\nOpenFile=@DIR@/secret:data:read-only\nExecStart=/bin/sh -c 'echo \"$$LISTEN_FDS $$LISTEN_FDNAMES $$(cat <&3)\" > @DIR@/out/open'\n",
        "missing.service": "[Service]\nType=oneshot\nOpenFile=@DIR@/nonexistent/foo:missing-file:read-only\nExecStart=/bin/true\n",
        "graceful.service": "[Service]\nType=oneshot\nOpenFile=@DIR@/nonexistent/foo:missing-file:read-only,graceful\nExecStart=/bin/true\n",
        "oom.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nOOMScoreAdjust=-100\nExecStart=/bin/sh -c 'cat /proc/self/oom_score_adj > @DIR@/oom'\n",
      },
      { boot: false },
    );
    chmodSync(d.dir, 0o755);
    writeFileSync(d.path("secret"), "root only\n", { mode: 0o600 });
    mkdirSync(d.path("out"));
    chownSync(d.path("out"), 65534, 65534);
    await d.manager.boot();
  });
  afterAll(() => d?.stop());

  test("Accept=yes with ExecStart=-...: exit 255 is deactivated successfully, no OnFailure=, no restart", async () => {
    await d.waitState("dash.socket", "listening");
    expect(await request({ unix: d.path("dash.sock") })).toBe("bye\n");
    const ended = (m: string) => d.logs.some((r) => r.unit?.startsWith("dash@") && r.message === m);
    await waitFor(() => ended("Deactivated successfully.") || ended("Failed with result 'exit-code'."), 5000, "the instance to end");
    expect(ended("Deactivated successfully.")).toBe(true);
    expect(ended("Failed with result 'exit-code'.")).toBe(false);
    expect(d.logs.some((r) => r.message.includes("Scheduled restart job"))).toBe(false);
    expect(d.logs.some((r) => r.unit === "alarm.service")).toBe(false);
  });

  test("OOMScoreAdjust= lowering the score without CAP_SYS_RESOURCE: the service still starts (systemd ignores EPERM/EACCES)", async () => {
    await d.manager.start("oom.service");
    await d.waitState("oom.service", ["exited", "failed"]);
    expect(d.sub("oom.service")).toBe("exited");
    const got = readFileSync(d.path("oom"), "utf8").trim();
    if (mayLowerOomScore()) expect(got).toBe("-100");
    else expect(got).toBe(readFileSync("/proc/self/oom_score_adj", "utf8").trim());
  });

  test("OpenFile=: the daemon opens a file the User=nobody service may not read and passes it as fd 3 with its name", async () => {
    expect(await d.manager.start("open.service")).toBe("done");
    expect(readFileSync(d.path("out", "open"), "utf8")).toBe("1 data root only\n");
  });

  test("OpenFile= of a missing path fails the start with status 202; with graceful the service runs", async () => {
    expect(await d.manager.start("missing.service")).not.toBe("done");
    expect((d.unit("missing.service") as ServiceUnit).mainExit).toEqual({ code: 202, signal: null });
    expect(await d.manager.start("graceful.service")).toBe("done");
    expect((d.unit("graceful.service") as ServiceUnit).mainExit).toEqual({ code: 0, signal: null });
  });
});
