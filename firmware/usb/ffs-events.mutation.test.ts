import { describe, expect, test } from "bun:test";
import { EVENT_SIZE, EVENT_TYPES, encodeControlRequest, type FunctionState, nextState, parseControlRequest, parseEvents } from "./ffs-events.ts";

describe("control requests", () => {
  test("parse every field, type and recipient", () => {
    const b = new Uint8Array([0x80, 6, 0x00, 0x02, 0x09, 0x04, 0xff, 0x00]);
    expect(parseControlRequest(b)).toEqual({
      bmRequestType: 0x80,
      bRequest: 6,
      wValue: 0x0200,
      wIndex: 0x0409,
      wLength: 0xff,
      direction: "in",
      type: "standard",
      recipient: "device",
      name: "GET_DESCRIPTOR",
    });
    expect(parseControlRequest(new Uint8Array([0x21, 9, 0, 0, 1, 0, 0, 0]))).toEqual({
      bmRequestType: 0x21,
      bRequest: 9,
      wValue: 0,
      wIndex: 1,
      wLength: 0,
      direction: "out",
      type: "class",
      recipient: "interface",
    });
    expect(parseControlRequest(new Uint8Array([0xc2, 1, 0, 0, 0, 0, 0, 0]))).toMatchObject({ type: "vendor", recipient: "endpoint", direction: "in" });
    expect(parseControlRequest(new Uint8Array([0x7f, 1, 0, 0, 0, 0, 0, 0]))).toMatchObject({ type: "reserved", recipient: "other", direction: "out" });
    expect(parseControlRequest(new Uint8Array([0x03, 1, 0, 0, 0, 0, 0, 0]))).toMatchObject({ recipient: "other" });
    // A standard request number without a name has no name.
    expect(parseControlRequest(new Uint8Array([0x00, 2, 0, 0, 0, 0, 0, 0])).name).toBeUndefined();
    expect(parseControlRequest(new Uint8Array([0x00, 0, 0, 0, 0, 0, 0, 0])).name).toBe("GET_STATUS");
  });

  test("every standard request's name", () => {
    const names: Record<number, string> = {
      0: "GET_STATUS",
      1: "CLEAR_FEATURE",
      3: "SET_FEATURE",
      5: "SET_ADDRESS",
      6: "GET_DESCRIPTOR",
      7: "SET_DESCRIPTOR",
      8: "GET_CONFIGURATION",
      9: "SET_CONFIGURATION",
      10: "GET_INTERFACE",
      11: "SET_INTERFACE",
      12: "SYNCH_FRAME",
    };
    for (let r = 0; r < 16; r++) {
      expect(parseControlRequest(new Uint8Array([0, r, 0, 0, 0, 0, 0, 0])).name).toBe(names[r]);
    }
    // Class requests get no name even when the number is a standard one.
    expect(parseControlRequest(new Uint8Array([0x20, 6, 0, 0, 0, 0, 0, 0])).name).toBeUndefined();
  });

  test("parse at an offset", () => {
    const b = new Uint8Array(20);
    b.set([0x01, 11, 1, 0, 2, 0, 0, 0], 12);
    expect(parseControlRequest(b, 12)).toMatchObject({ bRequest: 11, wValue: 1, wIndex: 2, recipient: "interface", name: "SET_INTERFACE" });
  });

  test("encode round-trips and defaults to zero", () => {
    const e = encodeControlRequest({ direction: "in", type: "vendor", recipient: "other", bRequest: 0x33, wValue: 0x1234, wIndex: 0x5678, wLength: 0x9abc });
    expect([...e]).toEqual([0x80 | (2 << 5) | 3, 0x33, 0x34, 0x12, 0x78, 0x56, 0xbc, 0x9a]);
    expect([...encodeControlRequest({ direction: "out", type: "class", recipient: "endpoint", bRequest: 1 })]).toEqual([0x22, 1, 0, 0, 0, 0, 0, 0]);
    expect(encodeControlRequest({ direction: "out", type: "reserved", recipient: "device", bRequest: 0 })[0]).toBe(0x60);
    expect(encodeControlRequest({ direction: "out", type: "standard", recipient: "interface", bRequest: 0 })[0]).toBe(0x01);
  });
});

describe("events", () => {
  test("each type, setup with its request, unknown codes kept", () => {
    const n = EVENT_TYPES.length + 1;
    const b = new Uint8Array(n * EVENT_SIZE);
    EVENT_TYPES.forEach((_, i) => {
      b[i * EVENT_SIZE + 8] = i;
    });
    b.set([0x80, 6, 0, 1, 0, 0, 18, 0], 4 * EVENT_SIZE);
    b[(n - 1) * EVENT_SIZE + 8] = 42;
    const ev = parseEvents(b);
    expect(ev.map((e) => e.type)).toEqual([...EVENT_TYPES, "unknown"]);
    expect(ev[4]).toMatchObject({ type: "setup", request: { name: "GET_DESCRIPTOR", wLength: 18 } });
    expect(ev[0]).toEqual({ type: "bind" });
    expect(ev[n - 1]).toEqual({ type: "unknown", code: 42 });
    expect(parseEvents(b, EVENT_SIZE)).toEqual([{ type: "bind" }]);
    expect(parseEvents(new Uint8Array(0))).toEqual([]);
    expect(() => parseEvents(new Uint8Array(13))).toThrow("ep0 read returned 13 bytes, not a multiple of 12");
  });

  test("state machine", () => {
    const all: FunctionState[] = ["unbound", "bound", "enabled", "suspended"];
    const table = {
      bind: ["bound", "bound", "enabled", "suspended"],
      unbind: ["unbound", "unbound", "unbound", "unbound"],
      enable: ["enabled", "enabled", "enabled", "enabled"],
      disable: ["unbound", "bound", "bound", "bound"],
      suspend: ["unbound", "bound", "suspended", "suspended"],
      resume: ["unbound", "bound", "enabled", "enabled"],
      setup: ["unbound", "bound", "enabled", "suspended"],
    } as const;
    for (const [e, want] of Object.entries(table)) {
      expect(all.map((s) => nextState(s, e as keyof typeof table))).toEqual([...want]);
    }
  });
});
