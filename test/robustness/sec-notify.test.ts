/**
 * $NOTIFY_SOCKET is writable by everyone (services run as other users): a local user can send
 * what they like. Before: every datagram from an unknown sender was a warning (20 000 in 1.6 s
 * pushed everything else out of the log ring), and a message whose fds the daemon could not
 * take (its fd limit, MSG_CTRUNC) was reported as an "overly long notification message".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FakeClock } from "../../firmware/core/clock.ts";
import { NotifySocket } from "../../firmware/daemon/notify-socket.ts";
import * as n from "../../firmware/native.ts";
import * as C from "../../firmware/sys/constants.ts";
import { TestDaemon, settled, waitFor } from "../support/harness.ts";

const fdCount = () => readdirSync("/proc/self/fd").length;

let d: TestDaemon;
beforeAll(async () => {
  d = await TestDaemon.start({ "idle.service": "[Service]\nExecStart=/bin/sleep 30\n" }, { boot: false });
});
afterAll(() => d?.stop());

/** A notify socket in the test's directory with a handler and a warning list of its own. */
function notifySocket(name: string, handle: (text: string, fds: number[]) => unknown, clock = new FakeClock()) {
  const warnings: string[] = [];
  const path = d.path(name);
  const sock = NotifySocket.bind(
    path,
    n.fdWatcher(),
    (_c, text, fds) => handle(text, fds),
    (m) => warnings.push(m),
    clock,
  );
  const client = n.socket(C.AF_UNIX, C.SOCK_DGRAM);
  n.connect(client, { family: "unix", path, abstract: false });
  return { sock, warnings, client, clock, close: () => (n.close(client), sock.close()) };
}

/** Sends count datagrams, waiting whenever the socket's queue is full; returns when all are sent. */
async function flood(client: number, count: number, text = "READY=1"): Promise<void> {
  const data = new TextEncoder().encode(text);
  for (let sent = 0; sent < count; ) {
    try {
      n.send(client, data);
      sent++;
    } catch {
      await Bun.sleep(1); // EAGAIN: let the daemon's loop read
    }
  }
}

describe("unknown senders", () => {
  test("20 000 datagrams from a sender no unit owns: 20 warnings, then one summary with the count", async () => {
    let received = 0;
    const s = notifySocket("n1", (_t, fds) => {
      for (const fd of fds) n.close(fd);
      received++;
      return false;
    });
    try {
      await flood(s.client, 20_000);
      await waitFor(() => received === 20_000, 20_000, "every datagram read");
      expect(s.warnings.length).toBe(20);
      expect(s.warnings[0]).toBe(`Cannot find unit for notify message of PID ${process.pid}, ignoring.`);
      s.clock.advance(11_000_000);
      expect(s.warnings.length).toBe(21);
      expect(s.warnings[20]).toStartWith("Suppressed 19980 more warnings about notification messages in the last 10s");
      // The next window starts afresh.
      await flood(s.client, 1);
      await waitFor(() => received === 20_001, 5000, "the next datagram");
      expect(s.warnings.length).toBe(22);
    } finally {
      s.close();
    }
  }, 60_000);

  test("a flood through the daemon's real handler leaves the log ring alone", async () => {
    const path = d.path("n2");
    const sock = NotifySocket.bind(
      path,
      n.fdWatcher(),
      (c, t, f) => d.manager.notify(c, t, f),
      (m) => d.manager.logger.warning(m),
      new FakeClock(),
    );
    const client = n.socket(C.AF_UNIX, C.SOCK_DGRAM);
    n.connect(client, { family: "unix", path, abstract: false });
    const before = d.logs.length;
    try {
      await flood(client, 2000);
      // Every datagram read: nothing left queued on the socket.
      await waitFor(() => n.pollOne(sock.fd, 1 /* POLLIN */, 0) === 0, 10_000, "the socket drained");
      const logged = d.logs.slice(before).map((r) => r.message);
      expect(logged.filter((m) => m.startsWith("Cannot find unit for notify message")).length).toBe(20);
      expect(logged.length).toBeLessThanOrEqual(21);
    } finally {
      n.close(client);
      sock.close();
    }
  }, 30_000);
});

describe("messages with fds the daemon cannot take", () => {
  test("more fds than one message may carry: said so (not 'overly long'), none kept", async () => {
    let handled = 0;
    const s = notifySocket("n3", () => {
      handled++;
    });
    const pipes = Array.from({ length: 40 }, () => n.pipe());
    const fds = pipes.flat();
    const base = fdCount();
    try {
      n.sendFds(s.client, new TextEncoder().encode("FDSTORE=1\nFDNAME=x"), fds);
      await waitFor(() => s.warnings.length > 0, 5000, "the warning");
      expect(handled).toBe(0);
      expect(s.warnings[0]).toContain("its file descriptors were cut off (more than 64 in one message");
      expect(s.warnings[0]).not.toContain("overly long");
      expect(await settled(fdCount, (v) => v <= base)).toBeLessThanOrEqual(base);
    } finally {
      for (const fd of fds) n.close(fd);
      s.close();
    }
  });

  test("at the daemon's fd limit (EMFILE while receiving SCM_RIGHTS): the warning names the limit", async () => {
    const s = notifySocket("n4", (_t, fds) => {
      for (const fd of fds) n.close(fd);
    });
    const pipes = Array.from({ length: 5 }, () => n.pipe());
    const fds = pipes.flat();
    // The limit is set in-process (a prlimit child would race its own spawn's fds against it).
    const before = n.fdLimit();
    try {
      // Room for two more fds: the message brings ten.
      n.fdLimit({ soft: fdCount() + 2, hard: before.hard });
      n.sendFds(s.client, new TextEncoder().encode("FDSTORE=1\nFDNAME=x"), fds);
      await waitFor(() => s.warnings.length > 0, 5000, "the warning");
    } finally {
      n.fdLimit(before);
      for (const fd of fds) n.close(fd);
      s.close();
    }
    expect(s.warnings[0]).toContain(`Got notification message from PID ${process.pid}, but the daemon is at its file descriptor limit`);
    expect(s.warnings[0]).toContain("FDSTORE=");
  });

  test("a datagram over 4096 bytes is 'overly long', with its size", async () => {
    const s = notifySocket("n5", () => {});
    try {
      n.send(s.client, new TextEncoder().encode(`STATUS=${"x".repeat(5000)}`));
      await waitFor(() => s.warnings.length > 0, 5000, "the warning");
      expect(s.warnings[0]).toBe(`Got overly long notification message from PID ${process.pid} (5007 bytes, at most 4096), ignoring.`);
    } finally {
      s.close();
    }
  });
});

describe("a handler that throws", () => {
  test("the socket keeps reading (and says why the message was dropped)", async () => {
    let calls = 0;
    const s = notifySocket("n6", () => {
      calls++;
      if (calls === 1) throw new Error("boom");
    });
    try {
      await flood(s.client, 2);
      await waitFor(() => calls === 2, 5000, "the second message");
      expect(s.warnings[0]).toBe(`Handling the notification message of PID ${process.pid} failed: boom`);
    } finally {
      s.close();
    }
  });
});
