import { expect, test } from "bun:test";
import { FunctionReadiness } from "./function-readiness.ts";

test("mark() records readiness per mount and tells listeners about changes only", () => {
  const r = new FunctionReadiness();
  const heard: [string, boolean][] = [];
  const off = r.onChange((p, ready) => heard.push([p, ready]));
  expect(r.ready("/dev/usb-ffs/a")).toBe(false);
  r.mark("/dev/usb-ffs/a", true);
  r.mark("/dev/usb-ffs/a", true); // no change, no call
  r.mark("/dev/usb-ffs/b", false); // no change, no call
  expect(r.ready("/dev/usb-ffs/a")).toBe(true);
  expect(r.ready("/dev/usb-ffs/b")).toBe(false);
  r.mark("/dev/usb-ffs/a", false);
  expect(r.ready("/dev/usb-ffs/a")).toBe(false);
  expect(heard).toEqual([
    ["/dev/usb-ffs/a", true],
    ["/dev/usb-ffs/a", false],
  ]);
  off();
  r.mark("/dev/usb-ffs/a", true);
  expect(heard.length).toBe(2);
});

test("instances are independent, and a listener may unsubscribe while being called", () => {
  const a = new FunctionReadiness();
  const b = new FunctionReadiness();
  a.mark("/m", true);
  expect(b.ready("/m")).toBe(false);
  let calls = 0;
  const off = a.onChange(() => {
    calls++;
    off();
  });
  let second = 0;
  a.onChange(() => second++);
  a.mark("/m", false);
  a.mark("/m", true);
  expect(calls).toBe(1);
  expect(second).toBe(2);
});
