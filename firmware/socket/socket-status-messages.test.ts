import { afterEach, beforeEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { SocketTestHost } from "../testing/socket-test-host.ts";

let h: SocketTestHost;
beforeEach(() => {
  h = new SocketTestHost();
});
afterEach(() => h.cleanup());

const lines = (unit: string) => h.records.filter((r) => r.unit === unit && r.level !== "debug").map((r) => `${r.level}: ${r.message}`);

test("'Listening on DESC.' when the start ends listening, 'Closed DESC.' when the stop ends (systemd's status lines)", async () => {
  h.service();
  const s = h.socket("ListenStream=%d/a.sock", "s.socket", "Description=Example Socket");
  s.start();
  expect(lines("s.socket")).toContain("info: Listening on Example Socket.");
  s.stop();
  await h.settle();
  expect(s.state).toBe("dead");
  expect(lines("s.socket")).toContain("info: Closed Example Socket.");
  expect(lines("s.socket").some((l) => l.includes("Failed to listen"))).toBe(false);
});

test("'Failed to listen on NAME.' when the ports cannot be opened; a stop during the start is not a failure", async () => {
  h.service();
  writeFileSync(`${h.dir}/file`, ""); // a file where the socket's directory would be: ENOTDIR
  const bad = h.socket("ListenStream=%d/file/a.sock\nService=s.service", "bad.socket");
  bad.start();
  await h.settle();
  expect(bad.activeState()).toBe("failed");
  expect(lines("bad.socket")).toContain("error: Failed to listen on bad.socket.");
  const slow = h.socket("ListenStream=%d/b.sock\nExecStartPre=/bin/pre\nService=s.service", "slow.socket");
  slow.start();
  slow.stop();
  await h.settle();
  expect(lines("slow.socket").some((l) => l.includes("Failed to listen"))).toBe(false);
});
