import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FdWatch } from "../core/fd-watch.ts";
import * as n from "../native.ts";
import { AF_UNIX, SOCK_DGRAM } from "../sys/constants.ts";
import { UeventMonitor } from "./monitor.ts";

/** The injected watcher: records watch/arm/forget; fire() plays epoll reporting input. */
class RecordingWatch implements FdWatch {
  handlers = new Map<number, (revents: number) => void>();
  armed = 0;
  watch(fd: number, _events: number, handler: (revents: number) => void): void {
    this.handlers.set(fd, handler);
  }
  arm(): void {
    this.armed++;
  }
  forget(fd: number): void {
    this.handlers.delete(fd);
  }
  fire(fd: number): void {
    this.handlers.get(fd)?.(1);
  }
}

let dir = "";
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) n.close(fd);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the monitor reads through the watcher it is given: a datagram not from the kernel is rejected, and the socket re-armed", () => {
  const [a, b] = n.socketpair(AF_UNIX, SOCK_DGRAM);
  fds.push(b);
  const watcher = new RecordingWatch();
  const m = UeventMonitor.fromFd(a, { watcher });
  const rejected: string[] = [];
  const events: string[] = [];
  m.onReject((why) => rejected.push(why));
  m.onEvent((ev) => events.push(ev.devpath));
  expect(watcher.handlers.has(a)).toBe(true);
  n.send(b, new TextEncoder().encode("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=net\0SEQNUM=1\0"));
  watcher.fire(a);
  expect(events).toEqual([]);
  expect(rejected).toEqual(["no sender address"]);
  expect(m.rejected).toBe(1);
  expect(watcher.armed).toBe(1);
  m.close(); // closes a
  expect(watcher.handlers.has(a)).toBe(false);
});

test("coldplug() reports the devices of the named subsystems from sysRoot as add events", () => {
  dir = mkdtempSync(join(tmpdir(), "bunit-uevent-"));
  const dev = join(dir, "devices/virtual/net/usb0");
  mkdirSync(dev, { recursive: true });
  writeFileSync(join(dev, "uevent"), "INTERFACE=usb0\nIFINDEX=4\n");
  mkdirSync(join(dir, "class/net"), { recursive: true });
  symlinkSync(dev, join(dir, "class/net/usb0"));
  const [a, b] = n.socketpair(AF_UNIX, SOCK_DGRAM);
  fds.push(b);
  const watcher = new RecordingWatch();
  const m = UeventMonitor.fromFd(a, { watcher, sysRoot: dir, coldplug: ["net", "absent"] });
  const seen: string[] = [];
  m.onEvent((ev) => seen.push(`${ev.action} ${ev.devpath} ${ev.subsystem} ${ev.env.INTERFACE}`));
  expect(m.coldplug().length).toBe(1);
  expect(seen).toEqual(["add /devices/virtual/net/usb0 net usb0"]);
  m.close();
});
