import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { request, TestDaemon, testBinary, testPort, unixPending, waitFor } from "../support/harness.ts";

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

describe("Accept=no: fds in configuration order, with names, from every socket of the service", () => {
  let d: TestDaemon;
  afterAll(() => d?.stop());

  test("every listen kind, several sockets, FileDescriptorName=, NonBlocking=", async () => {
    const tcp = testPort();
    d = await TestDaemon.start({
      "multi.socket": `[Socket]
ListenStream=@DIR@/s.sock
ListenDatagram=@DIR@/d.sock
ListenSequentialPacket=@DIR@/q.sock
ListenFIFO=@DIR@/f.fifo
ListenMessageQueue=/bunit-multi-${process.pid}
ListenNetlink=route 0
ListenStream=127.0.0.1:${tcp}
FileDescriptorName=many
RemoveOnStop=yes
FlushPending=yes
[Install]
WantedBy=sockets.target
`,
      "extra.socket": "[Socket]\nListenStream=@@DIR@/abstract\nService=multi.service\nFileDescriptorName=extra\n[Install]\nWantedBy=sockets.target\n",
      "multi.service": `[Service]\nExecStart=${report} --file @DIR@/report\nNonBlocking=yes\nSockets=extra.socket multi.socket\n`,
    });
    expect(d.sub("multi.socket")).toBe("listening");
    expect(d.sub("extra.socket")).toBe("listening");
    await request({ unix: d.path("s.sock") });
    await waitFor(() => Bun.file(d.path("report")).size > 0, 3000, "report");
    expect(readFileSync(d.path("report"), "utf8")).toBe(
      [
        "listen_fds=8 pid_ok=1",
        "fd=3 name=extra kind=unix-stream listening=1 nonblock=1",
        "fd=4 name=many kind=unix-stream listening=1 nonblock=1",
        "fd=5 name=many kind=unix-dgram listening=0 nonblock=1",
        "fd=6 name=many kind=unix-seqpacket listening=1 nonblock=1",
        "fd=7 name=many kind=fifo listening=0 nonblock=1",
        "fd=8 name=many kind=mqueue listening=0 nonblock=1",
        "fd=9 name=many kind=netlink listening=0 nonblock=1",
        "fd=10 name=many kind=inet-stream listening=1 nonblock=1",
        "",
      ].join("\n"),
    );
  });
});

describe("Accept=no: returning to listening, FlushPending=, trigger and poll limits", () => {
  let d: TestDaemon;
  afterAll(() => d?.stop());
  beforeAll(async () => {
    d = await TestDaemon.start({
      // A service that never accepts: without FlushPending= the pending connection re-triggers it.
      "lazy.socket": "[Socket]\nListenStream=@DIR@/lazy.sock\nTriggerLimitIntervalSec=10s\nTriggerLimitBurst=3\n[Install]\nWantedBy=sockets.target\n",
      "lazy.service": "[Service]\nExecStart=/bin/true\nStartLimitBurst=100\n",
      "flush.socket": "[Socket]\nListenStream=@DIR@/flush.sock\nFlushPending=yes\n[Install]\nWantedBy=sockets.target\n",
      "flush.service": "[Service]\nExecStart=/bin/true\n",
      "dgram.socket": "[Socket]\nListenDatagram=@DIR@/dgram.sock\n[Install]\nWantedBy=sockets.target\n",
      "dgram.service": `[Service]\nExecStart=${report} --serve\n`,
      "poll.socket": "[Socket]\nListenStream=@DIR@/poll.sock\nAccept=yes\nPollLimitIntervalSec=30s\nPollLimitBurst=3\n[Install]\nWantedBy=sockets.target\n",
      "poll@.service": "[Service]\nExecStart=/bin/true\n",
    });
  });

  test("TriggerLimitBurst= fails the socket with trigger-limit-hit", async () => {
    const c = await Bun.connect({ unix: d.path("lazy.sock"), socket: { data() {} } });
    await d.waitState("lazy.socket", "failed");
    expect(d.socket("lazy.socket").result).toBe("trigger-limit-hit");
    expect(d.messages("lazy.socket")).toContain("Trigger limit hit, refusing further activation.");
    c.end();
  });

  test("FlushPending=yes discards what the service left behind", async () => {
    const closed = request({ unix: d.path("flush.sock") }, "", 3000);
    expect(await closed).toBe("");
    // The client saw its connection closed: flushed when the socket went back to listening.
    await d.waitState("flush.socket", "listening");
    await d.waitState("flush.service", "dead");
    // Nothing is left in the kernel's queue to trigger the service again: one start is all.
    expect(await unixPending(d.path("flush.sock"))).toBe(0);
    const starts = d.messages("flush.service").filter((m) => /^Main process \d+:/.test(m)).length;
    expect(starts).toBe(1);
    expect(d.sub("flush.socket")).toBe("listening");
  });

  test("a datagram activates the service, which answers it", async () => {
    const { $ } = await import("zx");
    const out = (await $`socat -t 3 - UNIX-SENDTO:${d.path("dgram.sock")},bind=${d.path("client.sock")} <<< ping`).stdout;
    expect(out).toContain("fd=3 name=dgram.socket kind=unix-dgram listening=0 nonblock=0");
  });

  test("PollLimitBurst= pauses accepting without failing the socket", async () => {
    // Looked at inside the event that hits the limit (the window is 30 s: nothing more is
    // accepted during this test).
    const paused = d.atRecord(
      (r) => r.unit === "poll.socket" && r.message.startsWith("Poll limit hit"),
      () => d.socket("poll.socket").connections.nAccepted,
      5000,
      "the poll limit to be hit",
    );
    const clients = await Promise.all(Array.from({ length: 10 }, () => Bun.connect({ unix: d.path("poll.sock"), socket: { data() {} } })));
    expect(await paused).toBe(3);
    // The other 7 wait in the kernel's queue; the socket is not failed.
    await waitFor(async () => (await unixPending(d.path("poll.sock"))) === 7, 3000, "7 connections waiting");
    expect(d.socket("poll.socket").connections.nAccepted).toBe(3);
    expect(d.sub("poll.socket")).toBe("listening");
    for (const c of clients) c.end();
  });
});
