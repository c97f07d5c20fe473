import { describe, expect, test } from "bun:test";
import { errorText } from "../core/errors.ts";
import { SysError } from "../sys/errno.ts";
import { bindEp0, FakeEp0, FakeWatch, vendorIn, vendorOut } from "./ep0-fake.ts";
import { Ep0Reader, EP0_RECHECK_MS, readEp0Events, Setup, stallRequest, waitForEnable, type Ep0Io } from "./ep0-reader.ts";
import { EVENT_SIZE, EVENT_TYPES } from "./ffs-events.ts";

const EIDRM = 43;
const ESHUTDOWN = 108;

function logger() {
  const lines: string[] = [];
  return { lines, debug: (m: string) => void lines.push(m) };
}

describe("waitForEnable (the socket unit, before its service runs)", () => {
  test("stalls SETUP requests until ENABLE, and leaves later events queued for the service", () => {
    const ep0 = new FakeEp0();
    const log = logger();
    expect(waitForEnable(5, ep0, log)).toBe("pending");
    ep0.batches.push(["bind"], [vendorIn(1)]);
    expect(waitForEnable(5, ep0, log)).toBe("pending");
    expect(ep0.stalled).toEqual([1]);
    expect(log.lines).toEqual(["Stalling SETUP 0xc1/0x01 before the service runs: stalled"]);
    ep0.batches.push([vendorOut(2)], ["enable"], [vendorIn(3)]);
    expect(waitForEnable(5, ep0, log)).toBe("enabled");
    expect(ep0.stalled).toEqual([1, 2]);
    // The SETUP after ENABLE is the service's to answer.
    expect(ep0.batches).toEqual([[vendorIn(3)]]);
  });

  test("a SETUP in the same read as ENABLE is stalled; ENABLE then DISABLE is not enabled", () => {
    const ep0 = new FakeEp0();
    ep0.batches.push(["enable", "disable"]);
    expect(waitForEnable(5, ep0, logger())).toBe("pending");
    ep0.batches.push(["enable", vendorIn(7)]);
    expect(waitForEnable(5, ep0, logger())).toBe("enabled");
    expect(ep0.stalled).toEqual([7]);
    expect(ep0.pending).toBeNull();
  });

  test("a failing read is an error; a failing stall is logged and reading goes on", () => {
    const ep0 = new FakeEp0();
    ep0.fail = new SysError("read", ESHUTDOWN);
    expect(waitForEnable(5, ep0, logger())).toEqual({ error: "Reading ep0 events: read: ESHUTDOWN" });
    const f = new FakeEp0();
    f.batches.push([vendorOut(9)], ["enable"]);
    const log = logger();
    const io: Ep0Io = {
      ...bindEp0(f),
      write: () => {
        f.pending = null;
        throw new SysError("write", ESHUTDOWN);
      },
    };
    expect(waitForEnable(5, io, log)).toBe("enabled");
    expect(log.lines[0]).toContain("failed: write: ESHUTDOWN");
  });
});

describe("stalling and answering", () => {
  test("stallRequest retries while ep0 is busy, and names every outcome", () => {
    const ep0 = new FakeEp0();
    ep0.pending = vendorIn(1);
    ep0.busy = 2;
    expect(stallRequest(5, vendorIn(1), ep0)).toBe("stalled");
    expect(ep0.pauses).toBe(2);
    ep0.busy = 1000;
    expect(stallRequest(5, vendorIn(1), ep0)).toBe("busy");
    ep0.busy = 0;
    expect(stallRequest(5, vendorOut(1), ep0)).toBe("not-pending"); // ESRCH
    const cancelled: Ep0Io = {
      ...bindEp0(ep0),
      read: () => {
        throw new SysError("read", EIDRM);
      },
    };
    expect(stallRequest(5, vendorIn(1), cancelled)).toBe("cancelled");
    const broken: Ep0Io = {
      ...bindEp0(ep0),
      read: () => {
        throw new SysError("read", ESHUTDOWN);
      },
    };
    expect(() => stallRequest(5, vendorIn(1), broken)).toThrow(/ESHUTDOWN/);
  });

  test("Setup: reply() is cut to wLength, receive() reads the data stage, one answer only", () => {
    const ep0 = new FakeEp0();
    ep0.pending = vendorIn(1, 4);
    ep0.busy = 1;
    const s = new Setup(vendorIn(1, 4), 5, ep0);
    s.reply("abcdefgh");
    expect(new TextDecoder().decode(ep0.written[0])).toBe("abcd");
    expect(() => s.reply("x")).toThrow(/already answered/);
    expect(() => s.receive()).toThrow(/answers OUT requests/);
    ep0.pending = vendorOut(2, 3);
    ep0.outData = new Uint8Array([1, 2, 3]);
    const o = new Setup(vendorOut(2, 3), 5, ep0);
    expect([...o.receive()]).toEqual([1, 2, 3]);
    ep0.pending = vendorOut(3);
    const st = new Setup(vendorOut(3), 5, ep0);
    st.stall();
    expect(st.stallOutcome).toBe("stalled");
    expect(ep0.stalled).toEqual([3]);
  });

  test("readEp0Events skips unknown event types", () => {
    const buf = new Uint8Array(EVENT_SIZE * 2);
    buf[8] = 99;
    buf[EVENT_SIZE + 8] = EVENT_TYPES.indexOf("resume");
    const io: Ep0Io = { read: (_fd, b) => (b.set(buf), buf.length), write: () => 0, pause() {}, readable: () => false };
    expect(readEp0Events(5, io)).toEqual([{ type: "resume" }]);
  });
});

