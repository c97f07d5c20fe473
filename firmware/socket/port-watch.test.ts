import { expect, test } from "bun:test";
import { FakeClock } from "../core/clock.ts";
import { FakeFdWatch } from "../testing/fake-host.ts";
import { PortWatch } from "./port-watch.ts";
import type { OpenedPort } from "./socket-open.ts";

const port = (fd: number) => ({ fd, aux: [], port: { kind: "stream", text: `port${fd}` } }) as unknown as OpenedPort;

function setup(burst = 0) {
  const clock = new FakeClock();
  clock.advance(1e6);
  const watcher = new FakeFdWatch();
  const ready: number[] = [];
  const w = new PortWatch(watcher, clock, {
    listening: () => true,
    pollLimit: () => ({ intervalUsec: burst ? 2e6 : 0, burst }),
    ready: (p) => ready.push(p.fd),
    limited: () => {},
  });
  return { clock, watcher, ready, w };
}

test("pauseFor: a port out of fds is not watched for the pause, then armed again by itself", () => {
  const { clock, watcher, ready, w } = setup();
  const p = port(7);
  w.watch([p]);
  expect(watcher.fire(7, 1)).toBe(true);
  expect(ready).toEqual([7]);
  w.pauseFor(p, 1_000_000);
  expect(watcher.handlers.get(7)!.events).toBe(0); // disarmed: EMFILE must not spin
  clock.advance(999_999);
  expect(watcher.handlers.get(7)!.events).toBe(0);
  clock.advance(1);
  expect(watcher.handlers.get(7)!.events).not.toBe(0);
  expect(watcher.fire(7, 1)).toBe(true);
  expect(ready).toEqual([7, 7]);
});

test("hold and pause: while held nothing is armed; a forgotten port is not re-armed by its pause", () => {
  const { clock, watcher, w } = setup();
  const p = port(9);
  w.watch([p]);
  watcher.fire(9, 1);
  w.pauseFor(p, 1000);
  w.forget(p);
  clock.advance(2000);
  expect(watcher.handlers.has(9)).toBe(false);
  const q = port(10);
  w.watch([q]);
  expect(w.hold(true)).toBe(true);
  expect(watcher.handlers.get(10)!.events).toBe(0);
  expect(w.hold(true)).toBe(false);
  w.hold(false);
  expect(watcher.handlers.get(10)!.events).not.toBe(0);
});
