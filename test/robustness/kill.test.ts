/**
 * SIGKILL of an Accept=no service while connections wait in the listening socket's backlog:
 * the socket returns to listening, sees the waiting connections and starts the service again;
 * every connection the kernel had accepted gets its answer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { ServiceUnit } from "../../firmware/service/service-unit.ts";
import { request, testBinary, TestDaemon, waitFor } from "../support/harness.ts";

describe("SIGKILL of a service with connections waiting", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    const reply = await testBinary("reply-once");
    d = await TestDaemon.start({
      "k.socket": "[Socket]\nListenStream=@DIR@/k.sock\n[Install]\nWantedBy=sockets.target\n",
      // The first start hangs without accepting (it is the one killed); later ones answer one connection each.
      "k.service": `[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/sh -c 'if [ -e @DIR@/armed ]; then exec ${reply}; fi; touch @DIR@/armed; exec sleep 60'\n`,
    });
  });
  afterAll(() => d?.stop());

  test("the waiting connections are served by the next start", async () => {
    const answers = Array.from({ length: 3 }, () => request({ unix: d.path("k.sock") }, "", 15000));
    await waitFor(() => (d.unit("k.service") as ServiceUnit).mainPid !== null && existsSync(d.path("armed")), 5000, "the first start to hang");
    process.kill((d.unit("k.service") as ServiceUnit).mainPid!, "SIGKILL");
    expect(await Promise.all(answers)).toEqual(["x", "x", "x"]);
    expect(d.messages("k.service").some((m) => m.includes("status=9/KILL"))).toBe(true);
    expect(d.sub("k.socket")).not.toBe("failed");
  }, 20000);
});
