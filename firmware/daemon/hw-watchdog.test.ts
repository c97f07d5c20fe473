import { describe, expect, test } from "bun:test";
import { FakeClock } from "../core/clock.ts";
import { HardwareWatchdog, openWatchdog, WDIOC_KEEPALIVE, WDIOC_SETTIMEOUT, type WatchdogDevice } from "./hw-watchdog.ts";

function fakeDevice(chosen?: number) {
  const calls: string[] = [];
  const dev: WatchdogDevice = {
    setTimeout: (s) => (calls.push(`timeout ${s}`), chosen ?? s),
    ping: () => void calls.push("ping"),
    disarm: () => void calls.push("disarm"),
    close: () => void calls.push("close"),
  };
  return { dev, calls };
}

function logs() {
  const lines: string[] = [];
  return {
    lines,
    log: { info: (m: string) => void lines.push(m), warning: (m: string) => void lines.push(`W ${m}`), error: (m: string) => void lines.push(`E ${m}`) },
  };
}

describe("hardware watchdog", () => {
  test("sets the timeout, pings at once and then every half timeout", () => {
    const clock = new FakeClock();
    const { dev, calls } = fakeDevice();
    const { log, lines } = logs();
    const w = new HardwareWatchdog("/dev/watchdog0", dev, clock, log);
    w.start(10);
    expect(calls).toEqual(["timeout 10", "ping"]);
    clock.advance(4_999_999);
    expect(w.pings).toBe(1);
    clock.advance(1);
    expect(w.pings).toBe(2);
    clock.advance(20_000_000);
    expect(w.pings).toBe(6);
    expect(lines[0]).toBe("Hardware watchdog /dev/watchdog0 armed: 10 s timeout, pinged every 5 s.");
  });

  test("uses the timeout the driver chose", () => {
    const clock = new FakeClock();
    const { dev } = fakeDevice(8);
    const { log, lines } = logs();
    const w = new HardwareWatchdog("/dev/watchdog0", dev, clock, log);
    w.start(15);
    expect(w.timeoutSec).toBe(8);
    clock.advance(4_000_000);
    expect(w.pings).toBe(2);
    expect(lines[0]).toContain("the driver chose a 8 s timeout (asked for 15 s)");
  });

  test("a clean stop disarms (magic close) and stops pinging; a crash stop leaves it armed", () => {
    const clock = new FakeClock();
    const a = fakeDevice();
    const w = new HardwareWatchdog("/dev/watchdog0", a.dev, clock, logs().log);
    w.start(2);
    w.stop(true);
    clock.advance(10_000_000);
    expect(a.calls).toEqual(["timeout 2", "ping", "disarm"]);
    expect(clock.pendingTimers()).toBe(0);
    const b = fakeDevice();
    const w2 = new HardwareWatchdog("/dev/watchdog1", b.dev, clock, logs().log);
    w2.start(2);
    w2.stop(false);
    expect(b.calls.at(-1)).toBe("close");
  });

  test("a failing ping is logged and feeding goes on", () => {
    const clock = new FakeClock();
    let fail = true;
    const dev: WatchdogDevice = {
      setTimeout: (s) => s,
      ping: () => {
        if (fail) throw new Error("EIO");
      },
      disarm() {},
      close() {},
    };
    const { log, lines } = logs();
    const w = new HardwareWatchdog("/dev/watchdog0", dev, clock, log);
    w.start(2);
    fail = false;
    clock.advance(1_000_000);
    expect(w.pings).toBe(1);
    expect(lines.some((l) => l.startsWith("E /dev/watchdog0: ping failed: EIO"))).toBe(true);
  });

  test("rejects a timeout that is not a whole number of seconds", () => {
    const w = new HardwareWatchdog("/dev/watchdog0", fakeDevice().dev, new FakeClock(), logs().log);
    expect(() => w.start(0)).toThrow(/whole number of seconds >= 1/);
  });

  test("the device: WDIOC_SETTIMEOUT with the value in and out, WDIOC_KEEPALIVE, 'V' before close", () => {
    const ops: string[] = [];
    const dev = openWatchdog("/dev/watchdog0", {
      open: (p, flags) => (ops.push(`open ${p} ${flags.toString(8)}`), 7),
      ioctl: (fd, req, arg) => {
        ops.push(`ioctl ${fd} ${req.toString(16)} ${arg ? new DataView(arg.buffer).getInt32(0, true) : "null"}`);
        if (req === WDIOC_SETTIMEOUT && arg) new DataView(arg.buffer).setInt32(0, 12, true);
        return 0;
      },
      write: (fd, data) => (ops.push(`write ${fd} ${new TextDecoder().decode(data)}`), data.length),
      close: (fd) => void ops.push(`close ${fd}`),
    });
    expect(dev.setTimeout(10)).toBe(12);
    dev.ping();
    dev.disarm();
    expect(ops).toEqual([
      "open /dev/watchdog0 2000001",
      `ioctl 7 ${WDIOC_SETTIMEOUT.toString(16)} 10`,
      `ioctl 7 ${WDIOC_KEEPALIVE.toString(16)} null`,
      "write 7 V",
      "close 7",
    ]);
  });
});