function readerRig(onSetup: (s: Setup) => void | Promise<void> = () => {}) {
  const ep0 = new FakeEp0();
  const watcher = new FakeWatch();
  const seen: string[] = [];
  const errors: unknown[] = [];
  let tick: (() => void) | undefined;
  let interval = 0;
  let cancelled = false;
  const reader = new Ep0Reader(5, {
    watcher,
    io: ep0,
    repeat: (ms, fn) => {
      interval = ms;
      tick = fn;
      return { cancel: () => void (cancelled = true) };
    },
    onEvent: (t) => void seen.push(t),
    onSetup,
    onSetupDone: (s) => void seen.push(`setup ${s.request.bRequest} ${s.stallOutcome ?? "answered"}`),
    onError: (e) => void errors.push(e),
  });
  return { ep0, watcher, seen, errors, reader, tick: () => tick!(), interval: () => interval, cancelled: () => cancelled };
}

describe("Ep0Reader (the library, inside the service)", () => {
  test("events in order; unanswered SETUPs stalled, answered ones not; ep0 re-armed after each drain", async () => {
    const r = readerRig((s) => {
      if (s.request.bRequest === 1) s.reply("hi");
    });
    expect(r.watcher.handlers.has(5)).toBe(true);
    r.ep0.batches.push(["bind", "enable", vendorIn(1)], [vendorIn(2)], ["suspend", "resume"]);
    await r.reader.onReadable();
    expect(r.seen).toEqual(["bind", "enable", "setup 1 answered", "setup 2 stalled", "suspend", "resume"]);
    expect(new TextDecoder().decode(r.ep0.written[0])).toBe("hi");
    expect(r.ep0.stalled).toEqual([2]);
    expect(r.watcher.armed).toBe(1);
  });

  test("an async SETUP handler is awaited before the next event is read", async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    const r = readerRig(async (s) => {
      await gate;
      s.reply("late");
    });
    r.ep0.batches.push([vendorIn(1)], ["disable"]);
    const done = r.reader.onReadable();
    await Bun.sleep(0);
    expect(r.seen).toEqual([]);
    expect(r.ep0.batches.length).toBe(1);
    // The watcher fires again meanwhile: the drain under way is not entered twice.
    r.watcher.fire(5);
    release();
    await done;
    expect(r.seen).toEqual(["setup 1 answered", "disable"]);
  });

  test(`the ${EP0_RECHECK_MS} ms re-poll reads an event whose wake-up was lost`, async () => {
    const r = readerRig();
    expect(r.interval()).toBe(EP0_RECHECK_MS);
    r.tick(); // nothing queued: nothing read
    expect(r.ep0.reads).toBe(0);
    r.ep0.batches.push(["enable"]); // queued, but the watcher never fired
    r.tick();
    const deadline = Date.now() + 2000;
    while (r.seen.length === 0 && Date.now() < deadline) await Bun.sleep(1);
    expect(r.seen).toEqual(["enable"]);
  });

  test("a throwing SETUP handler is reported, its request stalled, and the next events still read", async () => {
    const r = readerRig(() => {
      throw new Error("handler bug");
    });
    r.ep0.batches.push([vendorIn(4)], ["enable"]);
    await r.reader.onReadable();
    expect(errorText(r.errors[0])).toBe("handler bug");
    expect(r.seen).toEqual(["setup 4 stalled", "enable"]);
    r.ep0.fail = new SysError("read", ESHUTDOWN);
    await r.reader.onReadable();
    expect(String(r.errors[1])).toContain("ESHUTDOWN");
  });

  test("close() forgets ep0 and stops the re-poll; nothing is read after it", async () => {
    const r = readerRig();
    r.reader.close();
    expect(r.watcher.handlers.has(5)).toBe(false);
    expect(r.cancelled()).toBe(true);
    r.ep0.batches.push(["enable"]);
    await r.reader.onReadable();
    r.tick();
    expect(r.ep0.reads).toBe(0);
    expect(r.watcher.armed).toBe(0);
  });
});
