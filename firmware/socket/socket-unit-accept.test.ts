/**
 * Accept=yes on the fake host: real AF_UNIX connections are accepted by the socket unit, the
 * instances it asks for are recorded (SocketTestHost.accepted), MaxConnections= and
 * MaxConnectionsPerSource= count them until their connection is released.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { SocketTestHost } from "../testing/socket-test-host.ts";

let h: SocketTestHost;
beforeEach(() => {
  h = new SocketTestHost();
});
afterEach(() => h.cleanup());

/** Whether the client's connection was closed by the other side (reads EOF or a reset). */
function peerClosed(fd: number): boolean {
  if (!(n.pollOne(fd, C.EPOLLIN, 0) & (C.EPOLLIN | C.EPOLLHUP))) return false;
  try {
    return n.read(fd, new Uint8Array(1)) === 0;
  } catch {
    return true;
  }
}

test("a connection is accepted and handed to a new instance; the socket stays listening", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes", "echo.socket");
  expect(s.canStart()).toBeNull(); // no service needed: instances come from echo@.service
  s.start();
  const client = h.connect("%d/a.sock");
  expect(h.ready(s)).toBe(true);
  expect(h.accepted.length).toBe(1);
  const a = h.accepted[0]!;
  expect(a.socket).toBe("echo.socket");
  expect(a.instance).toMatch(new RegExp(`^0-\\d+-\\d+-${process.getuid!()}$`)); // nAccepted-cookie-pid-uid
  expect(a.conn.fdName).toBe("connection");
  expect(a.conn.env.REMOTE_PORT).toBeUndefined(); // a unix peer has no port (REMOTE_ADDR: instance-name.test.ts)
  expect(a.conn.env.SO_COOKIE).toMatch(/^\d+$/);
  expect(s.state).toBe("listening");
  expect(s.connections.nConnections).toBe(1);
  // The accepted fd is the server end of the client's connection.
  n.write(a.conn.fd, new TextEncoder().encode("x"));
  const buf = new Uint8Array(1);
  expect(n.read(client, buf)).toBe(1);
  // Readiness without a pending connection accepts nothing and keeps the port watched.
  expect(h.ready(s)).toBe(true);
  expect(h.accepted.length).toBe(1);
  expect(h.ready(s)).toBe(true);
  a.conn.release();
  expect(s.connections.nConnections).toBe(0);
  expect(peerClosed(client)).toBe(true);
});

test("FileDescriptorName= names the connection fd; the second instance counts on", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes\nFileDescriptorName=ctl", "x.socket");
  s.start();
  h.connect("%d/a.sock");
  h.ready(s);
  h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.map((a) => a.conn.fdName)).toEqual(["ctl", "ctl"]);
  expect(h.accepted.map((a) => a.instance.split("-")[0])).toEqual(["0", "1"]);
  expect(s.connections.nAccepted).toBe(2);
});

test("MaxConnections=: a connection over the limit is closed; a released slot is free again", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes\nMaxConnections=1", "x.socket");
  s.start();
  h.connect("%d/a.sock");
  h.ready(s);
  const refused = h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.length).toBe(1);
  expect(s.connections.nRefused).toBe(1);
  expect(peerClosed(refused)).toBe(true);
  expect(h.messages("x.socket")).toContain("Too many incoming connections (1), dropping connection.");
  expect(s.state).toBe("listening");
  h.accepted[0]!.conn.release();
  h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.length).toBe(2);
});

test("MaxConnectionsPerSource=: a second connection from the same UID is refused", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes\nMaxConnections=10\nMaxConnectionsPerSource=1", "x.socket");
  s.start();
  h.connect("%d/a.sock");
  h.ready(s);
  const refused = h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.length).toBe(1);
  expect(h.accepted[0]!.conn.source).toBe(`uid:${process.getuid!()}`);
  expect(peerClosed(refused)).toBe(true);
  expect(h.messages("x.socket")).toContain(`Too many incoming connections (2) from source uid:${process.getuid!()}, dropping connection.`);
  h.accepted[0]!.conn.release();
  h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.length).toBe(2);
});

test("an instance that cannot be started fails the socket (resources) and frees the slot", () => {
  h.acceptInstances = false;
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes", "x.socket");
  s.start();
  const client = h.connect("%d/a.sock");
  h.ready(s);
  expect(h.path("x.socket").at(-1)).toBe("listening>failed");
  expect(s.result).toBe("resources");
  expect(s.connections.nConnections).toBe(0);
  expect(peerClosed(client)).toBe(true);
});

test("TriggerLimitBurst= counts connections: over it, trigger-limit-hit", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes\nTriggerLimitIntervalSec=5\nTriggerLimitBurst=2", "x.socket");
  s.start();
  for (let i = 0; i < 2; i++) {
    h.connect("%d/a.sock");
    h.ready(s);
  }
  const third = h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted.length).toBe(2);
  expect(s.state).toBe("failed");
  expect(s.result).toBe("trigger-limit-hit");
  expect(peerClosed(third)).toBe(true);
});

test("with a stop job scheduled for the socket, a connection is closed, not served", () => {
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes", "x.socket");
  s.start();
  h.stopJobs.add("x.socket");
  const client = h.connect("%d/a.sock");
  h.ready(s);
  expect(h.accepted).toEqual([]);
  expect(peerClosed(client)).toBe(true);
  expect(s.state).toBe("listening");
});

test("Accept=yes ignores its services' state changes", () => {
  const svc = h.service("x@0.service");
  const s = h.socket("ListenStream=%d/a.sock\nAccept=yes", "x.socket");
  s.start();
  svc.set("active", "running");
  svc.set("failed", "failed");
  expect(h.path("x.socket")).toEqual(["dead>start-open", "start-open>listening"]);
});
