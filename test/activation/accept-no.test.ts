import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { request, TestDaemon, testBinary, waitFor } from "../support/harness.ts";

let report: string;
beforeAll(async () => {
  report = await testBinary("sd-listen-report", ["libsystemd"]);
});

describe("Accept=no: the service starts on first traffic and gets the listening fds", () => {
  let d: TestDaemon;
  afterAll(() => d?.stop());

  test("a client connects, the C service built with libsystemd checks its fds with sd_listen_fds_with_names", async () => {
    d = await TestDaemon.start({
      "rep.socket": "[Socket]\nListenStream=@DIR@/rep.sock\n[Install]\nWantedBy=sockets.target\n",
      "rep.service": `[Service]\nExecStart=${report} --serve\n`,
    });
    expect(d.sub("rep.socket")).toBe("listening");
    expect(d.sub("rep.service")).toBe("dead");
    const reply = await request({ unix: d.path("rep.sock") });
    expect(reply).toBe("listen_fds=1 pid_ok=1\nfd=3 name=rep.socket kind=unix-stream listening=1 nonblock=0\n");
    await d.waitState("rep.service", ["dead", "running"]);
    await d.waitState("rep.socket", "listening");
    // The service exited: the next connection activates it again.
    expect(await request({ unix: d.path("rep.sock") })).toContain("listen_fds=1 pid_ok=1");
  });
});
