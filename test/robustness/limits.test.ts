/**
 * Robustness of the daemon (in this process, so /proc/self counts its fds and memory):
 *   - an Accept=yes flood far past MaxConnections: excess connections are refused, another
 *     socket keeps answering meanwhile, and no fd or memory is left behind;
 *   - a crashing service under Restart=: the start limit ends the loop, the socket fails with
 *     service-start-limit-hit, nothing leaks;
 *   - a service that never consumes its trigger: the trigger limit stops the socket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { request, settled, TestDaemon, waitFor } from "../support/harness.ts";

const fdCount = () => readdirSync("/proc/self/fd").length;
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.on("error", reject);
  });
}

describe("robustness under load", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      "flood.socket":
        "[Socket]\nListenStream=@DIR@/flood.sock\nAccept=yes\nMaxConnections=10\nBacklog=1024\nTriggerLimitIntervalSec=0\nPollLimitIntervalSec=0\n[Install]\nWantedBy=sockets.target\n",
      "flood@.service": "[Service]\nExecStart=/bin/sh -c 'read line; echo bye'\nStandardInput=socket\n",
      "other.socket": "[Socket]\nListenStream=@DIR@/other.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
      "other@.service": "[Service]\nExecStart=/bin/echo pong\nStandardInput=socket\n",
      "crash.socket": "[Socket]\nListenStream=@DIR@/crash.sock\n[Install]\nWantedBy=sockets.target\n",
      "crash.service": "[Unit]\nStartLimitIntervalSec=20s\nStartLimitBurst=4\n[Service]\nExecStart=/bin/sh -c 'exit 3'\nRestart=always\nRestartSec=20ms\n",
      "busy.socket": "[Socket]\nListenStream=@DIR@/busy.sock\nTriggerLimitIntervalSec=5s\nTriggerLimitBurst=8\n[Install]\nWantedBy=sockets.target\n",
      "busy.service": "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/true\n",
    });
  });
  afterAll(() => d?.stop());

  test("an Accept=yes flood past MaxConnections: refused, the daemon stays responsive, nothing leaks", async () => {
    const instances = () => d.manager.loadedUnits().filter((u) => u.name.startsWith("flood@")).length;
    const round = async (n: number) => {
      const clients = (await Promise.allSettled(Array.from({ length: n }, () => open(d.path("flood.sock"))))).flatMap((r) =>
        r.status === "fulfilled" ? [r.value] : [],
      );
      return clients;
    };
    // Warm up once, then take the baseline.
    for (const c of await round(20)) c.destroy();
    await waitFor(() => instances() === 0, 10000, "warm-up instances to end");
    Bun.gc(true);
    const fd0 = fdCount();
    const rss0 = rssMiB();

    const clients = await round(400);
    // Meanwhile another socket of the same daemon answers at once.
    const t0 = performance.now();
    expect(await request({ unix: d.path("other.sock") })).toBe("pong\n");
    const answerMs = performance.now() - t0;
    expect(answerMs).toBeLessThan(2000);
    await waitFor(() => d.socket("flood.socket").connections.nRefused > 300, 10000, "refusals");
    expect(instances()).toBeLessThanOrEqual(10);
    expect(d.messages("flood.socket").some((m) => m.startsWith("Too many incoming connections (10)"))).toBe(true);
    // Release everything; the instances end (read() sees EOF) and are collected.
    for (const c of clients) c.destroy();
    await waitFor(() => instances() === 0, 15000, "flood instances to end");
    // The last fds (connections, pidfds, pipes) close as their owners are collected: a leak is
    // an fd that never does.
    const fdLeak = await settled(
      () => fdCount() - fd0,
      (n) => n <= 2,
      5000,
    );
    Bun.gc(true);
    const rssGrowth = rssMiB() - rss0;
    console.log(
      `flood: ${d.socket("flood.socket").connections.nAccepted} accepted, ${d.socket("flood.socket").connections.nRefused} refused; other socket answered in ${answerMs.toFixed(1)} ms; fds ${fd0} -> ${fd0 + fdLeak}; RSS +${rssGrowth.toFixed(1)} MiB`,
    );
    expect(fdLeak).toBeLessThanOrEqual(2);
    expect(rssGrowth).toBeLessThan(40);
    expect(d.sub("flood.socket")).toBe("listening");
  }, 60000);

  test("a crashing service under Restart=: the start limit ends the loop, nothing leaks", async () => {
    const fd0 = fdCount();
    const c = await open(d.path("crash.sock"));
    await d.waitState("crash.socket", "failed", 10000);
    expect(d.socket("crash.socket").result).toBe("service-start-limit-hit");
    const starts = d.messages("crash.service").filter((m) => /^Main process \d+:/.test(m)).length;
    expect(starts).toBe(4);
    c.destroy();
    expect(
      await settled(
        () => fdCount() - fd0,
        (n) => n <= 1,
        5000,
      ),
    ).toBeLessThanOrEqual(1);
  }, 20000);

  test("a service that never takes its connection: the trigger limit stops the socket", async () => {
    const fd0 = fdCount();
    const c = await open(d.path("busy.sock"));
    await d.waitState("busy.socket", "failed", 10000);
    expect(d.socket("busy.socket").result).toBe("trigger-limit-hit");
    const starts = d.messages("busy.service").filter((m) => /^Main process \d+:/.test(m)).length;
    expect(starts).toBe(8);
    c.destroy();
    expect(
      await settled(
        () => fdCount() - fd0,
        (n) => n <= 1,
        5000,
      ),
    ).toBeLessThanOrEqual(1);
  }, 20000);
});
