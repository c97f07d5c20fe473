import { afterEach, expect, test } from "bun:test";
import * as n from "../native.ts";
import { F_SETFL, O_NONBLOCK, O_RDONLY, O_WRONLY } from "../sys/constants.ts";
import { FakeEp0, FakeWatch, vendorIn, vendorOut } from "./ep0-fake.ts";
import { FunctionFs } from "./functionfs.ts";

/** ep0 is a fake (FakeEp0); the fd the library sets O_NONBLOCK on is a pipe's. */
const open: FunctionFs[] = [];
const pipes: number[] = [];
afterEach(() => {
  for (const f of open.splice(0)) f.close();
  for (const fd of pipes.splice(0)) n.close(fd);
});

function rig(initialState?: "bound" | "enabled", aioCompletions?: "loop" | "watcher") {
  const [r, w] = n.pipe();
  pipes.push(r, w);
  const ep0 = new FakeEp0();
  const watcher = new FakeWatch();
  const f = new FunctionFs({ ep0: r, endpoints: [], watcher, ep0Io: ep0, initialState, aioCompletions });
  open.push(f);
  const deliver = async (...batches: Parameters<FakeEp0["batches"]["push"]>) => {
    ep0.batches.push(...batches);
    const armed = watcher.armed;
    watcher.fire(r);
    // The reader re-arms ep0 when it has read and handled everything.
    const deadline = Date.now() + 2000;
    while (watcher.armed === armed && Date.now() < deadline) await Bun.sleep(1);
    expect(ep0.batches).toEqual([]);
  };
  return { f, ep0, watcher, fd: r, deliver };
}

test("events move the state; whenEnabled() waits for ENABLE; listeners hear events and state changes", async () => {
  const { f, deliver } = rig();
  const heard: string[] = [];
  f.on("state", () => heard.push(`state ${f.state}`));
  f.on("enable", () => heard.push("enable"));
  let enabled = false;
  void f.whenEnabled().then(() => (enabled = true));
  await deliver(["bind"]);
  expect(f.state).toBe("bound");
  expect(enabled).toBe(false);
  await deliver(["enable", "suspend"]);
  expect(f.state).toBe("suspended");
  expect(enabled).toBe(true);
  await deliver(["resume", "disable"]);
  expect(f.state).toBe("bound");
  expect(heard).toEqual(["state bound", "enable", "state enabled", "state suspended", "state enabled", "state bound"]);
  expect(f.eventLog).toEqual(["bind", "enable", "suspend", "resume", "disable"]);
});

test("SETUP: stalled by default, answered by the handler, stalled when the handler does not answer", async () => {
  const { f, ep0, deliver } = rig("enabled");
  await f.whenEnabled();
  await deliver([vendorIn(1)]);
  expect(ep0.stalled).toEqual([1]);
  const stored: number[][] = [];
  f.onSetup((s) => {
    if (s.request.bRequest === 2) s.reply("id");
    if (s.request.bRequest === 3) stored.push([...s.receive()]);
  });
  let setups = 0;
  f.on("setup", () => setups++);
  await deliver([vendorIn(2)]);
  ep0.outData = new Uint8Array([7, 8]);
  await deliver([vendorOut(3, 2)]);
  await deliver([vendorOut(4)]);
  expect(new TextDecoder().decode(ep0.written[0])).toBe("id");
  expect(stored).toEqual([[7, 8]]);
  expect(ep0.stalled).toEqual([1, 4]);
  expect(setups).toBe(3);
});

test("close() stops watching ep0 and, when the watcher reads AIO completions, the AIO eventfd", () => {
  for (const [mode, watched] of [
    ["watcher", 2],
    ["loop", 1],
  ] as const) {
    const { f, watcher, fd } = rig(undefined, mode);
    expect(watcher.handlers.size).toBe(watched);
    f.close();
    expect(watcher.handlers.has(fd)).toBe(false);
    expect(watcher.handlers.size).toBe(0);
  }
});

/**
 * Endpoint transfers through real AIO: /dev/zero stands in for a bulk OUT endpoint and
 * /dev/null for a bulk IN one (their requests complete at once).
 */
function endpoints(state: "bound" | "enabled" = "enabled", extra: number[] = []) {
  const [r, w] = n.pipe();
  const zero = n.open("/dev/zero", O_RDONLY);
  const nul = n.open("/dev/null", O_WRONLY);
  pipes.push(r, w, zero, nul, ...extra);
  const ep0 = new FakeEp0();
  const watcher = new FakeWatch();
  const f = new FunctionFs({ ep0: r, endpoints: [zero, nul, ...extra], watcher, ep0Io: ep0, initialState: state });
  open.push(f);
  const enable = () => {
    ep0.batches.push(["enable"]);
    watcher.fire(r);
  };
  return Object.assign(f, { enable });
}

test("reader(): depth requests in flight at most; copies by default, views of its own buffers with views", async () => {
  const f = endpoints();
  for (const views of [false, true]) {
    const buffers = new Set<ArrayBufferLike>();
    let chunks = 0;
    for await (const c of f.endpoint(1).reader({ size: 512, depth: 3, views })) {
      expect(c.length).toBe(512);
      expect(f.aio.inFlight).toBeLessThanOrEqual(3);
      buffers.add(c.buffer);
      if (++chunks === 40) break;
    }
    // views: the reader's 2 x depth buffers, each used many times; copies: one buffer each.
    if (views) expect(buffers.size).toBeLessThanOrEqual(6);
    else expect(buffers.size).toBe(40);
    // Requests queued when the loop left end by themselves.
    const deadline = Date.now() + 2000;
    while (f.aio.inFlight > 0 && Date.now() < deadline) await Bun.sleep(1);
    expect(f.aio.inFlight).toBe(0);
  }
});

test("reader() ends with stopOnDisable when the endpoint refuses transfers (EAGAIN, as a disabled one does)", async () => {
  const [pr, pw] = n.pipe();
  n.fcntl(pr, F_SETFL, O_NONBLOCK); // an empty non-blocking pipe: every read says EAGAIN
  const f = endpoints("enabled", [pr, pw]);
  let chunks = 0;
  for await (const _ of f.endpoint(3).reader({ stopOnDisable: true })) chunks++;
  expect(chunks).toBe(0);
});

test("send() keeps depth writes queued, copies the caller's data, and drain() reports a failed write", async () => {
  const f = endpoints();
  const ep = f.endpoint(2);
  const data = new Uint8Array(1000).fill(7);
  for (let i = 0; i < 50; i++) {
    await ep.send(data, 2);
    expect(f.aio.inFlight).toBeLessThanOrEqual(2);
    data.fill(i); // the queued copy is not affected
  }
  await ep.drain();
  expect(f.aio.inFlight).toBe(0);
  // Writing to /dev/zero's read-only fd: the queued write fails with EBADF, drain() says so.
  const bad = f.endpoint(1);
  await bad.send(data);
  await expect(bad.drain()).rejects.toThrow(/EBADF/);
  await bad.drain(); // the error is reported once
});

test("write() and read() wait for ENABLE", async () => {
  const f = endpoints("bound");
  let done = false;
  const w = f
    .endpoint(2)
    .write(new Uint8Array(10))
    .then((x) => ((done = true), x));
  await Bun.sleep(5);
  expect(done).toBe(false);
  f.enable();
  expect(await w).toBe(10);
  expect((await f.endpoint(1).read(64)).length).toBe(64);
});
